import Foundation

/// Tests that take a minute or more on their own (the fault suite, outages and restarts held for
/// real seconds, the storm through the live hub) run unless `KAKEHASHI_RUN_SLOW_TESTS=0`, which
/// `deploy/test --fast` sets for a quick round while working; CI and plain `deploy/test` run them all.
///
/// ```swift
/// @Suite(.enabled(if: SlowTests.enabled, "slow: deploy/test --fast skips it"))
/// ```
public enum SlowTests {
    /// Whether slow tests run in this process.
    public static let enabled = ProcessInfo.processInfo.environment["KAKEHASHI_RUN_SLOW_TESTS"] != "0"
}
