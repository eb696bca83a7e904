import Foundation
import Hummingbird
import HummingbirdTesting
import KakehashiHubSQLite
import KakehashiMQTT
import KakehashiModel
import KakehashiTestSupport
import Logging
import Testing

@testable import KakehashiHub
@testable import KakehashiHubCore

#if canImport(Glibc)
import Glibc
import KakehashiHubTestSupport
#endif

/// The hub's database on a small filesystem that fills up and frees again: batches are held
/// unacknowledged while storage fails (the broker keeps them), `/healthz` says why, and every
/// reading is stored once space returns. Needs root (a tmpfs mount), as CI and deploy/test run.
@Suite(
    .serialized,
    .enabled(if: getuid() == 0, "mounting a small tmpfs needs root"),
    .enabled(if: SlowTests.enabled, "slow: deploy/test --fast skips it")
)
struct FullDiskTests {
    @Test(.timeLimit(.minutes(3)))
    func aFullDiskHoldsBatchesUntilSpaceReturnsAndLosesNothing() async throws {
        let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("kk-full-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        #expect(Self.shell("mount -t tmpfs -o size=16m tmpfs '\(mountPoint.path)'") == 0, "mounting a 16 MiB tmpfs")
        defer {
            _ = Self.shell("umount -l '\(mountPoint.path)'")
            try? FileManager.default.removeItem(at: mountPoint)
        }
        let broker = try TestBroker()
        try broker.start()
        defer { broker.stop() }
        var configuration = HubHarness.configuration(path: mountPoint.appendingPathComponent("hub.sqlite").path)
        configuration.requireKeys = false
        configuration.broker = MQTTConfiguration(host: broker.host, port: broker.port, clientID: "hub-full-disk")
        let hub = try Hub(configuration: configuration, logger: Logger(label: "test"))
        let ingest = try #require(hub.ingest)
        let running = Task { try await ingest.run() }
        defer { running.cancel() }
        try await waitUntil("the hub is connected", timeout: .seconds(30)) { ingest.isConnected }
        let publisher = try MQTTClient(configuration: MQTTConfiguration(host: broker.host, port: broker.port, clientID: "gw-full-disk"))
        try await publisher.connect()
        func publish(_ batch: Int) async throws {
            let entries = (0..<100).map { i in
                let n = batch * 100 + i
                return WireBatch.Entry(sequence: UInt64(n + 1), entity: Readings.level("w\(n % 50)", Double(n % 300) / 100, minutes: Int64(n)))
            }
            try await publisher.publish(
                MQTTIngestTests.topic,
                payload: WireBatch(tenant: Readings.kurume, gateway: MQTTIngestTests.gateway, entries: entries).payload(),
                qos: .atLeastOnce
            )
        }
        let stored = { hub.registry.value("kakehashi_hub_batches_stored_total") ?? 0 }
        try await publish(0)
        try await waitUntil("the first batch is stored", timeout: .seconds(20)) { stored() == 1 }

        // The disk fills up: a ballast file takes every byte left.
        let ballast = mountPoint.appendingPathComponent("ballast")
        #expect(FileManager.default.createFile(atPath: ballast.path, contents: nil))
        let handle = try FileHandle(forWritingTo: ballast)
        let chunk = Data(repeating: 0xA5, count: 64 * 1024)
        while (try? handle.write(contentsOf: chunk)) != nil {}
        try? handle.close()
        for batch in 1...20 { try await publish(batch) }
        // Longer than any give-up: the same batches fail a dozen times (pauses growing to 5 s) and stay held.
        try await waitUntil("storage fails a dozen times", timeout: .seconds(60)) { (hub.api.ingestor.health.failing?.attempts ?? 0) >= 12 }
        let app = Application(router: hub.router())
        try await app.test(.router) { api in
            let health = try await api.call(.get, "/healthz", tenant: nil)
            #expect(health.status == .serviceUnavailable)
            #expect(health.json["storage"]?.stringValue?.contains("batches are held unacknowledged") == true, "\(health.text)")
            #expect(health.json["storage"]?.stringValue?.contains("full") == true, "\(health.text)")
        }
        #expect(stored() < 21)
        #expect(hub.registry.value("kakehashi_hub_batches_rejected_total", [("reason", "storage_failed")]) == 0)

        // Space returns: everything held is stored, once.
        try FileManager.default.removeItem(at: ballast)
        try await waitUntil("every batch is stored", timeout: .seconds(60)) { stored() >= 21 }
        #expect(hub.api.ingestor.health.failing == nil)
        var total = 0
        for gauge in 0..<50 {
            total += try await hub.store.observations(
                tenant: Readings.kurume,
                entity: Readings.gauge("w\(gauge)"),
                attribute: "waterLevel",
                range: .all,
                lastN: nil,
                limit: 10_000
            ).count
        }
        #expect(total == 2_100)
        #expect(try await hub.store.deadLetters(limit: 10).isEmpty)
        try await app.test(.router) { api in
            let health = try await api.call(.get, "/healthz", tenant: nil)
            #expect(health.status == .ok)
        }
        await publisher.disconnect()
        running.cancel()
        _ = try? await running.value
    }

    static func shell(_ command: String) -> Int32 {
        guard let child = try? ChildProcess(executable: "/bin/sh", arguments: ["-c", command], logFile: "/dev/null") else { return -1 }
        return child.wait()
    }
}
