import KakehashiSQLite

/// The outbox could not do something: what, on which file, and SQLite's reason.
public struct OutboxError: Error, Sendable, CustomStringConvertible {
    public let operation: String
    public let underlying: SQLiteError

    init(_ operation: String, _ underlying: SQLiteError) {
        self.operation = operation
        self.underlying = underlying
    }

    public var description: String { "outbox: cannot \(operation): \(underlying)" }
}
