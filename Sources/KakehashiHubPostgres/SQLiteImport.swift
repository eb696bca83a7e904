import Foundation
import KakehashiHubCore
import KakehashiSQLite
import Logging
import PostgresNIO

/// Moves a SQLite hub's whole history into PostgreSQL (`kakehashi-hub copy`): series, readings,
/// rollups, entities, gateways' progress, dead letters, alerts and their events, tenants,
/// gateways, keys and grants. Into an empty database or one other cities already use (series
/// are matched by tenant, entity and attribute, not by number).
///
/// Resumable: readings go series by series in time order, and how far each series got is kept
/// in the target (`kakehashi_copy`), so a copy stopped half-way goes on from there; every other
/// table is written with conflicts ignored or replaced by the source's row, so writing it again
/// changes nothing. At the end the counts are compared (``Verification``).
public struct SQLiteImport: Sendable {
    /// What was copied so far.
    public struct Progress: Sendable {
        public var readings: Int
        public var totalReadings: Int
        public var step: String
    }

    /// Source and target counts of one table, for what was copied.
    public struct Count: Sendable, Hashable {
        public let table: String
        public let source: Int
        public let target: Int
        public var matches: Bool { source == target }
    }

    let source: String
    let target: PostgresStore
    let logger: Logger
    /// Readings per insert.
    let chunk: Int

    public init(source path: String, target: PostgresStore, chunk: Int = 5000, logger: Logger) {
        self.source = path
        self.target = target
        self.chunk = max(1, chunk)
        self.logger = logger
    }

    /// Copies everything, calling `progress` as readings go; then verifies the counts.
    public func run(progress: @Sendable (Progress) -> Void) async throws -> [Count] {
        let db: SQLiteConnection
        do { db = try SQLiteConnection(path: source, readOnly: true) } catch {
            throw StorageError("opening \(source)", cause: "\(error)")
        }
        let key = URL(fileURLWithPath: source).standardizedFileURL.path
        try await target.client.query(
            "CREATE TABLE IF NOT EXISTS kakehashi_copy(source text NOT NULL, item text NOT NULL, mark bigint NOT NULL, PRIMARY KEY(source, item))",
            logger: logger
        )
        let total = Int(try db.scalar("SELECT count(*) FROM observations") ?? 0)
        var report = Progress(readings: 0, totalReadings: total, step: "series")
        progress(report)

        // Series (matched by tenant, entity and attribute), then each one's readings and rollups.
        var seriesRows = [(id: Int64, tenant: String, entity: String, type: String, attribute: String, kind: Int16, unit: String?)]()
        let series = try db.prepare("SELECT id, tenant, entity, type, attribute, kind, unit FROM series ORDER BY id")
        while try series.step() {
            seriesRows.append(
                (
                    series.int64(0), series.string(1) ?? "", series.string(2) ?? "", series.string(3) ?? "", series.string(4) ?? "",
                    Int16(series.int(5)), series.string(6)
                )
            )
        }
        let marks = try await self.marks(key)
        for row in seriesRows {
            let targetID = try await target.client.withConnection { connection in
                try await connection.query(
                    """
                    INSERT INTO series(tenant, entity, type, attribute, kind, unit) VALUES (\(row.tenant), \(row.entity), \(row.type), \(row.attribute),
                      \(row.kind), \(row.unit)) ON CONFLICT (tenant, entity, attribute) DO NOTHING
                    """,
                    logger: logger
                )
                let rows = try await connection.query(
                    "SELECT id FROM series WHERE tenant = \(row.tenant) AND entity = \(row.entity) AND attribute = \(row.attribute)",
                    logger: logger
                )
                for try await (id, ) in rows.decode((Int64,).self) { return id }
                throw PostgresStoreError("series \(row.entity)/\(row.attribute) was not made")
            }
            report.step = "readings"
            let done = marks["series:\(row.id)"]
            if let done {
                report.readings += Int(try db.scalar("SELECT count(*) FROM observations WHERE series = \(row.id) AND t <= \(done)") ?? 0)
            }
            let readings = try db.prepare("SELECT t, num, txt, received FROM observations WHERE series = ? AND t > ? ORDER BY t")
            try readings.bind(1, row.id)
            try readings.bind(2, done ?? Int64.min)
            var times = [Int64](), numbers = [Double](), nulls = [Bool](), texts = [String](), textNulls = [Bool](), received = [Int64]()
            func flush() async throws {
                guard !times.isEmpty else { return }
                try await target.ensurePartitions(for: times)
                let last = times.last!
                try await target.client.withTransaction(logger: logger) { connection in
                    try await connection.query(
                        """
                        INSERT INTO observations(series, t, num, txt, received)
                        SELECT \(targetID), t, CASE WHEN nn THEN NULL ELSE n END, CASE WHEN xn THEN NULL ELSE x END, r
                        FROM unnest(\(times)::int8[], \(numbers)::float8[], \(nulls)::bool[], \(texts)::text[], \(textNulls)::bool[], \(received)::int8[])
                          AS u(t, n, nn, x, xn, r)
                        ON CONFLICT (series, t) DO NOTHING
                        """,
                        logger: logger
                    )
                    try await connection.query(
                        """
                        INSERT INTO kakehashi_copy VALUES (\(key), \("series:\(row.id)"), \(last))
                        ON CONFLICT (source, item) DO UPDATE SET mark = excluded.mark
                        """,
                        logger: logger
                    )
                }
                report.readings += times.count
                progress(report)
                times.removeAll(keepingCapacity: true)
                numbers.removeAll(keepingCapacity: true)
                nulls.removeAll(keepingCapacity: true)
                texts.removeAll(keepingCapacity: true)
                textNulls.removeAll(keepingCapacity: true)
                received.removeAll(keepingCapacity: true)
            }
            while try readings.step() {
                times.append(readings.int64(0))
                nulls.append(readings.isNull(1))
                numbers.append(readings.isNull(1) ? 0 : readings.double(1))
                textNulls.append(readings.isNull(2))
                texts.append(readings.string(2) ?? "")
                received.append(readings.int64(3))
                if times.count >= chunk { try await flush() }
            }
            try await flush()
            // Rollups: the source's rows replace the target's (the same rows again change nothing).
            var resolutions = [Int64](), buckets = [Int64](), counts = [Int64](), minimums = [Double](), maximums = [Double](), sums = [Double]()
            let rollups = try db.prepare("SELECT resolution, bucket, n, mn, mx, sm FROM rollups WHERE series = ?")
            try rollups.bind(1, row.id)
            while try rollups.step() {
                resolutions.append(rollups.int64(0))
                buckets.append(rollups.int64(1))
                counts.append(rollups.int64(2))
                minimums.append(rollups.double(3))
                maximums.append(rollups.double(4))
                sums.append(rollups.double(5))
            }
            if !buckets.isEmpty {
                try await target.client.query(
                    """
                    INSERT INTO rollups(series, resolution, bucket, n, mn, mx, sm)
                    SELECT \(targetID), * FROM unnest(\(resolutions)::int8[], \(buckets)::int8[], \(counts)::int8[], \(minimums)::float8[],
                      \(maximums)::float8[], \(sums)::float8[])
                    ON CONFLICT (series, resolution, bucket) DO UPDATE SET n = excluded.n, mn = excluded.mn, mx = excluded.mx, sm = excluded.sm
                    """,
                    logger: logger
                )
            }
        }

        report.step = "entities, alerts and access"
        progress(report)
        try await copyEntities(db)
        try await copyAlerts(db)
        try await copyAccess(db, key: key)
        try await copyDeadLetters(db, key: key)
        report.step = "verifying"
        progress(report)
        return try await verify(db)
    }

    private func marks(_ key: String) async throws -> [String: Int64] {
        try await target.client.withConnection { connection in
            var marks = [String: Int64]()
            let rows = try await connection.query("SELECT item, mark FROM kakehashi_copy WHERE source = \(key)", logger: logger)
            for try await (item, mark) in rows.decode((String, Int64).self) { marks[item] = mark }
            return marks
        }
    }

    private func copyEntities(_ db: SQLiteConnection) async throws {
        let rows = try db.prepare("SELECT tenant, id, type, body, latitude, longitude, modified, created FROM entities")
        while try rows.step() {
            let (tenant, id, type) = (rows.string(0) ?? "", rows.string(1) ?? "", rows.string(2) ?? "")
            let body = String(decoding: rows.bytes(3), as: UTF8.self)
            let latitude: Double? = rows.isNull(4) ? nil : rows.double(4)
            let longitude: Double? = rows.isNull(5) ? nil : rows.double(5)
            let modified = rows.int64(6)
            let created: Int64? = rows.isNull(7) ? nil : rows.int64(7)
            try await target.client.query(
                """
                INSERT INTO entities(tenant, id, type, body, latitude, longitude, created, modified)
                VALUES (\(tenant), \(id), \(type), \(body), \(latitude), \(longitude), \(created), \(modified))
                ON CONFLICT (tenant, id) DO UPDATE SET body = excluded.body, latitude = excluded.latitude, longitude = excluded.longitude,
                  created = excluded.created, modified = excluded.modified
                """,
                logger: logger
            )
        }
        let gateways = try db.prepare("SELECT tenant, gateway, last_sequence, batches, last_seen FROM gateways")
        while try gateways.step() {
            try await target.client.query(
                """
                INSERT INTO gateways(tenant, gateway, last_sequence, batches, last_seen)
                VALUES (\(gateways.string(0) ?? ""), \(gateways.string(1) ?? ""), \(gateways.int64(2)), \(gateways.int64(3)), \(gateways.int64(4)))
                ON CONFLICT (tenant, gateway) DO UPDATE SET last_sequence = greatest(gateways.last_sequence, excluded.last_sequence),
                  batches = greatest(gateways.batches, excluded.batches), last_seen = greatest(gateways.last_seen, excluded.last_seen)
                """,
                logger: logger
            )
        }
    }

    private func copyAlerts(_ db: SQLiteConnection) async throws {
        func optionalDouble(_ statement: SQLiteStatement, _ column: Int32) -> Double? { statement.isNull(column) ? nil : statement.double(column) }
        func optionalInt(_ statement: SQLiteStatement, _ column: Int32) -> Int64? { statement.isNull(column) ? nil : statement.int64(column) }
        let alerts = try db.prepare(
            """
            SELECT tenant, id, rule, entity, entity_type, stage, stage_name, severity, value, level, raised, updated, cleared, latitude, longitude,
              acknowledged_by, acknowledged, last_change, last_kind FROM alerts
            """
        )
        while try alerts.step() {
            let a = alerts
            try await target.client.query(
                """
                INSERT INTO alerts(tenant, id, rule, entity, entity_type, stage, stage_name, severity, value, level, raised, updated, cleared,
                  latitude, longitude, acknowledged_by, acknowledged, last_change, last_kind)
                VALUES (\(a.string(0) ?? ""), \(a.int64(1)), \(a.string(2) ?? ""), \(a.string(3) ?? ""), \(a.string(4)), \(a.int(5)), \(a.string(6)),
                  \(a.string(7)), \(optionalDouble(a, 8)), \(optionalDouble(a, 9)), \(a.int64(10)), \(a.int64(11)), \(optionalInt(a, 12)),
                  \(optionalDouble(a, 13)), \(optionalDouble(a, 14)), \(a.string(15)), \(optionalInt(a, 16)), \(a.int64(17)), \(a.string(18) ?? "raised"))
                ON CONFLICT (tenant, id) DO NOTHING
                """,
                logger: logger
            )
        }
        let events = try db.prepare(
            """
            SELECT tenant, id, alert, kind, rule, entity, entity_type, stage, stage_name, severity, value, level, at, latitude, longitude, actor,
              late, last_reading FROM alert_events
            """
        )
        while try events.step() {
            let e = events
            try await target.client.query(
                """
                INSERT INTO alert_events(tenant, id, alert, kind, rule, entity, entity_type, stage, stage_name, severity, value, level, at,
                  latitude, longitude, actor, late, last_reading)
                VALUES (\(e.string(0) ?? ""), \(e.int64(1)), \(e.int64(2)), \(e.string(3) ?? ""), \(e.string(4) ?? ""), \(e.string(5) ?? ""),
                  \(e.string(6)), \(e.int(7)), \(e.string(8)), \(e.string(9)), \(optionalDouble(e, 10)), \(optionalDouble(e, 11)), \(e.int64(12)),
                  \(optionalDouble(e, 13)), \(optionalDouble(e, 14)), \(e.string(15)), \(e.int(16) != 0), \(optionalInt(e, 17)))
                ON CONFLICT (tenant, id) DO NOTHING
                """,
                logger: logger
            )
        }
        // Each tenant's next event id follows the copied ones.
        try await target.client.query(
            """
            INSERT INTO alert_event_counters(tenant, last) SELECT tenant, max(id) FROM alert_events GROUP BY tenant
            ON CONFLICT (tenant) DO UPDATE SET last = greatest(alert_event_counters.last, excluded.last)
            """,
            logger: logger
        )
    }

    private func copyAccess(_ db: SQLiteConnection, key: String) async throws {
        let tenants = try db.prepare("SELECT name, display, created FROM access_tenants")
        while try tenants.step() {
            try await target.client.query(
                """
                INSERT INTO access_tenants(name, display, created) VALUES (\(tenants.string(0) ?? ""), \(tenants.string(1)), \(tenants.int64(2)))
                ON CONFLICT (name) DO NOTHING
                """,
                logger: logger
            )
        }
        let gateways = try db.prepare("SELECT tenant, gateway, created FROM access_gateways")
        while try gateways.step() {
            try await target.client.query(
                """
                INSERT INTO access_gateways(tenant, gateway, created) VALUES (\(gateways.string(0) ?? ""), \(gateways.string(1) ?? ""), \(gateways.int64(2)))
                ON CONFLICT DO NOTHING
                """,
                logger: logger
            )
        }
        let keys = try db.prepare("SELECT id, tenant, role, label, salt, hash, created, expires, revoked FROM access_keys")
        while try keys.step() {
            let k = keys
            try await target.client.query(
                """
                INSERT INTO access_keys(id, tenant, role, label, salt, hash, created, expires, revoked)
                VALUES (\(k.string(0) ?? ""), \(k.string(1) ?? ""), \(k.string(2) ?? ""), \(k.string(3)), \(ByteBuffer(bytes: k.bytes(4))),
                  \(ByteBuffer(bytes: k.bytes(5))), \(k.int64(6)), \(k.isNull(7) ? nil : k.int64(7)), \(k.isNull(8) ? nil : k.int64(8)))
                ON CONFLICT (id) DO UPDATE SET revoked = coalesce(access_keys.revoked, excluded.revoked)
                """,
                logger: logger
            )
        }
        // Grants have no natural key: copied once (marked), with their own ids when free.
        if try await marks(key)["grants"] == nil {
            let grants = try db.prepare("SELECT owner, grantee, type, area, precision, created, revoked FROM access_grants ORDER BY id")
            try await target.client.withTransaction(logger: logger) { connection in
                while try grants.step() {
                    let g = grants
                    try await connection.query(
                        """
                        INSERT INTO access_grants(owner, grantee, type, area, precision, created, revoked)
                        VALUES (\(g.string(0) ?? ""), \(g.string(1) ?? ""), \(g.string(2) ?? ""), \(g.string(3)), \(g.string(4) ?? "full"), \(g.int64(5)),
                          \(g.isNull(6) ? nil : g.int64(6)))
                        """,
                        logger: logger
                    )
                }
                try await connection.query("INSERT INTO kakehashi_copy VALUES (\(key), 'grants', 1) ON CONFLICT DO NOTHING", logger: logger)
            }
        }
        try await target.client.query("UPDATE access_version SET version = version + 1", logger: logger)
    }

    private func copyDeadLetters(_ db: SQLiteConnection, key: String) async throws {
        guard try await marks(key)["deadletters"] == nil else { return }
        let letters = try db.prepare("SELECT received, source, tenant, reason, detail, payload, size FROM deadletters ORDER BY id")
        try await target.client.withTransaction(logger: logger) { connection in
            while try letters.step() {
                let l = letters
                try await connection.query(
                    """
                    INSERT INTO deadletters(received, source, tenant, reason, detail, payload, size)
                    VALUES (\(l.int64(0)), \(l.string(1) ?? ""), \(l.string(2)), \(l.string(3) ?? ""), \(l.string(4) ?? ""), \(ByteBuffer(bytes: l.bytes(5))),
                      \(l.int64(6)))
                    """,
                    logger: logger
                )
            }
            try await connection.query("INSERT INTO kakehashi_copy VALUES (\(key), 'deadletters', 1) ON CONFLICT DO NOTHING", logger: logger)
        }
    }

    /// How many of the source's rows are in the target, table by table: each reading by its
    /// series' names and time, each entity, alert and event by its key (the target may hold
    /// other cities' rows, and what its hubs stored since).
    private func verify(_ db: SQLiteConnection) async throws -> [Count] {
        var counts = [Count]()
        var sourceReadings = 0, targetReadings = 0
        let series = try db.prepare("SELECT id, tenant, entity, attribute FROM series ORDER BY id")
        var seriesRows = [(id: Int64, tenant: String, entity: String, attribute: String)]()
        while try series.step() { seriesRows.append((series.int64(0), series.string(1) ?? "", series.string(2) ?? "", series.string(3) ?? "")) }
        for row in seriesRows {
            let times = try db.prepare("SELECT t FROM observations WHERE series = ? ORDER BY t")
            try times.bind(1, row.id)
            var chunk = [Int64]()
            func count() async throws {
                guard !chunk.isEmpty else { return }
                sourceReadings += chunk.count
                let rows = try await target.client.query(
                    """
                    SELECT count(*) FROM observations o JOIN series s ON s.id = o.series
                    WHERE s.tenant = \(row.tenant) AND s.entity = \(row.entity) AND s.attribute = \(row.attribute) AND o.t = ANY(\(chunk)::int8[])
                    """,
                    logger: logger
                )
                for try await (found, ) in rows.decode((Int,).self) { targetReadings += found }
                chunk.removeAll(keepingCapacity: true)
            }
            while try times.step() {
                chunk.append(times.int64(0))
                if chunk.count >= 10_000 { try await count() }
            }
            try await count()
        }
        counts.append(Count(table: "readings", source: sourceReadings, target: targetReadings))
        for (table, sql, key) in [
            ("entities", "SELECT tenant, id FROM entities", "JOIN entities t ON t.tenant = u.a AND t.id = u.b"),
            ("alerts", "SELECT tenant, CAST(id AS TEXT) FROM alerts", "JOIN alerts t ON t.tenant = u.a AND t.id = u.b::int8"),
            ("alert events", "SELECT tenant, CAST(id AS TEXT) FROM alert_events", "JOIN alert_events t ON t.tenant = u.a AND t.id = u.b::int8"),
            ("keys", "SELECT id, id FROM access_keys", "JOIN access_keys t ON t.id = u.a"),
        ] {
            let statement = try db.prepare(sql)
            var first = [String](), second = [String]()
            while try statement.step() {
                first.append(statement.string(0) ?? "")
                second.append(statement.string(1) ?? "")
            }
            var found = 0
            let rows = try await target.client.query(
                PostgresQuery(unsafeSQL: "SELECT count(*) FROM unnest($1::text[], $2::text[]) AS u(a, b) \(key)", binds: Self.binds(first, second)),
                logger: logger
            )
            for try await (count, ) in rows.decode((Int,).self) { found = count }
            counts.append(Count(table: table, source: first.count, target: found))
        }
        return counts
    }

    private static func binds(_ first: [String], _ second: [String]) -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(first, context: .default)
        binds.append(second, context: .default)
        return binds
    }

    private static func strings(_ db: SQLiteConnection, _ sql: String) throws -> [String] {
        let statement = try db.prepare(sql)
        var result = [String]()
        while try statement.step() { result.append(statement.string(0) ?? "") }
        return result
    }
}
