/// A failed SQLite call: the result code, SQLite's message, what was being done and on which file.
///
/// Reads like GRDB's: `SQLite error 19: UNIQUE constraint failed: outbox.seq - while executing
/// `INSERT …` on /var/lib/kakehashi/outbox.sqlite`.
public struct SQLiteError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The (extended) result code.
    public let code: Int32
    /// SQLite's own explanation.
    public let message: String
    /// The statement or operation that failed.
    public let operation: String
    /// The database file.
    public let path: String

    public init(code: Int32, message: String, operation: String, path: String) {
        self.code = code
        self.message = message
        self.operation = operation
        self.path = path
    }

    /// Whether the database was busy or locked (worth retrying).
    public var isBusy: Bool { code & 0xFF == 5 || code & 0xFF == 6 }

    /// Whether the disk or the database is full.
    public var isFull: Bool { code & 0xFF == 13 }

    public var description: String {
        "SQLite error \(code): \(message) - while \(operation) on \(path)"
    }
}
