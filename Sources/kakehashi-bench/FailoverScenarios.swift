import Foundation
import KakehashiHubCore
import KakehashiHubPostgres
import KakehashiMQTT
import KakehashiModel
import KakehashiTestSupport
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Three `kakehashi-hub run` processes (release) on one PostgreSQL database and one mosquitto,
/// with gauges in every partition crossing a threshold every few seconds: a hub that holds a
/// share of the rules is killed with SIGKILL, and the time until the next alert event of one
/// of its partitions reaches a feed client of another hub is measured; then it is started
/// again and takes its share back before the next kill.
enum FailoverScenarios {
    static let tenant = try! Tenant("kurume")
    static let gateway = try! GatewayID("gw-failover")

    static func run(kills: Int, hubBinary: String) async throws -> (rows: [BenchRow], notes: [String]) {
        guard FileManager.default.isExecutableFile(atPath: hubBinary) else {
            throw TestSupportError("no kakehashi-hub at \(hubBinary) (deploy/bench builds it)")
        }
        let server = try TestPostgres(durable: true)
        defer { server.stop() }
        let url = try server.createDatabase(prefix: "failover")
        let broker = try TestBroker()
        try broker.start()
        defer { broker.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kakehashi-bench-failover-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        // One gauge in each partition.
        var gauges = [Int: String]()
        var n = 0
        while gauges.count < PartitionLeases.count {
            let id = try EntityID(type: "WaterObserved", tenant: tenant, localID: "f\(n)").rawValue
            let partition = PartitionLeases.partition(tenant: tenant, entity: id)
            if gauges[partition] == nil { gauges[partition] = "f\(n)" }
            n += 1
        }
        let names = ["a", "b", "c"]
        var files = [String](), ports = [Int]()
        for name in names {
            let port = try TestBroker.freePort()
            ports.append(port)
            let file = directory.appendingPathComponent("hub-\(name).yaml").path
            try """
            instance: \(name)
            http: { host: 127.0.0.1, port: \(port) }
            storage: { kind: postgres, url: "\(url)", pool_size: 4, path: \(directory.appendingPathComponent("local-\(name).sqlite").path) }
            broker: { host: 127.0.0.1, port: \(broker.port), client_id: hub-failover, reconnect_max: 500ms }
            tenants: { kurume: { gateways: [\(gateway.rawValue)] } }
            access: { require_keys: false }
            alerts:
              publish_mqtt: false
              rules:
                - { id: level, tenant: kurume, type: WaterObserved, attribute: waterLevel, threshold: { stages: [ { name: high, level: 2.0, severity: high } ] } }
            """.write(toFile: file, atomically: true, encoding: .utf8)
            files.append(file)
        }
        var run = 0
        func start(_ index: Int) throws -> ChildProcess {
            run += 1
            return try ChildProcess(
                executable: hubBinary,
                arguments: ["run", "--config", files[index]],
                logFile: directory.appendingPathComponent("hub-\(index)-\(run).log").path
            )
        }
        var hubs = try (0..<3).map { try start($0) }
        defer { for hub in hubs where hub.isRunning { hub.signal(SIGKILL) } }
        for index in 0..<3 {
            try await waitUntil("hub \(index) listens", timeout: .seconds(120)) { TestBroker.accepts(port: ports[index]) }
        }
        func held(_ index: Int) async -> Int {
            guard let (data, _) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(ports[index])/metrics")!) else { return 0 }
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix("kakehashi_hub_alert_partitions_held ") {
                return Int(Double(line.split(separator: " ").last ?? "") ?? 0)
            }
            return 0
        }
        func shared() async -> Bool {
            var total = 0
            for index in 0..<3 {
                let count = await held(index)
                if count == 0 { return false }
                total += count
            }
            return total == PartitionLeases.count
        }
        try await waitFor("the hubs share the partitions", timeout: .seconds(120)) { await shared() }

        // Every gauge crosses the level at every reading: an event per gauge every round.
        let feeder = Task {
            let client = try MQTTClient(configuration: MQTTConfiguration(host: broker.host, port: broker.port, clientID: "gw-failover"))
            try await client.connect()
            let topic = WireTopic(tenant: tenant, gateway: gateway, kind: .observations).name
            var sequence: UInt64 = 0
            var round: Int64 = 0
            let start = Timestamp(Date()).millisecondsSinceEpoch
            while !Task.isCancelled {
                let at = Timestamp(millisecondsSinceEpoch: start + round * 1000)
                let entries = gauges.values.sorted().map { local -> WireBatch.Entry in
                    sequence += 1
                    let entity = try! NGSIEntity(
                        id: EntityID(type: "WaterObserved", tenant: tenant, localID: local),
                        attributes: ["waterLevel": .property(NGSIProperty(try! Quantity(round % 2 == 0 ? 3.0 : 1.0, .metre), observedAt: at))]
                    )
                    return WireBatch.Entry(sequence: sequence, entity: entity)
                }
                try await client.publish(
                    topic,
                    payload: try WireBatch(tenant: tenant, gateway: gateway, entries: entries).payload(),
                    qos: .atLeastOnce
                )
                round += 1
                try await Task.sleep(for: .milliseconds(500))
            }
            await client.disconnect()
        }
        defer { feeder.cancel() }

        // The feed client is on hub c, which is never killed.
        let feed = try SSEClient(port: ports[2], path: "/feeds/alerts", headers: ["NGSILD-Tenant": tenant.name])
        defer { feed.close() }
        try await waitUntil("events flow", timeout: .seconds(120)) { feed.events.count >= 64 }

        var times = [Double]()
        for kill in 0..<kills {
            let victim = kill % 2
            AlertScenarios.progress("failover: kill \(kill + 1) of \(kills) (hub \(names[victim]))")
            let owned = Set(
                try server.value(
                    "SELECT coalesce(string_agg(partition::text, ','), '') FROM leases WHERE owner = '\(names[victim])' AND expires > (extract(epoch from clock_timestamp()) * 1000)::int8",
                    url: url
                ).split(separator: ",").compactMap { Int($0) }
            )
            guard !owned.isEmpty else { throw TestSupportError("hub \(names[victim]) holds no partition") }
            let seen = feed.events.count
            let killedAt = DispatchTime.now().uptimeNanoseconds
            hubs[victim].signal(SIGKILL)
            _ = await hubs[victim].exit()
            var first: UInt64?
            try await waitUntil("an event of the killed hub's partitions", timeout: .seconds(120)) {
                for event in feed.events.dropFirst(seen) {
                    guard let entity = (try? JSONValue(parsing: event.data))?["entity"]?.stringValue else { continue }
                    if owned.contains(PartitionLeases.partition(tenant: tenant, entity: entity)) {
                        first = event.receivedAt
                        return true
                    }
                }
                return false
            }
            times.append(Double((first ?? killedAt) - killedAt) / 1e9)
            hubs[victim] = try start(victim)
            try await waitUntil("hub \(names[victim]) listens again", timeout: .seconds(120)) { TestBroker.accepts(port: ports[victim]) }
            try await waitFor("the hubs share the partitions again", timeout: .seconds(120)) { await shared() }
        }
        feeder.cancel()
        for hub in hubs where hub.isRunning {
            hub.signal(SIGTERM)
            _ = await hub.exit()
        }
        let sorted = times.sorted()
        func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)] }
        return (
            [
                BenchRow(
                    scenario: "Failover: SIGKILL of a hub to the next alert of its partitions raised by another (p50 over \(kills) kills)",
                    kakehashi: [percentile(0.5)],
                    baselineName: "the bound the rules may take (20 s)",
                    baseline: [20],
                    unit: "s",
                    higherIsBetter: false
                ),
                BenchRow(
                    scenario: "Failover: the same, p99",
                    kakehashi: [percentile(0.99)],
                    baselineName: "the bound the rules may take (20 s)",
                    baseline: [20],
                    unit: "s",
                    higherIsBetter: false
                ),
            ],
            [
                "Failover: three release hubs on one throwaway PostgreSQL 15 and one mosquitto on the same two cores, alerts.lease_ttl 9 s "
                    + "(renewed every 3 s), reorder_wait 5 s; one gauge in each of the 64 partitions crossing its level every 0.5 s; hubs a "
                    + "and b killed in turn, each started again and given its share back before the next kill. Times (s): "
                    + times.map { String(format: "%.1f", $0) }.joined(separator: ", ") + "."
            ]
        )
    }
}
