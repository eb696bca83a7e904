import Foundation
import Hummingbird
import HummingbirdTesting
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiModel
import KakehashiSQLite
import KakehashiTestSupport

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The hub as an NGSI-LD broker: readings posted by `POST /entityOperations/upsert` in batches of
/// 100 entities over HTTP (a real socket, 8 clients at once) against the same readings in batches
/// of 100 through MQTT ingest; and `GET /entities?type=…&q=…` over 5,000 entities against the
/// same filter in SQLite (`json_extract` over the stored bodies).
enum NGSIScenarios {
    static let perBatch = 100
    static let clients = 8
    static let tenant = HubScenarios.tenant

    static func run(repeats: Int, readings: Int, entities: Int) async throws -> (rows: [BenchRow], notes: [String]) {
        let batches = max(1, readings / perBatch)
        let payloads = (0..<batches).map { HubScenarios.batchPayload($0, size: perBatch) }
        let bodies = (0..<batches).map { b in
            JSONValue.array((0..<perBatch).map { j in HubScenarios.entity(b * perBatch + j).json(.normalized) }).serialized()
        }
        var http = [Double](), mqtt = [Double]()
        for round in 0..<repeats {
            AlertScenarios.progress("NGSI-LD upsert: run \(round + 1) of \(repeats), \(batches * perBatch) readings each")
            if round % 2 == 0 {
                http.append(try await httpRun(bodies))
                mqtt.append(try await HubScenarios.ingestRun(payloads, perBatch: perBatch))
            } else {
                mqtt.append(try await HubScenarios.ingestRun(payloads, perBatch: perBatch))
                http.append(try await httpRun(bodies))
            }
        }
        AlertScenarios.progress("NGSI-LD query: \(entities) entities")
        let (api, sql, matched) = try await queryRun(entities: entities, rounds: repeats)
        return (
            [
                BenchRow(
                    scenario:
                        "NGSI-LD POST /entityOperations/upsert over HTTP, \(batches * perBatch) readings in batches of \(perBatch), "
                        + "\(clients) clients, sync full",
                    kakehashi: http,
                    baselineName: "the same readings through MQTT ingest in batches of \(perBatch)",
                    baseline: mqtt,
                    unit: "readings/s",
                    higherIsBetter: true
                ),
                BenchRow(
                    scenario: "NGSI-LD GET /entities?type=WaterObserved&q=waterLevel>2.5 p99, \(entities) entities (\(matched) match)",
                    kakehashi: api.map(\.p99),
                    baselineName: "the same filter by SQLite json_extract over the stored entities",
                    baseline: sql.map(\.p99),
                    unit: "ms",
                    higherIsBetter: false
                ),
            ],
            [
                String(
                    format:
                        "NGSI-LD query over a real socket: %d rounds of 200 queries after 20 warm-up ones; worst p99 %.2f ms, p50 %.2f ms (goal: p99 under 20 ms).",
                    api.count,
                    api.map(\.p99).max() ?? 0,
                    api.map(\.p50).max() ?? 0
                )
            ]
        )
    }

    /// A hub on a loopback port (no keys), its maintenance running; `body` gets the port.
    static func withHub<T: Sendable>(_ configuration: HubConfiguration, _ body: @escaping @Sendable (Int) async throws -> T) async throws -> T {
        var configuration = configuration
        configuration.requireKeys = false
        configuration.limits.requestsPerSecond = 0
        let hub = try Hub(configuration: configuration, logger: GatewayScenarios.quiet)
        let maintenance = MaintenanceService(store: hub.store, logger: GatewayScenarios.quiet)
        let maintaining = Task { try await maintenance.run() }
        defer { maintaining.cancel() }
        let app = Application(router: hub.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return try await app.test(.live) { client in try await body(client.port!) }
    }

    /// Posts every body with `clients` clients at once; readings stored per second.
    static func httpRun(_ bodies: [[UInt8]]) async throws -> Double {
        let path = HubScenarios.temporaryFile()
        defer { HubScenarios.cleanUp(path) }
        var configuration = HubConfiguration(storagePath: path, tenants: [tenant: .init(gateways: [HubScenarios.gateway])])
        configuration.storage.sync = .full
        configuration.limits.maxBodyBytes = 1 << 20
        let total = Double(bodies.count * perBatch)
        return try await withHub(configuration) { port in
            let url = URL(string: "http://127.0.0.1:\(port)/ngsi-ld/v1/entityOperations/upsert?options=update")!
            let session = URLSession(configuration: .ephemeral)
            defer { session.finishTasksAndInvalidate() }
            let began = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for c in 0..<clients {
                    group.addTask {
                        for b in stride(from: c, to: bodies.count, by: clients) {
                            var request = URLRequest(url: url)
                            request.httpMethod = "POST"
                            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                            request.setValue(tenant.name, forHTTPHeaderField: "NGSILD-Tenant")
                            let (data, response) = try await session.upload(for: request, from: Data(bodies[b]))
                            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                            guard status == 201 || status == 204 else {
                                throw TestSupportError("the upsert was answered \(status): \(String(decoding: data, as: UTF8.self).prefix(200))")
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            return total / HubScenarios.seconds(ContinuousClock.now - began)
        }
    }

    /// `entities` gauges stored, then the query timed through HTTP and as SQL.
    static func queryRun(entities: Int, rounds: Int) async throws -> (api: [HubScenarios.Percentiles], sql: [HubScenarios.Percentiles], matched: Int)
    {
        let path = HubScenarios.temporaryFile()
        defer { HubScenarios.cleanUp(path) }
        let store = try SQLiteStore(path: path)
        for start in stride(from: 0, to: entities, by: 500) {
            let batch = (start..<min(entities, start + 500)).map { i in
                try! NGSIEntity(
                    id: EntityID(type: "WaterObserved", tenant: tenant, localID: "q\(i)"),
                    attributes: [
                        "waterLevel": .property(
                            NGSIProperty(
                                try! Quantity(Double(i % 400) / 100, .metre),
                                observedAt: Timestamp(millisecondsSinceEpoch: HubScenarios.start)
                            )
                        ),
                        "location": .geoProperty(try! GeoPoint(latitude: 33 + Double(i % 1000) / 1000, longitude: 130.5), observedAt: nil),
                        "name": .property(NGSIProperty(.text("gauge \(i)"))),
                    ]
                )
            }
            _ = try await store.ingest(
                IngestBatch(tenant: tenant, gateway: nil, entities: batch, receivedAt: Timestamp(millisecondsSinceEpoch: HubScenarios.start))
            )
        }
        let perRound = 200, warmUp = 20
        func byRound(_ times: [Double]) -> [HubScenarios.Percentiles] {
            (0..<rounds).map { r in HubScenarios.percentiles(Array(times[(r * perRound)..<((r + 1) * perRound)])) }
        }
        // SQL: the same filter over the stored bodies.
        let db = try SQLiteConnection(path: path)
        let scan = try db.prepare(
            "SELECT body FROM entities WHERE tenant = ? AND type = 'WaterObserved' AND json_extract(body, '$.waterLevel.value') > 2.5 ORDER BY id"
        )
        var sqlTimes = [Double](), matched = 0
        for n in 0..<(warmUp + rounds * perRound) {
            let began = ContinuousClock.now
            try scan.bind(1, tenant.name)
            var rows = 0
            while try scan.step() { rows += 1 }
            scan.reset()
            if n >= warmUp { sqlTimes.append(HubScenarios.seconds(ContinuousClock.now - began) * 1000) }
            matched = rows
        }
        var configuration = HubConfiguration(storagePath: path, tenants: [tenant: .init(gateways: [HubScenarios.gateway])])
        configuration.storage.sync = .normal
        let expected = matched
        let apiTimes: [Double] = try await withHub(configuration) { port in
            let url = URL(string: "http://127.0.0.1:\(port)/ngsi-ld/v1/entities?type=WaterObserved&q=waterLevel%3E2.5&count=true")!
            let session = URLSession(configuration: .ephemeral)
            defer { session.finishTasksAndInvalidate() }
            var times = [Double]()
            for n in 0..<(warmUp + rounds * perRound) {
                var request = URLRequest(url: url)
                request.setValue(tenant.name, forHTTPHeaderField: "NGSILD-Tenant")
                let began = ContinuousClock.now
                let (_, response) = try await session.data(for: request)
                let elapsed = HubScenarios.seconds(ContinuousClock.now - began) * 1000
                let http = response as? HTTPURLResponse
                guard http?.statusCode == 200, http?.value(forHTTPHeaderField: "NGSILD-Results-Count") == String(expected) else {
                    throw TestSupportError(
                        "the query was answered \(http?.statusCode ?? 0) with \(http?.value(forHTTPHeaderField: "NGSILD-Results-Count") ?? "no") count, not \(expected)"
                    )
                }
                if n >= warmUp { times.append(elapsed) }
            }
            return times
        }
        return (byRound(apiTimes), byRound(sqlTimes), matched)
    }
}
