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
import Testing

#if canImport(Glibc)
import Glibc
import KakehashiHubTestSupport
#endif

/// Ingest through a real mosquitto: batches published by a "gateway" reach the API once each.
@Suite("Hub MQTT ingest against mosquitto", .serialized)
struct MQTTIngestTests {
    static let gateway = try! GatewayID("gw-01")
    static let topic = WireTopic(tenant: Readings.kurume, gateway: gateway, kind: .observations).name

    static func wireBatch(_ range: Range<Int>, gauge: String = "w1", sequenceBase: UInt64 = 0) -> [UInt8] {
        let entries = range.map { i in
            WireBatch.Entry(sequence: sequenceBase + UInt64(i) + 1, entity: Readings.level(gauge, Double(i) / 100, minutes: Int64(i)))
        }
        return try! WireBatch(tenant: Readings.kurume, gateway: gateway, entries: entries).payload()
    }

    /// Creates the hub's persistent sessions (subscribed, shared by the default consumers) so
    /// that what is published now waits for them.
    static func prepareSession(_ broker: TestBroker, clientID: String) async throws {
        let settings = MQTTConfiguration(host: broker.host, port: broker.port, clientID: clientID)
        try await MQTTIngest.prepareSessions(
            broker: settings,
            consumers: HubConfiguration(storagePath: "", tenants: [:]).ingestConsumers,
            logger: Logger(label: "test")
        )
    }

    static func publisher(_ broker: TestBroker) async throws -> MQTTClient {
        let client = try MQTTClient(
            configuration: MQTTConfiguration(host: broker.host, port: broker.port, clientID: "test-gateway-\(UUID().uuidString.prefix(8))")
        )
        try await client.connect()
        return client
    }

    @Test func batchesAppearOnceAndBadOnesAreDeadLettered() async throws {
        let broker = try TestBroker()
        try broker.start()
        defer { broker.stop() }
        var configuration = HubHarness.configuration()
        configuration.requireKeys = false  // the router is driven without keys (AccessTests cover them)
        configuration.broker = MQTTConfiguration(host: broker.host, port: broker.port, clientID: "hub-ingest-test")
        let hub = try Hub(configuration: configuration, logger: Logger(label: "test"))
        let ingest = try #require(hub.ingest)
        let running = Task { try await ingest.run() }
        defer { running.cancel() }
        // A bound for failure only: at the start of a full run on two cores every suite competes.
        try await waitUntil("the hub is connected", timeout: .seconds(120)) { ingest.isConnected }

        let client = try await Self.publisher(broker)
        let batch = Self.wireBatch(0..<10)
        for _ in 0..<3 { try await client.publish(Self.topic, payload: batch, qos: .atLeastOnce) }
        try await client.publish(Self.topic, payload: Self.wireBatch(5..<15, sequenceBase: 100), qos: .atLeastOnce)
        // Rejected: not JSON; a gateway the tenant does not have; a batch naming another gateway.
        try await client.publish(Self.topic, payload: Array("{not json".utf8), qos: .atLeastOnce)
        try await client.publish("kakehashi/v1/kurume/gw-stranger/obs", payload: batch, qos: .atLeastOnce)
        try await client.publish("kakehashi/v1/omuta/gw-om/obs", payload: batch, qos: .atLeastOnce)
        await client.disconnect()

        try await waitUntil("every batch is handled", timeout: .seconds(20)) {
            let letters = (try? awaitSync { try await hub.store.deadLetters(limit: 10) })?.count ?? 0
            let stored = hub.registry.value("kakehashi_hub_batches_stored_total") ?? 0
            return letters == 3 && stored == 4
        }
        let values = try await hub.store.observations(
            tenant: Readings.kurume,
            entity: Readings.gauge("w1"),
            attribute: "waterLevel",
            range: .all,
            lastN: nil,
            limit: 1000
        )
        #expect(values.count == 15)
        #expect(hub.registry.value("kakehashi_hub_readings_stored_total") == 15)
        #expect(hub.registry.value("kakehashi_hub_readings_duplicate_total") == 25)
        let reasons = try await hub.store.deadLetters(limit: 10).map(\.reason).sorted()
        #expect(reasons == ["invalid_batch", "topic_mismatch", "unknown_gateway"])
        #expect(hub.registry.value("kakehashi_hub_batches_rejected_total", [("reason", "unknown_gateway")]) == 1)

        // And through the API, with health and metrics.
        let app = Application(router: hub.router())
        try await app.test(.router) { api in
            let entity = try await api.call(.get, "/ngsi-ld/v1/entities/\(Readings.gauge("w1").rawValue)?options=keyValues")
            #expect(entity.json["waterLevel"]?.numberValue == 0.14)
            let health = try await api.call(.get, "/healthz", tenant: nil)
            #expect(health.status == .ok && health.json["broker"]?.stringValue == "connected")
            let metrics = try await api.call(.get, "/metrics", tenant: nil)
            #expect(metrics.text.contains("kakehashi_hub_readings_stored_total 15"))
            #expect(metrics.text.contains("kakehashi_hub_broker_connected 1"))
        }
        running.cancel()
        _ = try? await running.value
    }

    @Test func healthFailsWithoutBroker() async throws {
        var configuration = HubHarness.configuration()
        configuration.requireKeys = false  // the router is driven without keys (AccessTests cover them)
        configuration.broker = MQTTConfiguration(host: "127.0.0.1", port: try TestBroker.freePort(), clientID: "hub-nobroker")
        let hub = try Hub(configuration: configuration, logger: Logger(label: "test"))
        let app = Application(router: hub.router())
        try await app.test(.router) { api in
            let health = try await api.call(.get, "/healthz", tenant: nil)
            #expect(health.status == .serviceUnavailable)
            #expect(health.json["broker"]?.stringValue == "disconnected")
            #expect(health.json["storage"]?.stringValue == "ok")
        }
    }

    /// The real executable, killed with SIGKILL three times while it ingests 20,000 readings that
    /// the broker acknowledged to the publisher: after the last restart every reading is stored,
    /// once, and the rollups count each once.
    @Test func killedHubLosesNothingAcknowledged() async throws {
        let broker = try TestBroker()
        try broker.start()
        defer { broker.stop() }
        let directory = URL(fileURLWithPath: Readings.temporaryDatabase()).deletingLastPathComponent()
        let database = directory.appendingPathComponent("hub.sqlite").path
        let configFile = directory.appendingPathComponent("hub.yaml").path
        try """
        http: { host: 127.0.0.1, port: \(try TestBroker.freePort()) }
        storage: { path: hub.sqlite, sync: full }
        broker: { host: \(broker.host), port: \(broker.port), client_id: hub-kill-test }
        tenants:
          kurume: { gateways: [gw-01] }
        """.write(toFile: configFile, atomically: true, encoding: .utf8)
        try await Self.prepareSession(broker, clientID: "hub-kill-test")

        let batches = 400, perBatch = 50, total = batches * perBatch
        let client = try await Self.publisher(broker)
        for b in 0..<batches {
            try await client.publish(Self.topic, payload: Self.wireBatch(b * perBatch..<(b + 1) * perBatch, gauge: "k\(b % 20)"), qos: .atLeastOnce)
        }
        await client.disconnect()

        func stored() -> Int {
            guard let db = try? SQLiteConnection(path: database, readOnly: true) else { return 0 }
            return Int((try? db.scalar("SELECT count(*) FROM observations")) ?? 0)
        }
        let executable = RepositoryPaths.root.appendingPathComponent(".build/debug/kakehashi-hub").path
        var kills = 0
        var previous = 0
        for round in 0..<4 {
            let process = try ChildProcess(
                executable: executable,
                arguments: ["run", "--config", configFile],
                logFile: directory.appendingPathComponent("hub-\(round).log").path
            )
            if round == 3 {
                try await waitUntil("all \(total) readings are stored", timeout: .seconds(120)) { stored() >= total }
                process.signal(SIGTERM)
                #expect(process.wait() == 0)
                break
            }
            // Kill once this run has stored something more, mid-stream.
            try await waitUntil("run \(round) stores readings", timeout: .seconds(60)) { stored() > previous }
            process.signal(SIGKILL)
            _ = process.wait()
            kills += 1
            previous = stored()
            #expect(previous < total, "the kill should land mid-ingest")
        }
        #expect(kills == 3)
        let db = try SQLiteConnection(path: database, readOnly: true)
        #expect(try db.scalar("SELECT count(*) FROM observations") == Int64(total))
        #expect(try db.scalar("SELECT sum(n) FROM rollups WHERE resolution = 3600000") == Int64(total))
        // Minute buckets are computed from raw rows until retention rolls them up.
        #expect(try db.scalar("SELECT count(*) FROM rollups WHERE resolution = 60000") == 0)
        #expect(try db.scalar("SELECT count(*) FROM deadletters") == 0)
    }
}

/// Runs an async throwing call from a synchronous condition (tests only).
func awaitSync<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let semaphore = DispatchSemaphore(value: 0)
    Task {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        semaphore.signal()
    }
    semaphore.wait()
    return try box.result!.get()
}

final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
