import Foundation
import KakehashiHubCore
import KakehashiHubTestSupport
import KakehashiModel
import KakehashiTestSupport
import Logging
import Testing

@testable import KakehashiHubPostgres

/// What the PostgreSQL store does beyond the conformance suite: several hubs on one database,
/// month partitions, errors. Against a real server (``TestPostgres/shared()``).
@Suite("PostgreSQL store")
struct PostgresStoreTests {
    static let logger = Logger(label: "test")

    static func open(_ url: String) async throws -> PostgresStore {
        try await PostgresStore.open(PostgresStore.Settings(url: url, poolSize: 4), logger: logger)
    }

    @Test func twoHubsOnOneDatabaseStoreEachReadingOnce() async throws {
        let url = try TestPostgres.shared().createDatabase(prefix: "hubs")
        let (a, b) = (try await Self.open(url), try await Self.open(url))
        // 40 batches over 8 gauges, every one delivered to both hubs (a shared subscription that
        // redelivers after a hub died), in opposite orders, all at once.
        func batch(_ n: Int) -> IngestBatch {
            Readings.batch((0..<8).map { g in Readings.level("h\(g)", Double(n) + Double(g) / 100, minutes: Int64(n)) })
        }
        let results = try await withThrowingTaskGroup(of: IngestResult.self) { group in
            for n in 0..<40 {
                group.addTask { try await a.ingest(batch(n)) }
                group.addTask { try await b.ingest(batch(39 - n)) }
            }
            return try await group.reduce(into: [IngestResult]()) { $0.append($1) }
        }
        #expect(results.reduce(0) { $0 + $1.stored } == 320)
        #expect(results.reduce(0) { $0 + $1.duplicates } == 320)
        // Each entity made once, by whichever hub came first.
        #expect(results.reduce(0) { $0 + $1.created.count } == 8)
        for store in [a, b] {
            let statistics = try await store.statistics()
            #expect(statistics.observations == 320 && statistics.entities == 8 && statistics.series == 8)
            let hour = try await store.rollups(
                tenant: Readings.kurume,
                entity: Readings.gauge("h3"),
                attribute: "waterLevel",
                resolution: .hour,
                range: .all
            )
            #expect(hour.map(\.aggregate.count) == [40])
            let expected = (0..<40).reduce(0.0) { sum, n in sum + Double(n) + 0.03 }
            #expect(abs((hour.first?.aggregate.sum ?? 0) - expected) < 1e-6)
            // The latest state is the newest reading, whatever order the batches were merged in.
            let latest = try await store.entity(tenant: Readings.kurume, id: Readings.gauge("h3"))
            let level = latest?.attributes["waterLevel"].flatMap { NGSIEntity.observedValue($0) }
            #expect(level?.observedAt == Readings.t0.advanced(byMilliseconds: 39 * 60_000))
        }
        await a.close()
        await b.close()
    }

    @Test func retentionDropsWholeMonths() async throws {
        let store = try await Self.open(try TestPostgres.shared().createDatabase(prefix: "retention"))
        // Readings every 6 hours from early April to June 2 (t0).
        let readings = (0..<(61 * 4)).map { i in Readings.level("r1", Double(i % 10), minutes: -Int64(i) * 360) }
        _ = try await store.ingest(Readings.batch(readings))
        #expect(try await store.partitionNames() == ["observations_2026_04", "observations_2026_05", "observations_2026_06"])
        var policy = RetentionPolicy()
        policy.defaultRule = .init(raw: RetentionPolicy.Rule.days(30))
        let now = Readings.t0.advanced(byMilliseconds: 86_400_000)
        let cutoff = now.advanced(byMilliseconds: -RetentionPolicy.Rule.days(30)).millisecondsSinceEpoch
        let result = try await store.applyRetention(policy, now: now)
        // April went whole (a table dropped, not rows deleted); May lost its first days row by row.
        #expect(try await store.partitionNames() == ["observations_2026_05", "observations_2026_06"])
        let kept = readings.filter { reading in
            reading.attributes["waterLevel"].flatMap { NGSIEntity.observedValue($0) }!.observedAt.millisecondsSinceEpoch >= cutoff
        }
        #expect(result.observations == readings.count - kept.count)
        #expect(try await store.statistics().observations == kept.count)
        // What went is still counted in minute rollups.
        let minutes = try await store.rollups(
            tenant: Readings.kurume,
            entity: Readings.gauge("r1"),
            attribute: "waterLevel",
            resolution: .minute,
            range: .all
        )
        #expect(minutes.reduce(0) { $0 + $1.aggregate.count } == Int64(readings.count))
        // A reading of a dropped month arriving late makes its month again.
        _ = try await store.ingest(Readings.batch([Readings.level("r1", 1, minutes: -55 * 1440)]))
        #expect(try await store.partitionNames().contains("observations_2026_04"))
        await store.close()
    }

    @Test func reopeningDoesNotMigrateAgain() async throws {
        let url = try TestPostgres.shared().createDatabase(prefix: "reopen")
        let first = try await Self.open(url)
        _ = try await first.ingest(Readings.batch([Readings.level("o1", 2, minutes: 0)]))
        await first.close()
        let second = try await Self.open(url)
        #expect(try await second.statistics().observations == 1)
        await second.close()
    }

    @Test func badSettingsFailClearly() async throws {
        await #expect {
            _ = try await PostgresStore.open(PostgresStore.Settings(url: "mysql://db/kakehashi"), logger: Self.logger)
        } throws: { error in
            "\(error)".contains("is not a PostgreSQL URL")
        }
        // Nothing listens there: the refusal itself (not the pool's retries for a minute), naming
        // the URL without its password.
        let port = try TestBroker.freePort()
        await #expect {
            _ = try await PostgresStore.open(
                PostgresStore.Settings(url: "postgres://hub:secret@127.0.0.1:\(port)/kakehashi"),
                logger: Self.logger
            )
        } throws: { error in
            let text = "\(error)"
            return text.contains("postgres://hub:***@127.0.0.1:\(port)/kakehashi") && text.contains("Connection refused")
                && !text.contains("secret")
        }
        // A database that is not there: the server's own words.
        let missing = try TestPostgres.shared().url(database: "no_such_database")
        await #expect {
            _ = try await PostgresStore.open(PostgresStore.Settings(url: missing), logger: Self.logger)
        } throws: { error in
            "\(error)".contains("database \"no_such_database\" does not exist (SQLSTATE 3D000)")
        }
    }

    @Test(arguments: [
        ("2026-06-02T00:00:00Z", "observations_2026_06", "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z"),
        ("2026-12-31T23:59:59.999Z", "observations_2026_12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ("2024-02-29T12:00:00Z", "observations_2024_02", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"),
        ("1970-01-01T00:00:00Z", "observations_1970_01", "1970-01-01T00:00:00Z", "1970-02-01T00:00:00Z"),
        ("1969-12-31T23:59:59.999Z", "observations_1969_12", "1969-12-01T00:00:00Z", "1970-01-01T00:00:00Z"),
    ])
    func monthPartitions(_ at: String, _ name: String, _ from: String, _ to: String) throws {
        let partition = PostgresSchema.partition(of: try Timestamp(iso8601: at).millisecondsSinceEpoch)
        #expect(partition.name == name)
        #expect(partition.from == (try Timestamp(iso8601: from)).millisecondsSinceEpoch)
        #expect(partition.to == (try Timestamp(iso8601: to)).millisecondsSinceEpoch)
    }
}
