import Foundation
import KakehashiHubCore
import KakehashiHubPostgres
import KakehashiModel
import KakehashiTestSupport
import Logging
import PostgresNIO
import Synchronization

/// The hub's MQTT ingest into PostgreSQL (one hub, a local server with its default durability:
/// every commit synced) against raw batched INSERTs of the same rows into the same table (the
/// issue's baseline), and against the same hub into its SQLite file (`sync: full`), in turn.
enum PostgresScenarios {
    static func run(repeats: Int, readings: Int) async throws -> (rows: [BenchRow], notes: [String]) {
        let payloads = (0..<(readings / HubScenarios.perBatch)).map { HubScenarios.batchPayload($0) }
        let server = try TestPostgres(durable: true)
        defer { server.stop() }
        var sqlite = [Double](), postgres = [Double](), raw = [Double](), twoHubs = [Double]()
        for round in 0..<repeats {
            AlertScenarios.progress("PostgreSQL: run \(round + 1) of \(repeats), \(payloads.count * HubScenarios.perBatch) readings each")
            let url = try server.createDatabase(prefix: "bench")
            twoHubs.append(try await HubScenarios.measuredIngestRun(payloads, postgres: try server.createDatabase(prefix: "bench2"), hubs: 2).rate)
            if round % 2 == 0 {
                sqlite.append(try await HubScenarios.ingestRun(payloads))
                postgres.append(try await HubScenarios.measuredIngestRun(payloads, postgres: url).rate)
                raw.append(try await rawRun(payloads, url: url))
            } else {
                postgres.append(try await HubScenarios.measuredIngestRun(payloads, postgres: url).rate)
                raw.append(try await rawRun(payloads, url: url))
                sqlite.append(try await HubScenarios.ingestRun(payloads))
            }
        }
        return (
            [
                BenchRow(
                    scenario: "Hub ingest through MQTT into PostgreSQL (storage.kind postgres, a local server syncing every commit)",
                    kakehashi: postgres,
                    baselineName: "raw batched INSERTs of the same readings into the same table (8 connections, a batch per commit)",
                    baseline: raw,
                    unit: "readings/s",
                    higherIsBetter: true
                ),
                BenchRow(
                    scenario: "Two hubs (instance h1, h2, one process) ingesting through one shared subscription into one PostgreSQL database",
                    kakehashi: twoHubs,
                    baselineName: "one hub (the first row)",
                    baseline: postgres,
                    unit: "readings/s",
                    higherIsBetter: true
                ),
                BenchRow(
                    scenario: "Hub ingest through MQTT into PostgreSQL (the same runs)",
                    kakehashi: postgres,
                    baselineName: "the same hub into its SQLite file (sync full)",
                    baseline: sqlite,
                    unit: "readings/s",
                    higherIsBetter: true
                ),
            ],
            [
                "PostgreSQL ingest: \(payloads.count) batches of \(HubScenarios.perBatch) readings over \(HubScenarios.sensors) gauges, 8 ingest "
                    + "sessions, a fresh database each run on a throwaway server (initdb, default fsync and full page writes). The raw "
                    + "baseline empties the hub's readings table and inserts the same rows again: one unnest INSERT … ON CONFLICT DO NOTHING "
                    + "per batch, 8 at a time, nothing else (no series, entities, rollups, gateways, alert inbox, MQTT or confirmation)."
            ]
        )
    }

    /// The readings of `payloads` inserted again, as raw batched INSERTs, into the observations
    /// table the hub filled at `url` (emptied first; the hub's series ids are reused). Readings/s.
    static func rawRun(_ payloads: [[UInt8]], url: String) async throws -> Double {
        let logger = Logger(label: "bench-raw")
        let client = PostgresClient(configuration: try PostgresStore.configuration(.init(url: url, poolSize: 8)))
        let running = Task { await client.run() }
        defer { running.cancel() }
        var ids = [String: Int64]()
        for try await (id, entity, attribute) in try await client.query("SELECT id, entity, attribute FROM series", logger: logger)
            .decode((Int64, String, String).self)
        {
            ids[entity + "\u{0}" + attribute] = id
        }
        // The rows, prepared before the clock starts.
        struct Rows: Sendable {
            var series = [Int64](), times = [Int64](), kinds = [Int16](), numbers = [Double](), texts = [String]()
        }
        var batches = [Rows]()
        for payload in payloads {
            let wire = try WireBatch(payload: payload)
            let plan = IngestPlan(IngestBatch(tenant: wire.tenant, gateway: wire.gateway, entities: wire.entries.map(\.entity), receivedAt: .minimum))
            var rows = Rows()
            for reading in plan.readings {
                let key = plan.series[reading.series].key
                guard let id = ids[key.entity.rawValue + "\u{0}" + key.attribute] else { continue }
                rows.series.append(id)
                rows.times.append(reading.observedAt.millisecondsSinceEpoch)
                switch reading.value {
                case .number(let value):
                    rows.kinds.append(0)
                    rows.numbers.append(value)
                    rows.texts.append("")
                case .boolean(let flag):
                    rows.kinds.append(2)
                    rows.numbers.append(flag ? 1 : 0)
                    rows.texts.append("")
                case .text(let text):
                    rows.kinds.append(1)
                    rows.numbers.append(0)
                    rows.texts.append(text)
                }
            }
            batches.append(rows)
        }
        try await client.query("TRUNCATE observations", logger: logger)
        let prepared = batches
        let total = prepared.reduce(0) { $0 + $1.series.count }
        let next = Counter()
        let began = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    while let index = next.take(below: prepared.count) {
                        let rows = prepared[index]
                        try await client.query(
                            """
                            INSERT INTO observations(series, t, num, txt, received)
                            SELECT s, t, CASE WHEN k = 1 THEN NULL ELSE n END, CASE WHEN k = 1 THEN x END, 0
                            FROM unnest(\(rows.series)::int8[], \(rows.times)::int8[], \(rows.kinds)::int2[], \(rows.numbers)::float8[], \(rows.texts)::text[])
                              AS u(s, t, k, n, x)
                            ORDER BY s, t
                            ON CONFLICT (series, t) DO NOTHING
                            """,
                            logger: logger
                        )
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - began
        return Double(total) / HubScenarios.seconds(elapsed)
    }

    /// Hands out batch indices to the writers.
    final class Counter: Sendable {
        private let value = Mutex(0)
        func take(below limit: Int) -> Int? {
            value.withLock { next in
                guard next < limit else { return nil }
                defer { next += 1 }
                return next
            }
        }
    }
}
