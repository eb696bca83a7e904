import CSQLite

/// A prepared statement. Bind parameters by 1-based index, `step()` through rows, `reset()` to reuse.
///
/// ```swift
/// let insert = try db.prepare("INSERT INTO outbox(priority, entity) VALUES (?, ?)")
/// try insert.bind(1, 3)
/// try insert.bind(2, bytes)
/// try insert.run()
/// ```
public final class SQLiteStatement {
    let handle: OpaquePointer
    let connection: SQLiteConnection
    /// The SQL text, for error messages.
    public let sql: String

    init(connection: SQLiteConnection, sql: String) throws(SQLiteError) {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(connection.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            throw connection.error(rc, "preparing `\(sql)`")
        }
        self.handle = statement
        self.connection = connection
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    /// Throws when binding parameter `index` failed. The message is built only then: binding is
    /// the innermost step of every insert.
    private func check(_ rc: Int32, binding index: Int32) throws(SQLiteError) {
        guard rc == SQLITE_OK else { throw connection.error(rc, "binding parameter \(index) of `\(sql)`") }
    }

    public func bind(_ index: Int32, _ value: Int64) throws(SQLiteError) {
        try check(sqlite3_bind_int64(handle, index, value), binding: index)
    }

    public func bind(_ index: Int32, _ value: Int) throws(SQLiteError) { try bind(index, Int64(value)) }

    public func bind(_ index: Int32, _ value: Double) throws(SQLiteError) {
        try check(sqlite3_bind_double(handle, index, value), binding: index)
    }

    public func bind(_ index: Int32, _ value: String?) throws(SQLiteError) {
        guard let value else { return try check(sqlite3_bind_null(handle, index), binding: index) }
        try check(sqlite3_bind_text(handle, index, value, -1, kk_sqlite_transient()), binding: index)
    }

    public func bind(_ index: Int32, _ value: some Collection<UInt8>) throws(SQLiteError) {
        let rc =
            value.withContiguousStorageIfAvailable { buffer in
                sqlite3_bind_blob64(handle, index, buffer.baseAddress, sqlite3_uint64(buffer.count), kk_sqlite_transient())
            }
            ?? Array(value).withUnsafeBufferPointer { buffer in
                sqlite3_bind_blob64(handle, index, buffer.baseAddress, sqlite3_uint64(buffer.count), kk_sqlite_transient())
            }
        try check(rc, binding: index)
    }

    /// Advances to the next row; `false` when done.
    @discardableResult
    public func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            sqlite3_reset(handle)
            throw connection.error(rc, "executing `\(sql)`")
        }
    }

    /// Steps to completion and resets, for statements that return no rows.
    public func run() throws(SQLiteError) {
        defer { reset() }
        while try step() {}
    }

    /// Makes the statement ready to run again and clears its bindings.
    public func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    public func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(handle, column)) }

    public func double(_ column: Int32) -> Double { sqlite3_column_double(handle, column) }

    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    public func string(_ column: Int32) -> String? {
        guard let text = sqlite3_column_text(handle, column) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    public func bytes(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(handle, column))
        guard count > 0, let pointer = sqlite3_column_blob(handle, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// Appends the column's bytes to `out` without an intermediate array.
    public func appendBytes(_ column: Int32, to out: inout [UInt8]) {
        let count = Int(sqlite3_column_bytes(handle, column))
        guard count > 0, let pointer = sqlite3_column_blob(handle, column) else { return }
        out.append(contentsOf: UnsafeRawBufferPointer(start: pointer, count: count))
    }
}
