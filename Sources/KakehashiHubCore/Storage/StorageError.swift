/// A storage failure: what was being done, on what, and why.
public struct StorageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was being done, e.g. `storing a batch of kurume/gw-01`.
    public let operation: String
    /// The underlying cause, e.g. `SQLite error 13: database or disk is full - … on /var/lib/hub.sqlite`.
    public let cause: String

    /// Creates an error.
    public init(_ operation: String, cause: String) {
        self.operation = operation
        self.cause = cause
    }

    public var description: String { "\(operation) failed: \(cause)" }
}
