import Foundation
import KakehashiHubCore
import KakehashiHubPostgres
import KakehashiHubTestSupport
import KakehashiModel
import KakehashiSQLite
import KakehashiTestSupport
import Logging
import Testing

@testable import KakehashiHubSQLite

/// The behaviour every ``ObservationStore`` implementation must have. Each check takes a fresh,
/// empty store; `SQLiteStoreConformanceTests` runs them against SQLite (and a PostgreSQL run
/// will call the same checks).
enum StoreConformance {
    static func exactlyOnce(_ store: some ObservationStore) async throws {
        let readings = (0..<10).map { Readings.level("g1", 1.0 + Double($0) / 10, minutes: Int64($0)) }
        let first = try await store.ingest(Readings.batch(readings))
        #expect(first.stored == 10 && first.duplicates == 0)
        #expect(first.created == [Readings.gauge("g1")])
        for _ in 0..<2 {
            let again = try await store.ingest(Readings.batch(readings))
            #expect(again.stored == 0 && again.duplicates == 10)
        }
        // Overlapping: 5 old, 5 new.
        let overlap = (5..<15).map { Readings.level("g1", 1.0 + Double($0) / 10, minutes: Int64($0)) }
        let third = try await store.ingest(Readings.batch(overlap))
        #expect(third.stored == 5 && third.duplicates == 5)
        let values = try await store.observations(
            tenant: Readings.kurume,
            entity: Readings.gauge("g1"),
            attribute: "waterLevel",
            range: .all,
            lastN: nil,
            limit: 1000
        )
        #expect(values.count == 15)
        #expect(values.map(\.observedAt) == (0..<15).map { Readings.t0.advanced(byMilliseconds: Int64($0) * 60_000) })
        // Rollups count each reading once, whatever the redeliveries.
        let hour = try await store.rollups(
            tenant: Readings.kurume,
            entity: Readings.gauge("g1"),
            attribute: "waterLevel",
            resolution: .hour,
            range: .all
        )
        #expect(hour.count == 1)
        #expect(hour.first?.aggregate.count == 15)
        var expectedSum = 0.0
        for i in 0..<15 { expectedSum += 1.0 + Double(i) / 10 }
        let sum = hour.first?.aggregate.sum ?? 0
        #expect(abs(sum - expectedSum) < 1e-9)
        #expect(hour.first?.aggregate.min == 1.0)
        #expect(hour.first?.aggregate.max == 2.4)
        let minutes = try await store.rollups(
            tenant: Readings.kurume,
            entity: Readings.gauge("g1"),
            attribute: "waterLevel",
            resolution: .minute,
            range: .all
        )
        #expect(minutes.count == 15 && minutes.allSatisfy { $0.aggregate.count == 1 })
    }

    /// Batches stored all at once (a store may write those waiting together) leave exactly what
    /// the same batches stored one by one leave: results, latest states, observations, rollups.
    static func concurrentBatchesMatchOneByOne(_ together: some ObservationStore, _ oneByOne: some ObservationStore) async throws {
        // 24 batches over 6 gauges of two tenants: overlapping, late readings, redeliveries.
        func batch(_ b: Int) -> IngestBatch {
            let tenant = b % 3 == 0 ? Readings.omuta : Readings.kurume
            let minutes = Int64((b * 7) % 40)
            return Readings.batch(
                (0..<6).map { g in
                    Readings.level("c\(g)", Double(b) + Double(g) / 10, minutes: minutes + Int64(g % 2), tenant: tenant)
                },
                tenant: tenant
            )
        }
        let batches = (0..<24).map(batch) + (0..<4).map(batch)
        var sequential = [IngestResult]()
        for b in batches { sequential.append(try await oneByOne.ingest(b)) }
        let concurrent = try await withThrowingTaskGroup(of: (Int, IngestResult).self) { group in
            for (i, b) in batches.enumerated() { group.addTask { (i, try await together.ingest(b)) } }
            var results = [IngestResult](repeating: IngestResult(), count: batches.count)
            for try await (i, result) in group { results[i] = result }
            return results
        }
        #expect(concurrent.map(\.stored).reduce(0, +) == sequential.map(\.stored).reduce(0, +))
        #expect(concurrent.map(\.duplicates).reduce(0, +) == sequential.map(\.duplicates).reduce(0, +))
        #expect(Set(concurrent.flatMap(\.created)) == Set(sequential.flatMap(\.created)))
        for tenant in [Readings.kurume, Readings.omuta] {
            let a = try await together.entities(tenant: tenant, types: nil, ids: nil).sorted { $0.id.rawValue < $1.id.rawValue }
            let b = try await oneByOne.entities(tenant: tenant, types: nil, ids: nil).sorted { $0.id.rawValue < $1.id.rawValue }
            #expect(a == b && a.count == 6)
            for g in 0..<6 {
                let id = Readings.gauge("c\(g)", tenant: tenant)
                #expect(
                    try await together.observations(tenant: tenant, entity: id, attribute: "waterLevel", range: .all, lastN: nil, limit: 1000)
                        == oneByOne.observations(tenant: tenant, entity: id, attribute: "waterLevel", range: .all, lastN: nil, limit: 1000)
                )
                // Sums added in another order may differ in the last bits.
                let x = try await together.rollups(tenant: tenant, entity: id, attribute: "waterLevel", resolution: .hour, range: .all)
                let y = try await oneByOne.rollups(tenant: tenant, entity: id, attribute: "waterLevel", resolution: .hour, range: .all)
                #expect(x.map(\.start) == y.map(\.start))
                for (p, q) in zip(x, y) {
                    #expect(p.aggregate.count == q.aggregate.count && p.aggregate.min == q.aggregate.min && p.aggregate.max == q.aggregate.max)
                    #expect(abs(p.aggregate.sum - q.aggregate.sum) < 1e-9, "\(p.aggregate) vs \(q.aggregate)")
                }
            }
        }
    }

    static func latestStateMerges(_ store: some ObservationStore) async throws {
        _ = try await store.ingest(Readings.batch([Readings.level("g2", 2.0, minutes: 10)]))
        // A late reading (older observedAt) is stored in the series but does not hide the newer value.
        let late = try await store.ingest(Readings.batch([Readings.level("g2", 1.5, minutes: 5)]))
        #expect(late.stored == 1 && late.updated == [Readings.gauge("g2")])
        let entity = try #require(try await store.entity(tenant: Readings.kurume, id: Readings.gauge("g2")))
        guard case .property(let level)? = entity.attributes["waterLevel"] else { Issue.record("no waterLevel"); return }
        #expect(level.value == .number(2.0))
        #expect(level.unitCode == .metre)
        #expect(entity.attributes["name"] != nil)
        #expect((try? entity.location()) == (try GeoPoint(latitude: 33.3, longitude: 130.5)))
        let series = try await store.series(tenant: Readings.kurume, entity: Readings.gauge("g2"))
        #expect(series == [SeriesInfo(attribute: "waterLevel", unitCode: .metre, numeric: true, entityType: "WaterObserved")])
    }

    /// A history deleted goes with its rollups; a reading stored again after starts a series anew.
    static func historyIsRemoved(_ store: some ObservationStore) async throws {
        _ = try await store.ingest(Readings.batch([Readings.level("h", 1.0, minutes: 0), Readings.level("h", 1.1, minutes: 1)]))
        _ = try await store.ingest(Readings.batch([Readings.level("h", 2.0, minutes: 0, tenant: Readings.omuta)], tenant: Readings.omuta))
        let gauge = Readings.gauge("h")
        #expect(try await store.removeHistory(tenant: Readings.kurume, id: gauge, attributes: ["nothing"]) == nil)
        #expect(try await store.removeHistory(tenant: Readings.kurume, id: gauge, attributes: ["waterLevel"]) == 2)
        #expect(try await store.series(tenant: Readings.kurume, entity: gauge).isEmpty)
        let hourly = try await store.rollups(
            tenant: Readings.kurume,
            entity: gauge,
            attribute: "waterLevel",
            resolution: .hour,
            range: .all
        )
        #expect(hourly.isEmpty)
        // The other tenant's entity of the same id keeps its own.
        #expect(try await store.series(tenant: Readings.omuta, entity: Readings.gauge("h", tenant: Readings.omuta)).count == 1)
        let again = try await store.ingest(Readings.batch([Readings.level("h", 1.0, minutes: 0)]))
        #expect(again.stored == 1)
        let values = try await store.observations(tenant: Readings.kurume, entity: gauge, attribute: "waterLevel", range: .all, lastN: nil, limit: 10)
        #expect(values.map(\.value) == [.number(1.0)])
    }

    static func tenantsAreSeparate(_ store: some ObservationStore) async throws {
        _ = try await store.ingest(Readings.batch([Readings.level("same", 1, minutes: 0)], tenant: Readings.kurume))
        _ = try await store.ingest(Readings.batch([Readings.level("same", 9, minutes: 0, tenant: Readings.omuta)], tenant: Readings.omuta))
        let kurume = try await store.entities(tenant: Readings.kurume, types: nil, ids: nil)
        let omuta = try await store.entities(tenant: Readings.omuta, types: ["WaterObserved"], ids: nil)
        #expect(kurume.map(\.id) == [Readings.gauge("same")])
        #expect(omuta.map(\.id) == [Readings.gauge("same", tenant: Readings.omuta)])
        // Asking tenant kurume for omuta's entity finds nothing.
        #expect(try await store.entity(tenant: Readings.kurume, id: Readings.gauge("same", tenant: Readings.omuta)) == nil)
        let crossIDs = try await store.entities(tenant: Readings.kurume, types: nil, ids: [Readings.gauge("same", tenant: Readings.omuta)])
        #expect(crossIDs.isEmpty)
        let crossSeries = try await store.observations(
            tenant: Readings.kurume,
            entity: Readings.gauge("same", tenant: Readings.omuta),
            attribute: "waterLevel",
            range: .all,
            lastN: nil,
            limit: 10
        )
        #expect(crossSeries.isEmpty)
    }

    static func rangesAndLastN(_ store: some ObservationStore) async throws {
        _ = try await store.ingest(Readings.batch((0..<120).map { Readings.level("g3", Double($0), minutes: Int64($0)) }))
        let id = Readings.gauge("g3")
        let window = TimeRange(from: Readings.t0.advanced(byMilliseconds: 30 * 60_000), to: Readings.t0.advanced(byMilliseconds: 40 * 60_000))
        let inWindow = try await store.observations(
            tenant: Readings.kurume,
            entity: id,
            attribute: "waterLevel",
            range: window,
            lastN: nil,
            limit: 1000
        )
        #expect(inWindow.map(\.value) == (30..<40).map { PropertyValue.number(Double($0)) })
        let last3 = try await store.observations(tenant: Readings.kurume, entity: id, attribute: "waterLevel", range: .all, lastN: 3, limit: 1000)
        #expect(last3.map(\.value) == [.number(117), .number(118), .number(119)])
        let limited = try await store.observations(tenant: Readings.kurume, entity: id, attribute: "waterLevel", range: .all, lastN: nil, limit: 7)
        #expect(limited.count == 7 && limited.first?.value == .number(0))
        let hours = try await store.rollups(tenant: Readings.kurume, entity: id, attribute: "waterLevel", resolution: .hour, range: .all)
        #expect(hours.map(\.aggregate.count) == [60, 60])
        let sums: [Double] = [1770, 5370]
        #expect(hours.map(\.aggregate.sum) == sums)
    }

    static func textAndBooleanSeries(_ store: some ObservationStore) async throws {
        let at = Readings.t0
        let entity = Readings.level(
            "g4",
            1,
            minutes: 0,
            extra: [
                "floodLevelStatus": .property(NGSIProperty(.text("warning"), observedAt: at)),
                "congested": .property(NGSIProperty(.boolean(true), observedAt: at)),
            ]
        )
        _ = try await store.ingest(Readings.batch([entity]))
        let id = Readings.gauge("g4")
        let status = try await store.observations(
            tenant: Readings.kurume,
            entity: id,
            attribute: "floodLevelStatus",
            range: .all,
            lastN: nil,
            limit: 10
        )
        let congested = try await store.observations(tenant: Readings.kurume, entity: id, attribute: "congested", range: .all, lastN: nil, limit: 10)
        #expect(status.map(\.value) == [.text("warning")])
        #expect(congested.map(\.value) == [.boolean(true)])
        #expect(try await store.rollups(tenant: Readings.kurume, entity: id, attribute: "floodLevelStatus", resolution: .hour, range: .all).isEmpty)
    }

    static func deadLettersAreBounded(_ store: some ObservationStore, limit: Int) async throws {
        for i in 0..<(limit + 3) {
            try await store.recordDeadLetter(
                HubDeadLetter(
                    receivedAt: Readings.t0,
                    source: "kakehashi/v1/kurume/gw-01/obs",
                    tenant: "kurume",
                    reason: "invalid_batch",
                    detail: "case \(i)",
                    payload: Array(repeating: 0x41, count: 10_000),
                    size: 10_000
                )
            )
        }
        let letters = try await store.deadLetters(limit: 1000)
        #expect(letters.count == limit)
        #expect(letters.first?.detail == "case \(limit + 2)")
        #expect(letters.first?.payload.count == 10_000 && letters.first?.size == 10_000, "kept whole, so it can be ingested again")
    }

    static func retention(_ store: some ObservationStore) async throws {
        // Two days of hourly readings for a gauge and a BLE device.
        let gauges = (0..<48).map { Readings.level("g5", Double($0), minutes: Int64($0) * 60) }
        _ = try await store.ingest(Readings.batch(gauges))
        let now = Readings.t0.advanced(byMilliseconds: 48 * 3_600_000)
        var policy = RetentionPolicy(default: .init(raw: RetentionPolicy.Rule.days(1), minute: nil, hour: nil))
        policy.set(.init(raw: nil, minute: nil, hour: nil), tenant: Readings.omuta, type: nil)
        let result = try await store.applyRetention(policy, now: now)
        #expect(result.observations == 24)
        let id = Readings.gauge("g5")
        let raw = try await store.observations(tenant: Readings.kurume, entity: id, attribute: "waterLevel", range: .all, lastN: nil, limit: 1000)
        #expect(raw.count == 24 && raw.first?.value == .number(24))
        // Rollups outlive raw data.
        let hours = try await store.rollups(tenant: Readings.kurume, entity: id, attribute: "waterLevel", resolution: .hour, range: .all)
        #expect(hours.count == 48)
        // Minute buckets: rolled up from the deleted raw rows, computed from the rest; each once.
        let minutes = try await store.rollups(tenant: Readings.kurume, entity: id, attribute: "waterLevel", resolution: .minute, range: .all)
        #expect(minutes.count == 48 && minutes.allSatisfy { $0.aggregate.count == 1 })
        #expect(minutes.map(\.aggregate.sum) == (0..<48).map(Double.init))
        #expect(minutes.map(\.start) == (0..<48).map { Readings.t0.advanced(byMilliseconds: Int64($0) * 3_600_000) })
        // Running retention again changes nothing.
        let again = try await store.applyRetention(policy, now: now)
        #expect(again.observations == 0)
        let minutesAgain = try await store.rollups(tenant: Readings.kurume, entity: id, attribute: "waterLevel", resolution: .minute, range: .all)
        #expect(minutesAgain == minutes)
        // A range that starts inside a minute counts buckets starting in it only.
        let window = TimeRange(
            from: Readings.t0.advanced(byMilliseconds: 3_600_000 + 1),
            to: Readings.t0.advanced(byMilliseconds: 30 * 3_600_000 + 1)
        )
        let inside = try await store.rollups(tenant: Readings.kurume, entity: id, attribute: "waterLevel", resolution: .minute, range: window)
        #expect(inside.map(\.aggregate.sum) == (2...30).map(Double.init))
    }
}

/// The stores every check runs on: one SQLite file, one file per tenant
/// (`storage.separation: per_tenant`), and PostgreSQL (a fresh database of the shared test
/// server each time, see ``TestPostgres``).
enum ConformingStore: String, CaseIterable, Sendable {
    case sqlite, perTenant, postgres

    /// Runs `body` with `count` fresh, empty stores of this kind, closing them after.
    func with(_ count: Int = 1, deadLetterLimit: Int = 100, _ body: ([any ObservationStore]) async throws -> Void) async throws {
        var options = SQLiteStore.Options()
        options.deadLetterLimit = deadLetterLimit
        options.sync = .normal
        switch self {
        case .sqlite:
            try await body((0..<count).map { _ in try SQLiteStore(path: Readings.temporaryDatabase(), options: options) })
        case .perTenant:
            try await body((0..<count).map { _ in try TenantSeparatedStore(path: Readings.temporaryDatabase(), options: options) })
        case .postgres:
            let server = try TestPostgres.shared()
            var stores = [PostgresStore]()
            for _ in 0..<count {
                let settings = PostgresStore.Settings(url: try server.createDatabase(prefix: "conformance"), deadLetterLimit: deadLetterLimit)
                stores.append(try await PostgresStore.open(settings, logger: Logger(label: "test")))
            }
            do { try await body(stores) } catch {
                for store in stores { await store.close() }
                throw error
            }
            for store in stores { await store.close() }
        }
    }
}

@Suite("Store conformance")
struct StoreConformanceTests {
    @Test(arguments: ConformingStore.allCases) func exactlyOnce(_ kind: ConformingStore) async throws {
        try await kind.with { try await StoreConformance.exactlyOnce($0[0]) }
    }
    @Test(arguments: ConformingStore.allCases) func concurrentBatchesMatchOneByOne(_ kind: ConformingStore) async throws {
        try await kind.with(2) { try await StoreConformance.concurrentBatchesMatchOneByOne($0[0], $0[1]) }
    }
    @Test(arguments: ConformingStore.allCases) func latestStateMerges(_ kind: ConformingStore) async throws {
        try await kind.with { try await StoreConformance.latestStateMerges($0[0]) }
    }
    @Test(arguments: ConformingStore.allCases) func tenantsAreSeparate(_ kind: ConformingStore) async throws {
        try await kind.with { try await StoreConformance.tenantsAreSeparate($0[0]) }
    }
    @Test(arguments: ConformingStore.allCases) func rangesAndLastN(_ kind: ConformingStore) async throws {
        try await kind.with { try await StoreConformance.rangesAndLastN($0[0]) }
    }
    @Test(arguments: ConformingStore.allCases) func textAndBooleanSeries(_ kind: ConformingStore) async throws {
        try await kind.with { try await StoreConformance.textAndBooleanSeries($0[0]) }
    }
    @Test(arguments: ConformingStore.allCases) func deadLettersAreBounded(_ kind: ConformingStore) async throws {
        try await kind.with(deadLetterLimit: 5) { try await StoreConformance.deadLettersAreBounded($0[0], limit: 5) }
    }
    @Test(arguments: ConformingStore.allCases) func historyIsRemoved(_ kind: ConformingStore) async throws {
        try await kind.with { try await StoreConformance.historyIsRemoved($0[0]) }
    }
    @Test(arguments: ConformingStore.allCases) func retention(_ kind: ConformingStore) async throws {
        try await kind.with { try await StoreConformance.retention($0[0]) }
    }
}

@Suite("SQLite store")
struct SQLiteStoreConformanceTests {
    @Test func survivesReopening() async throws {
        let path = Readings.temporaryDatabase()
        do {
            let store = try SQLiteStore(path: path)
            _ = try await store.ingest(Readings.batch([Readings.level("g6", 3, minutes: 0)]))
        }
        let reopened = try SQLiteStore(path: path)
        let again = try await reopened.ingest(Readings.batch([Readings.level("g6", 3, minutes: 0), Readings.level("g6", 4, minutes: 1)]))
        #expect(again.stored == 1 && again.duplicates == 1 && again.updated == [Readings.gauge("g6")])
        #expect(try SQLiteStore.migrate(path: path) == (from: SQLiteStore.schemaVersion, to: SQLiteStore.schemaVersion))
    }

    /// Dead letters kept before rejection reasons were spelled as the gateway's are renamed.
    @Test func deadLetterReasonsAreRespelled() async throws {
        let path = Readings.temporaryDatabase()
        do {
            let db = try SQLiteConnection(path: path)
            try db.migrate(Self.migrations(before: "replace(reason"))
            try db.execute(
                """
                INSERT INTO deadletters(received, source, tenant, reason, detail, payload, size)
                  VALUES (0, 'kakehashi/v1/kurume/gw-9/obs', 'kurume', 'unknown-gateway', 'gateway gw-9 is not registered', x'7b7d', 2);
                """
            )
        }
        #expect(try SQLiteStore.migrate(path: path).to == SQLiteStore.schemaVersion)
        let letters = try await SQLiteStore(path: path).deadLetters(limit: 10)
        #expect(letters.map(\.reason) == [IngestRejection.Reason.unknownGateway.rawValue])
        #expect(IngestRejection.Reason.unknownGateway.rawValue == "unknown_gateway")
    }

    /// The migrations before the one whose SQL holds `marker`.
    static func migrations(before marker: String) -> [String] {
        Array(SQLiteStoreSchema.migrations.prefix { !$0.contains(marker) })
    }

    /// Alerts kept before entity types were stored beside ids read their type from the
    /// convention URN; new ones keep any URI with its type.
    @Test func alertsFromBeforeEntityTypesKeepTheirType() async throws {
        let path = Readings.temporaryDatabase()
        do {
            let db = try SQLiteConnection(path: path)
            try db.migrate(Self.migrations(before: "ADD COLUMN entity_type"))
            try db.execute(
                """
                INSERT INTO alerts(tenant, id, rule, entity, stage, raised, updated, last_change, last_kind)
                  VALUES ('kurume', 1, 'flood', '\(Readings.gauge("a").rawValue)', 1, 0, 0, 1, 'raised');
                """
            )
        }
        _ = try SQLiteStore.migrate(path: path)
        let alerts = try await SQLiteStore(path: path).alerts(tenant: Readings.kurume, activeOnly: false, limit: 10)
        #expect(alerts.map(\.entity.type) == ["WaterObserved"])
        #expect(alerts.map(\.entity.rawValue) == [Readings.gauge("a").rawValue])
    }

    /// Version 1 kept a minute rollup for every reading; version 2 drops those whose raw rows
    /// are still there (they are computed from the raw rows) and keeps the others.
    @Test func migrationTwoKeepsEachMinuteOnce() async throws {
        let path = Readings.temporaryDatabase()
        do {
            let db = try SQLiteConnection(path: path)
            try db.migrate(Array(SQLiteStoreSchema.migrations.prefix(1)))
            try db.execute(
                """
                INSERT INTO series(id, tenant, entity, type, attribute, kind, unit)
                  VALUES (1, 'kurume', '\(Readings.gauge("m1").rawValue)', 'WaterObserved', 'waterLevel', 0, 'MTR');
                INSERT INTO observations(series, t, num, txt, received) VALUES (1, 120000, 2.0, NULL, 0), (1, 180000, 3.0, NULL, 0);
                INSERT INTO rollups(series, resolution, bucket, n, mn, mx, sm) VALUES
                  (1, 60000, 60000, 1, 1.0, 1.0, 1.0), (1, 60000, 120000, 1, 2.0, 2.0, 2.0), (1, 60000, 180000, 1, 3.0, 3.0, 3.0);
                """
            )
        }
        #expect(try SQLiteStore.migrate(path: path) == (from: 1, to: SQLiteStore.schemaVersion))
        let store = try SQLiteStore(path: path)
        let minutes = try await store.rollups(
            tenant: Readings.kurume,
            entity: Readings.gauge("m1"),
            attribute: "waterLevel",
            resolution: .minute,
            range: .all
        )
        #expect(minutes.map(\.start.millisecondsSinceEpoch) == [60_000, 120_000, 180_000])
        #expect(minutes.map(\.aggregate.count) == [1, 1, 1])
        #expect(minutes.map(\.aggregate.sum) == [1, 2, 3])
    }
}

/// What is particular to one SQLite file per tenant.
@Suite("Per-tenant SQLite store")
struct TenantSeparatedStoreConformanceTests {
    /// Each tenant's rows are in its own file and nowhere else; reopening finds them again.
    @Test func eachTenantHasItsOwnFile() async throws {
        let path = Readings.temporaryDatabase()
        do {
            let store = try TenantSeparatedStore(path: path)
            _ = try await store.ingest(Readings.batch([Readings.level("k", 1, minutes: 0)]))
            _ = try await store.ingest(Readings.batch([Readings.level("o", 2, minutes: 0, tenant: Readings.omuta)], tenant: Readings.omuta))
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("tenants").path
        for (tenant, other) in [(Readings.kurume, Readings.omuta), (Readings.omuta, Readings.kurume)] {
            let db = try SQLiteConnection(path: TenantSeparatedStore.file(of: tenant, folder: folder), readOnly: true)
            #expect(try db.scalar("SELECT count(*) FROM observations") == 1)
            #expect(try db.scalar("SELECT count(*) FROM entities WHERE tenant = '\(other.name)'") == 0)
        }
        #expect(try SQLiteConnection(path: path, readOnly: true).scalar("SELECT count(*) FROM observations") == 0, "the main file holds no readings")
        let reopened = try TenantSeparatedStore(path: path)
        #expect(try await reopened.entities(tenant: Readings.omuta, types: nil, ids: nil).map(\.id) == [Readings.gauge("o", tenant: Readings.omuta)])
        #expect(try await reopened.statistics().observations == 2)
    }
}
