import KakehashiTestSupport

/// The hub's MQTT ingest into PostgreSQL (one hub, a local server with its default durability:
/// every commit synced) against the same ingest into its SQLite file (`sync: full`), in turn.
enum PostgresScenarios {
    static func run(repeats: Int, readings: Int) async throws -> (rows: [BenchRow], notes: [String]) {
        let payloads = (0..<(readings / HubScenarios.perBatch)).map { HubScenarios.batchPayload($0) }
        let server = try TestPostgres(durable: true)
        defer { server.stop() }
        var sqlite = [Double](), postgres = [Double]()
        for round in 0..<repeats {
            AlertScenarios.progress("PostgreSQL: run \(round + 1) of \(repeats), \(payloads.count * HubScenarios.perBatch) readings each")
            let url = try server.createDatabase(prefix: "bench")
            if round % 2 == 0 {
                sqlite.append(try await HubScenarios.ingestRun(payloads))
                postgres.append(try await HubScenarios.measuredIngestRun(payloads, postgres: url).rate)
            } else {
                postgres.append(try await HubScenarios.measuredIngestRun(payloads, postgres: url).rate)
                sqlite.append(try await HubScenarios.ingestRun(payloads))
            }
        }
        return (
            [
                BenchRow(
                    scenario: "Hub ingest through MQTT into PostgreSQL (storage.kind postgres, a local server syncing every commit)",
                    kakehashi: postgres,
                    baselineName: "the same hub into its SQLite file (sync full)",
                    baseline: sqlite,
                    unit: "readings/s",
                    higherIsBetter: true
                )
            ],
            [
                "PostgreSQL ingest: \(payloads.count) batches of \(HubScenarios.perBatch) readings over \(HubScenarios.sensors) gauges, 8 ingest "
                    + "sessions, a fresh database each run on a throwaway server (initdb, default fsync and full page writes)."
            ]
        )
    }
}
