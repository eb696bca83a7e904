/// Polls `condition` every 20 ms until it holds, or throws once the deadline has passed, naming
/// `what` was awaited: the way tests wait on a condition with a deadline instead of sleeping.
///
/// The deadline only bounds a failure; it never measures speed. On a loaded machine (the whole
/// suite in parallel on two cores, with PostgreSQL and brokers running) a few seconds is not
/// enough for a hub to open a feed, so no deadline is shorter than `minimumFailureBound`.
public func waitUntil(_ what: String, timeout: Duration, _ condition: () throws -> Bool) async throws {
    let bound = max(timeout, minimumFailureBound)
    let deadline = ContinuousClock.now + bound
    while try !condition() {
        guard ContinuousClock.now < deadline else { throw TestSupportError("timed out after \(bound) waiting until \(what)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// The shortest time a test waits for a condition before calling it failed.
public let minimumFailureBound: Duration = .seconds(120)

/// ``waitUntil(_:timeout:_:)`` for a condition that must await (an HTTP request, a query).
public func waitFor(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws {
    let bound = max(timeout, minimumFailureBound)
    let deadline = ContinuousClock.now + bound
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TestSupportError("timed out after \(bound) waiting until \(what)") }
        try await Task.sleep(for: .milliseconds(100))
    }
}
