import Foundation
import KakehashiHub
import KakehashiHubCore
import KakehashiHubTestSupport
import KakehashiMQTT
import KakehashiModel
import KakehashiTestSupport
import Logging
import Testing

/// Several hubs (`instance: a`, `instance: b`) over one PostgreSQL database and one mosquitto:
/// the broker hands each batch to one session of one hub, and whichever stores it, each reading
/// is stored once.
@Suite("Hubs sharing a database and a broker")
struct SharedHubsTests {
    @Test func twoHubsShareIngest() async throws {
        let broker = try TestBroker()
        try broker.start()
        defer { broker.stop() }
        let url = try TestPostgres.shared().createDatabase(prefix: "shared_ingest")
        let session = MQTTConfiguration(host: broker.host, port: broker.port, clientID: "hub")
        var hubs = [Hub]()
        for instance in ["a", "b"] {
            var configuration = HubHarness.configuration()
            configuration.requireKeys = false
            configuration.storageKind = .postgres(.init(url: url, poolSize: 4))
            configuration.instance = instance
            configuration.ingestConsumers = 2
            configuration.broker = session
            // The sessions exist before anything is published, as a hub's do once it ran.
            try await MQTTIngest.prepareSessions(broker: session, consumers: 2, instance: instance, logger: Logger(label: "test"))
            hubs.append(try await Hub.open(configuration: configuration, logger: Logger(label: "test")))
        }
        let running = hubs.map { hub in Task { try await hub.ingest!.run() } }
        defer { for task in running { task.cancel() } }

        let publisher = try await MQTTIngestTests.publisher(broker)
        // 40 batches of 10 readings, and 10 of them again (a gateway resending after a lost confirmation).
        for n in 0..<40 {
            try await publisher.publish(
                MQTTIngestTests.topic,
                payload: MQTTIngestTests.wireBatch(n * 10..<(n + 1) * 10, sequenceBase: UInt64(n * 10)),
                qos: .atLeastOnce
            )
        }
        for n in 0..<10 {
            try await publisher.publish(
                MQTTIngestTests.topic,
                payload: MQTTIngestTests.wireBatch(n * 10..<(n + 1) * 10, sequenceBase: UInt64(n * 10)),
                qos: .atLeastOnce
            )
        }
        await publisher.disconnect()
        func total(_ name: String) -> Double { hubs.reduce(0) { $0 + ($1.registry.value(name) ?? 0) } }
        try await waitUntil("every batch is stored by one hub or the other", timeout: .seconds(120)) {
            total("kakehashi_hub_batches_stored_total") == 50
        }
        #expect(total("kakehashi_hub_readings_stored_total") == 400)
        #expect(total("kakehashi_hub_readings_duplicate_total") == 100)
        // Both took part: the broker shared the batches between the hubs' sessions.
        for hub in hubs { #expect((hub.registry.value("kakehashi_hub_batches_stored_total") ?? 0) > 0) }
        for hub in hubs {
            let statistics = try await hub.store.statistics()
            #expect(statistics.observations == 400 && statistics.entities == 1)
            let latest = try await hub.store.entity(tenant: Readings.kurume, id: Readings.gauge("w1"))
            let level = latest?.attributes["waterLevel"].flatMap { NGSIEntity.observedValue($0) }
            #expect(level?.observedAt == Readings.t0.advanced(byMilliseconds: 399 * 60_000))
        }
        for hub in hubs { await hub.close() }
    }
}
