import Foundation
import Hummingbird
import HummingbirdTesting
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiMQTT
import KakehashiModel
import KakehashiSQLite
import KakehashiTestSupport
import Logging
import ServiceLifecycle

/// The hub: ingest through MQTT (stored and acknowledged, sync full) against raw batched SQLite
/// inserts of the same rows into the same schema; and the hourly aggregate of one sensor over 30
/// days of 1-minute data with `rows` rows in the database, through the HTTP API, against the same
/// aggregate computed by SQLite from the raw rows.
enum HubScenarios {
    static let tenant = try! Tenant("bench")
    static let gateway = try! GatewayID("gw-bench")
    static let sensors = 200
    static let perBatch = 500
    static let start: Int64 = 1_780_272_000_000  // 2026-06-01T00:00:00Z

    static func run(repeats: Int, readings: Int, rows: Int) async throws -> (rows: [BenchRow], notes: [String]) {
        let payloads = (0..<(readings / perBatch)).map { batchPayload($0) }
        var hub = [Double](), raw = [Double]()
        for round in 0..<repeats {
            AlertScenarios.progress("hub ingest: run \(round + 1) of \(repeats), \(payloads.count * perBatch) readings each")
            if round % 2 == 0 {
                hub.append(try await ingestRun(payloads))
                raw.append(try rawRun(count: payloads.count * perBatch))
            } else {
                raw.append(try rawRun(count: payloads.count * perBatch))
                hub.append(try await ingestRun(payloads))
            }
        }
        AlertScenarios.progress("hub temporal query: building a database of \(rows) rows")
        let (api, sql, built) = try await temporalRun(rows: rows, rounds: repeats)
        let apiP50 = api.map(\.p50), apiP99 = api.map(\.p99), sqlP50 = sql.map(\.p50), sqlP99 = sql.map(\.p99)
        return (
            [
                BenchRow(
                    scenario:
                        "Hub ingest through MQTT, \(payloads.count * perBatch) readings in batches of \(perBatch), stored and acknowledged, "
                        + "sync full, \(HubConfiguration.defaultIngestConsumers) sessions",
                    kakehashi: hub,
                    baselineName: "raw batched INSERTs of the same rows, same schema (libsqlite3, WAL, sync full)",
                    baseline: raw,
                    unit: "readings/s",
                    higherIsBetter: true
                ),
                BenchRow(
                    scenario: "Temporal query p50: one sensor, 30 days of 1-minute data aggregated hourly, \(built) rows in the database",
                    kakehashi: apiP50,
                    baselineName: "the same aggregate by SQLite GROUP BY over the raw rows",
                    baseline: sqlP50,
                    unit: "ms",
                    higherIsBetter: false
                ),
                BenchRow(
                    scenario: "Temporal query p99 (same query)",
                    kakehashi: apiP99,
                    baselineName: "the same aggregate by SQLite GROUP BY over the raw rows",
                    baseline: sqlP99,
                    unit: "ms",
                    higherIsBetter: false
                ),
            ],
            [
                String(
                    format:
                        "Temporal query through the HTTP router (no socket): %d rounds of 200 queries on random sensors, after 20 warm-up "
                        + "ones, each round's p50 and p99; worst p99 %.2f ms (goal: under 20 ms).",
                    api.count,
                    apiP99.max() ?? 0
                )
            ]
        )
    }

    static func entity(_ i: Int) -> NGSIEntity {
        let sensor = i % sensors
        let at = Timestamp(millisecondsSinceEpoch: start + Int64(i / sensors) * 60_000)
        return try! NGSIEntity(
            id: EntityID(type: "WaterObserved", tenant: tenant, localID: "g\(sensor)"),
            attributes: [
                "waterLevel": .property(NGSIProperty(try! Quantity(1 + Double(i % 300) / 100, .metre), observedAt: at)),
                "location": .geoProperty(try! GeoPoint(latitude: 33 + Double(sensor) / 1000, longitude: 130.5), observedAt: nil),
            ]
        )
    }

    static func batchPayload(_ b: Int, size: Int = perBatch) -> [UInt8] {
        let entries = (0..<size).map { j in
            let i = b * size + j
            return WireBatch.Entry(sequence: UInt64(i + 1), entity: entity(i))
        }
        return try! WireBatch(tenant: tenant, gateway: gateway, entries: entries).payload()
    }

    static func temporaryFile() -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kakehashi-bench-hub-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("hub.sqlite").path
    }

    static func cleanUp(_ path: String) {
        try? FileManager.default.removeItem(at: URL(fileURLWithPath: path).deletingLastPathComponent())
    }

    /// Publishes every batch to the hub's persistent session, then times the hub from start until
    /// every reading is stored.
    /// With `subscriptions`, that many NGSI-LD subscriptions notifying `endpoint` are kept
    /// first and the notifier runs beside ingest (see ``NotificationScenarios``).
    static func ingestRun(
        _ payloads: [[UInt8]],
        consumers: Int = HubConfiguration.defaultIngestConsumers,
        perBatch: Int = perBatch,
        subscriptions: Int = 0,
        endpoint: String = ""
    ) async throws -> Double {
        try await measuredIngestRun(payloads, consumers: consumers, perBatch: perBatch, subscriptions: subscriptions, endpoint: endpoint).rate
    }

    /// ``ingestRun(_:consumers:perBatch:subscriptions:endpoint:)`` with the CPU time the bench
    /// process (the hub, and a receiver in it) used meanwhile.
    static func measuredIngestRun(
        _ payloads: [[UInt8]],
        consumers: Int = HubConfiguration.defaultIngestConsumers,
        perBatch: Int = perBatch,
        subscriptions: Int = 0,
        endpoint: String = "",
        postgres: String? = nil,
        hubs: Int = 1
    ) async throws -> (rate: Double, cpuSeconds: Double) {
        let broker = try TestBroker()
        try broker.start()
        defer { broker.stop() }
        let session = MQTTConfiguration(host: broker.host, port: broker.port, clientID: "bench-hub")
        // Several hubs (over PostgreSQL): each with its instance name, sharing one subscription.
        let instances: [String?] = hubs > 1 ? (1...hubs).map { "h\($0)" } : [nil]
        for instance in instances {
            try await MQTTIngest.prepareSessions(broker: session, consumers: consumers, instance: instance, logger: GatewayScenarios.quiet)
        }
        var publisherSettings = MQTTConfiguration(host: broker.host, port: broker.port, clientID: "bench-gateway")
        publisherSettings.inflightWindow = 64
        let publisher = try MQTTClient(configuration: publisherSettings, logger: GatewayScenarios.quiet)
        try await publisher.connect()
        let topic = WireTopic(tenant: tenant, gateway: gateway, kind: .observations).name
        for payload in payloads { try await publisher.publish(topic, payload: payload, qos: .atLeastOnce) }
        await publisher.disconnect()

        let path = temporaryFile()
        defer { cleanUp(path) }
        var configuration = HubConfiguration(storagePath: path, tenants: [tenant: .init(gateways: [gateway])], broker: session)
        configuration.storage.sync = .full
        configuration.ingestConsumers = consumers
        configuration.allowedEndpoints = ["127.0.0.1"]
        if let postgres { configuration.storageKind = .postgres(.init(url: postgres, poolSize: 10)) }
        configuration.instance = instances[0]
        if subscriptions > 0 {
            let records = try SubscriptionStore(path: path)
            let at = Timestamp(Date())
            for subscription in NotificationScenarios.subscriptions(subscriptions, endpoint: endpoint) {
                _ = try records.insert(subscription, tenant: tenant, at: at)
            }
        }
        let registry = MetricsRegistry()
        let cpuBefore = processCPUSeconds()
        let began = ContinuousClock.now
        let hub = try await Hub.open(configuration: configuration, logger: GatewayScenarios.quiet, registry: registry)
        let ingest = hub.ingest!
        let maintenance = MaintenanceService(store: hub.store, logger: GatewayScenarios.quiet)
        let maintaining = Task { try await maintenance.run() }
        let running = Task { try await ingest.run() }
        // The other hubs, each with its own registry (their counts are added).
        var others = [(hub: Hub, registry: MetricsRegistry, running: Task<Void, any Error>)]()
        for instance in instances.dropFirst() {
            var other = configuration
            other.instance = instance
            let otherRegistry = MetricsRegistry()
            let otherHub = try await Hub.open(configuration: other, logger: GatewayScenarios.quiet, registry: otherRegistry)
            let otherIngest = otherHub.ingest!
            others.append((otherHub, otherRegistry, Task { try await otherIngest.run() }))
        }
        func stored() -> Double {
            others.reduce(registry.value("kakehashi_hub_readings_stored_total") ?? 0) {
                $0 + ($1.registry.value("kakehashi_hub_readings_stored_total") ?? 0)
            }
        }
        let notifying = ServiceGroup(configuration: .init(services: subscriptions > 0 ? [hub.notifier] : [], logger: GatewayScenarios.quiet))
        let notifier = Task { try await notifying.run() }
        defer { notifier.cancel() }
        let total = Double(payloads.count * perBatch)
        while stored() < total {
            try await Task.sleep(for: .milliseconds(5))
        }
        let elapsed = ContinuousClock.now - began
        let cpu = processCPUSeconds() - cpuBefore
        for other in others {
            other.running.cancel()
            _ = try? await other.running.value
            await other.hub.close()
        }
        running.cancel()
        maintaining.cancel()
        await notifying.triggerGracefulShutdown()
        _ = try? await notifier.value
        _ = try? await running.value
        _ = try? await maintaining.value
        await hub.close()
        return (total / seconds(elapsed), cpu)
    }

    /// CPU time (user and system, all threads) this process has used so far, in seconds.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// The same rows inserted with prepared statements, 500 per transaction.
    static func rawRun(count: Int) throws -> Double {
        let path = temporaryFile()
        defer { cleanUp(path) }
        _ = try SQLiteStore.migrate(path: path)
        let db = try SQLiteConnection(path: path)
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=FULL")
        let insert = try db.prepare("INSERT OR IGNORE INTO observations(series, t, num, txt, received) VALUES (?, ?, ?, NULL, ?)")
        let began = ContinuousClock.now
        for batch in stride(from: 0, to: count, by: perBatch) {
            try db.transaction {
                for i in batch..<min(batch + perBatch, count) {
                    try insert.bind(1, Int64(i % sensors + 1))
                    try insert.bind(2, start + Int64(i / sensors) * 60_000)
                    try insert.bind(3, 1 + Double(i % 300) / 100)
                    try insert.bind(4, start)
                    try insert.run()
                }
            }
        }
        return Double(count) / seconds(ContinuousClock.now - began)
    }

    struct Percentiles { let p50: Double; let p99: Double }

    /// Builds a database of `rows` rows (sensors × 30 days of minutes, with their rollups), then
    /// times the hourly aggregate query through the API and as raw SQL, `rounds` rounds of 200
    /// queries each (the percentiles of each round).
    static func temporalRun(rows: Int, rounds: Int) async throws -> (api: [Percentiles], sql: [Percentiles], rows: Int) {
        let minutes = 43_200
        let series = max(1, (rows + minutes - 1) / minutes)
        let path = temporaryFile()
        defer { cleanUp(path) }
        _ = try SQLiteStore.migrate(path: path)
        let db = try SQLiteConnection(path: path)
        try db.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL")
        try db.transaction {
            let insertEntity = try db.prepare(
                "INSERT INTO entities(tenant, id, type, body, latitude, longitude, modified) VALUES (?, ?, 'WaterObserved', ?, 33, 130.5, 0)"
            )
            let insertSeries = try db.prepare(
                "INSERT INTO series(id, tenant, entity, type, attribute, kind, unit) VALUES (?, ?, ?, 'WaterObserved', 'waterLevel', 0, 'MTR')"
            )
            for s in 0..<series {
                let id = try EntityID(type: "WaterObserved", tenant: tenant, localID: "g\(s)")
                try insertEntity.bind(1, tenant.name)
                try insertEntity.bind(2, id.rawValue)
                try insertEntity.bind(3, try NGSIEntity(id: id).serialized(.normalized))
                try insertEntity.run()
                try insertSeries.bind(1, Int64(s + 1))
                try insertSeries.bind(2, tenant.name)
                try insertSeries.bind(3, id.rawValue)
                try insertSeries.run()
            }
            try db.execute(
                """
                INSERT INTO observations(series, t, num, txt, received)
                WITH RECURSIVE m(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM m WHERE x < \(minutes - 1))
                SELECT s.id, \(start) + m.x * 60000, 1.0 + ((m.x * 7 + s.id) % 500) / 100.0, NULL, \(start) FROM series s, m ORDER BY s.id, m.x
                """
            )
            for (resolution, size) in [(60_000, 60_000), (3_600_000, 3_600_000)] {
                try db.execute(
                    """
                    INSERT INTO rollups(series, resolution, bucket, n, mn, mx, sm)
                    SELECT series, \(resolution), (t / \(size)) * \(size), count(*), min(num), max(num), sum(num) FROM observations GROUP BY \
                    series, t / \(size)
                    """
                )
            }
        }
        let built = Int(try db.scalar("SELECT count(*) FROM observations") ?? 0)
        let end = start + Int64(minutes) * 60_000
        var generator = SystemRandomNumberGenerator()
        let perRound = 200, warmUp = 20
        let picks = (0..<(warmUp + rounds * perRound)).map { _ in Int.random(in: 0..<series, using: &generator) }
        /// The percentiles of each round of timed queries (the warm-up ones dropped).
        func byRound(_ times: [Double]) -> [Percentiles] {
            (0..<rounds).map { r in percentiles(Array(times[(r * perRound)..<((r + 1) * perRound)])) }
        }

        // Raw SQL baseline.
        let scan = try db.prepare(
            "SELECT t / 3600000, count(*), min(num), max(num), avg(num) FROM observations WHERE series = ? AND t >= ? AND t < ? GROUP BY t / 3600000"
        )
        var sqlTimes = [Double]()
        for (n, s) in picks.enumerated() {
            let began = ContinuousClock.now
            try scan.bind(1, Int64(s + 1))
            try scan.bind(2, start)
            try scan.bind(3, end)
            var groups = 0
            while try scan.step() { groups += 1 }
            scan.reset()
            if n >= warmUp { sqlTimes.append(seconds(ContinuousClock.now - began) * 1000) }
            precondition(groups == 720)
        }

        // Through the API, with a reader key as any client sends it.
        let key = try AccessStore(path: path).createKey(tenant: tenant, role: .reader, label: "bench", expires: nil, knownTenants: [tenant]).secret
        var configuration = HubConfiguration(storagePath: path, tenants: [tenant: .init(gateways: [gateway])])
        configuration.limits.requestsPerSecond = 0  // the queries come back to back: measured, not rate-limited
        let hub = try Hub(configuration: configuration, logger: GatewayScenarios.quiet)
        let app = Application(router: hub.router())
        let from = Timestamp(millisecondsSinceEpoch: start).iso8601, to = Timestamp(millisecondsSinceEpoch: end).iso8601
        let apiTimes: [Double] = try await app.test(.router) { client in
            var times = [Double]()
            for (n, s) in picks.enumerated() {
                let uri =
                    "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:WaterObserved:bench:g\(s)"
                    + "?attrs=waterLevel&timerel=between&timeAt=\(from)&endTimeAt=\(to)"
                    + "&options=aggregatedValues&aggrMethods=totalCount,avg,min,max&aggrPeriodDuration=PT1H"
                let began = ContinuousClock.now
                let count = try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(key)"]) { response in
                    guard response.status == .ok else {
                        throw TestSupportError("the temporal query was answered \(response.status): \(String(buffer: response.body).prefix(200))")
                    }
                    return response.body.readableBytes
                }
                if n >= warmUp { times.append(seconds(ContinuousClock.now - began) * 1000) }
                precondition(count > 0)
            }
            return times
        }
        return (byRound(apiTimes), byRound(sqlTimes), built)
    }

    static func percentiles(_ samples: [Double]) -> Percentiles {
        let sorted = samples.sorted()
        func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded()))] }
        return Percentiles(p50: at(0.5), p99: at(0.99))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
