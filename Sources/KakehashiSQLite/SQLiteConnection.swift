import CSQLite

/// One connection to a SQLite database file, opened in SQLite's multi-thread mode
/// (`SQLITE_OPEN_NOMUTEX`): it may be used from any thread, by one at a time. It is `Sendable` so
/// that it can move between threads (a pool of readers, a store's writer); its owner serializes
/// use, by keeping it behind a `Mutex` or out of every pool while it is used.
///
/// ```swift
/// let db = try SQLiteConnection(path: "/var/lib/kakehashi/outbox.sqlite")
/// try db.execute("PRAGMA journal_mode=WAL")
/// try db.transaction { try insert.run() }
/// ```
public final class SQLiteConnection: @unchecked Sendable {
    let handle: OpaquePointer
    /// The database file.
    public let path: String

    /// Opens (creating if needed) the database at `path`.
    public init(path: String, readOnly: Bool = false) throws(SQLiteError) {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot allocate a connection"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: message, operation: "opening the database", path: path)
        }
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, 5000)
        self.handle = db
        self.path = path
    }

    deinit { sqlite3_close_v2(handle) }

    func error(_ rc: Int32, _ operation: String) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)), operation: operation, path: path)
    }

    /// Runs one or more statements that return no rows.
    public func execute(_ sql: String) throws(SQLiteError) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, "executing `\(sql)`") }
    }

    /// Compiles `sql` once for repeated use.
    public func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        try SQLiteStatement(connection: self, sql: sql)
    }

    /// The first column of the first row of `sql`, as an integer (nil when no row or NULL).
    public func scalar(_ sql: String) throws(SQLiteError) -> Int64? {
        let statement = try prepare(sql)
        guard try statement.step(), !statement.isNull(0) else { return nil }
        return statement.int64(0)
    }

    /// Runs `body` in one transaction (`BEGIN IMMEDIATE`), committed when it returns and rolled back
    /// when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Rows changed by the last statement.
    public var changes: Int { Int(sqlite3_changes64(handle)) }

    /// The rowid of the last insert.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// `PRAGMA user_version`: the schema version that migrations maintain.
    public var userVersion: Int {
        get throws(SQLiteError) { Int(try scalar("PRAGMA user_version") ?? 0) }
    }

    /// Applies the migrations after the current `user_version`, each in its own transaction, and
    /// sets `user_version` to the number applied in all. The version is read inside each
    /// transaction, so processes opening the same new file at once (the hub and its command
    /// line) apply each migration once.
    public func migrate(_ migrations: [String]) throws {
        while true {
            let done: Bool = try transaction {
                let current = try userVersion
                guard current <= migrations.count else {
                    throw SQLiteError(
                        code: 0,
                        message: "schema version \(current) is newer than this program knows (\(migrations.count))",
                        operation: "migrating",
                        path: path
                    )
                }
                guard current < migrations.count else { return true }
                try execute(migrations[current])
                try execute("PRAGMA user_version = \(current + 1)")
                return false
            }
            if done { return }
        }
    }
}
