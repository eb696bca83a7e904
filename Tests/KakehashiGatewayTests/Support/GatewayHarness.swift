import Foundation
import KakehashiMQTT
import KakehashiModel
import KakehashiTestSupport
import Synchronization

@testable import KakehashiGateway

/// Two real mosquitto brokers (edge and central), a gateway process between them, a sensor
/// publisher on the edge and a collector on the central broker.
final class GatewayHarness: @unchecked Sendable {
    let edge: TestBroker
    let central: TestBroker
    let directory: URL
    var process: ChildProcess?
    var starts = 0

    static let sensors = (0..<20).map { "s\($0)" }

    /// `central`: the gateway's `central` section instead of the central broker's.
    init(quota: String = "256MiB", commitBatch: Int = 2000, batchSize: Int = 500, central centralSection: String? = nil) throws {
        edge = try TestBroker()
        try edge.start()
        central = try TestBroker()
        try central.start()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-gateway-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var devices = "devices:\n"
        for (index, sensor) in Self.sensors.enumerated() {
            devices +=
                "  - { id: \(sensor), type: WaterObserved, name: gauge \(index), location: { lat: 33.\(index + 10), lon: 130.5 }, "
                + "thresholds: { alert: 2.1, danger: 2.8 } }\n"
        }
        devices += "  - { id: station-east, type: CrowdFlowObserved, location: { lat: 33.3199, lon: 130.5238 }, interval: 60 }\n"
        try devices.write(to: directory.appendingPathComponent("devices.yaml"), atomically: true, encoding: .utf8)
        let centralYAML =
            centralSection
            ?? "{ host: 127.0.0.1, port: \(central.port), reconnect_max: 500ms, batch_size: \(batchSize), in_flight_batches: 8, "
            + "shutdown_flush_timeout: 5s, status_interval: 2s }"
        let configuration = """
            tenant: kurume
            gateway: gw-test
            central: \(centralYAML)
            outbox: { path: outbox.sqlite, quota: \(quota), commit_interval: 20ms, commit_batch: \(commitBatch), sync: full }
            devices: devices.yaml
            metrics: { textfile: gateway.prom, interval: 1s }
            sources:
              - name: edge
                kind: mqtt
                broker: { host: 127.0.0.1, port: \(edge.port), client_id: gw-test-edge, reconnect_max: 500ms }
                topics:
                  - pattern: flood/{sensor}/level
                    format: json
                    timestamp: { field: ts, format: iso8601, assume_offset: "+09:00" }
                    values: [ { attribute: waterLevel, field: level, unit: CMT, range: [-1000, 5000] } ]
                  - pattern: counters/{sensor}
                    format: csv
                    timestamp: { column: 0, format: epoch_s }
                    values: [ { attribute: peopleCount, column: 1 }, { attribute: occupancy, column: 2, unit: P1 } ]
                  - pattern: lpwa/{sensor}/up
                    format: binary
                    timestamp: { offset: 0, type: u32, format: epoch_s }
                    values: [ { attribute: waterLevel, offset: 4, type: i16, unit: MMT } ]
            """
        try configuration.write(to: directory.appendingPathComponent("gateway.yaml"), atomically: true, encoding: .utf8)
    }

    deinit {
        process?.signal(SIGKILL)
        _ = process?.wait()
        edge.stop()
        central.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    var configurationFile: String { directory.appendingPathComponent("gateway.yaml").path }
    var outboxFile: String { directory.appendingPathComponent("outbox.sqlite").path }
    /// A sample of the gateway's metrics textfile (rewritten every second), nil until written.
    func metric(_ name: String) -> Double? {
        let text = (try? String(contentsOf: directory.appendingPathComponent("gateway.prom"), encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }
    }
    var log: String { (try? String(contentsOf: directory.appendingPathComponent("gateway.log"), encoding: .utf8)) ?? "" }

    static var executable: String {
        RepositoryPaths.root.appendingPathComponent(".build/debug/kakehashi-gateway").path
    }

    /// Creates the gateway's persistent session on the edge broker before it first runs, so that
    /// everything published from now on waits for it.
    func prepareEdgeSession() async throws {
        var configuration = MQTTConfiguration(host: edge.host, port: edge.port, clientID: "gw-test-edge")
        configuration.session = .persistent
        let client = try MQTTClient(configuration: configuration)
        try await client.connect()
        for filter in ["flood/+/level", "counters/+", "lpwa/+/up"] { _ = try await client.subscribe(filter, qos: .atLeastOnce) }
        await client.disconnect()
    }

    func start() throws {
        starts += 1
        process = try ChildProcess(
            executable: Self.executable,
            arguments: ["run", configurationFile],
            logFile: directory.appendingPathComponent("gateway.log").path
        )
    }

    func kill() {
        process?.signal(SIGKILL)
        _ = process?.wait()
        process = nil
    }

    /// SIGTERM; returns the exit status.
    func terminate() -> Int32 {
        guard let process else { return -1 }
        process.signal(SIGTERM)
        let status = process.wait()
        self.process = nil
        return status
    }

    /// A sensor publisher on the edge broker.
    func sensorClient() async throws -> MQTTClient {
        let client = try MQTTClient(
            configuration: MQTTConfiguration(host: edge.host, port: edge.port, clientID: "sensors-\(UUID().uuidString.prefix(6))")
        )
        try await client.connect()
        return client
    }

    /// A collector on the central broker with a persistent session (it survives broker restarts).
    func collector() async throws -> CentralCollector {
        var configuration = MQTTConfiguration(host: central.host, port: central.port, clientID: "collector-\(UUID().uuidString.prefix(6))")
        configuration.session = .persistent
        configuration.reconnect = Backoff(initial: .milliseconds(50), maximum: .milliseconds(300))
        configuration.bufferCapacity = 100_000
        let client = try MQTTClient(configuration: configuration)
        try await client.connect()
        let subscription = try await client.subscribe("kakehashi/v1/+/+/obs", qos: .atLeastOnce)
        return CentralCollector(client: client, subscription: subscription)
    }

    /// A JSON flood reading: `level` centimetres at `minute` minutes after 2026-06-02T09:00 (+09:00).
    static func floodPayload(level: Double, second: Int) -> [UInt8] {
        let time = Timestamp(millisecondsSinceEpoch: 1_780_358_400_000 + Int64(second) * 1000)  // 2026-06-02T00:00:00Z
        return Array(#"{"level":\#(level),"ts":"\#(time.iso8601)"}"#.utf8)
    }
}

/// Everything the central broker delivered, parsed as wire batches; each batch is confirmed to
/// its gateway as the hub does (``WireAcknowledgement`` on `…/ack`), once it is in the list.
final class CentralCollector: @unchecked Sendable {
    struct Entry: Hashable {
        let sequence: Int64
        let entity: NGSIEntity
        var id: String { entity.id.rawValue }
        var observedAt: String? {
            guard case .object(let members) = entity.json(.normalized), case .object(let level)? = members["waterLevel"] ?? members["peopleCount"],
                case .string(let time)? = level["observedAt"]
            else { return nil }
            return time
        }
    }

    final class Store: Sendable {
        let entries = Mutex<[Entry]>([])
        let malformed = Mutex(0)
    }

    let client: MQTTClient
    let store = Store()
    var task: Task<Void, Never>?

    init(client: MQTTClient, subscription: MQTTSubscription) {
        self.client = client
        task = Task { [store, client] in
            for await message in subscription {
                do {
                    let batch = try WireBatch(payload: message.payload)
                    store.entries.withLock { list in
                        for entry in batch.entries { list.append(Entry(sequence: Int64(entry.sequence), entity: entry.entity)) }
                    }
                    if let first = batch.entries.first, let last = batch.entries.last {
                        let confirmation = WireAcknowledgement(ranges: [first.sequence...last.sequence], outcome: .stored)
                        try? await client.enqueue(
                            WireAcknowledgement.topic(tenant: batch.tenant, gateway: batch.gateway),
                            payload: confirmation.payload(),
                            qos: .atLeastOnce
                        ) { _ in }
                    }
                } catch {
                    store.malformed.withLock { $0 += 1 }
                }
            }
        }
    }

    var all: [Entry] { store.entries.withLock { $0 } }
    var malformed: Int { store.malformed.withLock { $0 } }
    var distinctSequences: Set<Int64> { Set(all.map(\.sequence)) }

    func stop() async {
        await client.disconnect()
        task?.cancel()
    }
}
