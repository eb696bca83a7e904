/// Polls `condition` every 20 ms until it holds, or throws once `timeout` has passed, naming
/// `what` was awaited: the way tests wait on a condition with a deadline instead of sleeping.
public func waitUntil(_ what: String, timeout: Duration, _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try !condition() {
        guard ContinuousClock.now < deadline else { throw TestSupportError("timed out after \(timeout) waiting until \(what)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}
