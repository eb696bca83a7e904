import Foundation
import KakehashiSQLite
import Testing

@Suite struct SQLiteConnectionTests {
    func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("kk-sqlite-\(UUID().uuidString).sqlite").path
    }

    @Test func migrationsRunOnceAndRowsRoundTrip() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let migrations = ["CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, data BLOB, x REAL)", "CREATE INDEX t_name ON t(name)"]
        do {
            let db = try SQLiteConnection(path: path)
            try db.migrate(migrations)
            #expect(try db.userVersion == 2)
            let insert = try db.prepare("INSERT INTO t(name, data, x) VALUES (?, ?, ?)")
            try db.transaction {
                for i in 0..<3 {
                    try insert.bind(1, "n\(i)")
                    try insert.bind(2, [UInt8(i), 0xFF])
                    try insert.bind(3, Double(i) / 2)
                    try insert.run()
                }
            }
        }
        let db = try SQLiteConnection(path: path)
        try db.migrate(migrations)  // already applied: nothing happens
        let select = try db.prepare("SELECT name, data, x FROM t ORDER BY id")
        var rows = [(String?, [UInt8], Double)]()
        while try select.step() { rows.append((select.string(0), select.bytes(1), select.double(2))) }
        #expect(rows.map(\.0) == ["n0", "n1", "n2"])
        #expect(rows.map(\.1) == [[0, 0xFF], [1, 0xFF], [2, 0xFF]])
        #expect(rows.map(\.2) == [0, 0.5, 1])
    }

    @Test func errorsNameTheStatementAndTheFile() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try SQLiteConnection(path: path)
        try db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY)")
        try db.execute("INSERT INTO t VALUES (1)")
        #expect {
            try db.execute("INSERT INTO t VALUES (1)")
        } throws: { error in
            let text = String(describing: error)
            return text.contains("UNIQUE constraint failed: t.id") && text.contains("INSERT INTO t VALUES (1)") && text.contains(path)
                && text.hasPrefix("SQLite error 1555")
        }
    }

    @Test func aThrowingTransactionRollsBack() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try SQLiteConnection(path: path)
        try db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY)")
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try db.transaction {
                try db.execute("INSERT INTO t VALUES (7)")
                throw Stop()
            }
        }
        #expect(try db.scalar("SELECT count(*) FROM t") == 0)
    }
}
