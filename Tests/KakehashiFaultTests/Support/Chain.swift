import Foundation
import KakehashiMQTT
import KakehashiModel
import KakehashiSQLite
import KakehashiTestSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The whole chain as an operator runs it, every part a real process on loopback: sensors
/// publishing to an edge mosquitto, `kakehashi-gateway`, a central mosquitto, `kakehashi-hub`
/// with its SQLite file. Faults are real signals to real processes; what the hub stored is read
/// from its database file and compared with the publisher's exact list.
final class Chain: @unchecked Sendable {
    let edge: TestBroker
    let central: TestBroker
    let directory: URL
    let httpPort: Int
    private(set) var hub: ChildProcess?
    private(set) var gateway: ChildProcess?

    static let sensors = (0..<20).map { "s\($0)" }
    static let gatewayEdgeClient = "gw-fault-edge"
    /// 2026-06-02T00:00:00Z: reading `k` is observed `k` seconds later.
    static let baseMilliseconds: Int64 = 1_780_358_400_000

    /// `consumers`: the hub's ingest sessions (2 and more share one subscription).
    /// `outbox`: the outbox file (a path on a small filesystem for the disk-full tests).
    /// `ngsiLD`: the gateway sends to the hub's NGSI-LD API over HTTP instead of the central
    /// broker. `hubLimits`: the hub's `limits` section.
    init(
        consumers: Int,
        confirmTimeout: String = "2s",
        outbox: String = "outbox.sqlite",
        minFree: String = "16MiB",
        ngsiLD: Bool = false,
        hubLimits: String = "{}"
    ) throws {
        edge = try TestBroker()
        try edge.start()
        central = try TestBroker()
        try central.start()
        httpPort = try TestBroker.reusablePort()  // the hub comes back on it
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-fault-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)

        var devices = "devices:\n"
        for (index, sensor) in Self.sensors.enumerated() {
            devices += "  - { id: \(sensor), type: WaterObserved, name: gauge \(index), location: { lat: 33.\(index + 10), lon: 130.5 } }\n"
        }
        try devices.write(to: directory.appendingPathComponent("devices.yaml"), atomically: true, encoding: .utf8)
        try """
        tenant: kurume
        gateway: gw-01
        central: \(ngsiLD
            ? "{ kind: ngsi-ld, url: http://127.0.0.1:\(httpPort), batch_size: 200, shutdown_flush_timeout: 5s, retry_max: 1s, timeout: 10s }"
            : "{ host: 127.0.0.1, port: \(central.port), reconnect_max: 500ms, batch_size: 200, shutdown_flush_timeout: 5s, status_interval: 2s, confirm_timeout: \(confirmTimeout) }")
        outbox: { path: \(outbox), commit_interval: 20ms, sync: normal, min_free: \(minFree) }
        devices: devices.yaml
        metrics: { textfile: gateway.prom, interval: 500ms }
        sources:
          - name: edge
            kind: mqtt
            broker: { host: 127.0.0.1, port: \(edge.port), client_id: \(Self.gatewayEdgeClient), reconnect_max: 500ms }
            topics:
              - pattern: flood/{sensor}/level
                format: json
                timestamp: { field: ts, format: iso8601 }
                values: [ { attribute: waterLevel, field: level, unit: CMT, range: [-1000, 5000] } ]
        """.write(to: directory.appendingPathComponent("gateway.yaml"), atomically: true, encoding: .utf8)
        try """
        http: { host: 127.0.0.1, port: \(httpPort) }
        storage: { path: hub.sqlite, sync: normal }
        ingest: { consumers: \(consumers) }
        broker: { host: 127.0.0.1, port: \(central.port), client_id: hub-fault, reconnect_max: 500ms }
        tenants: { kurume: { gateways: [gw-01] } }
        access: { require_keys: false }
        limits: \(hubLimits)
        """.write(to: directory.appendingPathComponent("hub.yaml"), atomically: true, encoding: .utf8)
    }

    deinit {
        hub?.signal(SIGKILL)
        gateway?.signal(SIGKILL)
        _ = hub?.wait()
        _ = gateway?.wait()
        edge.stop(signal: SIGKILL)
        central.stop(signal: SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }

    static func binary(_ name: String) -> String { RepositoryPaths.root.appendingPathComponent(".build/debug/\(name)").path }

    /// Starts the hub and waits until it answers HTTP (its ingest sessions are subscribed by then).
    func startHub() async throws {
        hub = try ChildProcess(
            executable: Self.binary("kakehashi-hub"),
            arguments: ["run", "--config", directory.appendingPathComponent("hub.yaml").path],
            logFile: directory.appendingPathComponent("hub.log").path
        )
        try await waitUntil("the hub listens", timeout: .seconds(60)) {
            guard hub?.isRunning == true else { throw TestSupportError("the hub exited: \(hubLog.suffix(2000))") }
            return TestBroker.accepts(port: httpPort)
        }
    }

    /// Stops the hub with `signal` and waits for it.
    func stopHub(_ signal: Int32 = SIGTERM) async {
        hub?.signal(signal)
        await hub?.exit()
        hub = nil
    }

    /// Registers the gateway's persistent edge session first (what sensors publish from now on
    /// waits for it), then starts the gateway.
    func startGateway() async throws {
        var configuration = MQTTConfiguration(host: edge.host, port: edge.port, clientID: Self.gatewayEdgeClient)
        configuration.session = .persistent
        let client = try MQTTClient(configuration: configuration)
        try await client.connect()
        _ = try await client.subscribe("flood/+/level", qos: .atLeastOnce)
        await client.disconnect()
        gateway = try ChildProcess(
            executable: Self.binary("kakehashi-gateway"),
            arguments: ["run", directory.appendingPathComponent("gateway.yaml").path],
            logFile: directory.appendingPathComponent("gateway.log").path
        )
    }

    func stopGateway(_ signal: Int32 = SIGTERM) async -> Int32 {
        gateway?.signal(signal)
        let status = await gateway?.exit() ?? -1
        gateway = nil
        return status
    }

    var hubLog: String { (try? String(contentsOf: directory.appendingPathComponent("hub.log"), encoding: .utf8)) ?? "" }
    var gatewayLog: String { (try? String(contentsOf: directory.appendingPathComponent("gateway.log"), encoding: .utf8)) ?? "" }

    /// A sample of the gateway's metrics textfile, nil until written.
    func gatewayMetric(_ name: String) -> Double? {
        let text = (try? String(contentsOf: directory.appendingPathComponent("gateway.prom"), encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    /// "sensor@k" for every reading in the hub's database.
    func stored() throws -> Set<String> {
        let file = directory.appendingPathComponent("hub.sqlite").path
        guard FileManager.default.fileExists(atPath: file) else { return [] }
        let db = try SQLiteConnection(path: file, readOnly: true)
        try db.execute("PRAGMA busy_timeout=5000")
        let rows = try db.prepare("SELECT s.entity, o.t FROM observations o JOIN series s ON s.id = o.series WHERE s.attribute = 'waterLevel'")
        var keys = Set<String>()
        while try rows.step() {
            let sensor = (rows.string(0) ?? "").split(separator: ":").last.map(String.init) ?? ""
            keys.insert("\(sensor)@\((rows.int64(1) - Self.baseMilliseconds) / 1000)")
        }
        return keys
    }

    /// The outbox depth the gateway reports.
    var outboxDepth: Double? { gatewayMetric("kakehashi_gateway_outbox_depth") }

    /// The gateway's dead letters: reason and detail of each.
    func gatewayDeadLetters(outbox: String = "outbox.sqlite") throws -> [(reason: String, detail: String)] {
        let db = try SQLiteConnection(path: directory.appendingPathComponent(outbox).path, readOnly: true)
        let rows = try db.prepare("SELECT reason, detail FROM deadletters")
        var letters = [(reason: String, detail: String)]()
        while try rows.step() { letters.append((rows.string(0) ?? "", rows.string(1) ?? "")) }
        return letters
    }
}

/// Sensors on the edge broker publishing readings `0..<total` at `perSecond`, round-robin over the
/// sensors; reading `k` is `sensors[k % 20]` observed at second `k`. A reading counts as accepted
/// when the edge broker acknowledged it; a publish that fails is tried again.
final class Publisher: Sendable {
    let accepted = Mutex<Set<String>>([])
    let attempted = Mutex<Set<String>>([])
    let finished = Mutex(false)
    /// The first reading's index (a second publisher continues where a first one ended).
    let offset: Int

    init(offset: Int = 0) { self.offset = offset }

    static func key(_ k: Int) -> String { "\(Chain.sensors[k % Chain.sensors.count])@\(k)" }

    func run(chain: Chain, total: Int, perSecond: Int) async throws {
        var configuration = MQTTConfiguration(host: chain.edge.host, port: chain.edge.port, clientID: "sensors-fault-\(offset)")
        configuration.session = .persistent
        configuration.reconnect = Backoff(initial: .milliseconds(50), maximum: .milliseconds(300))
        let client = try MQTTClient(configuration: configuration)
        try await client.connect()
        let clock = ContinuousClock()
        let start = clock.now
        for k in offset..<(offset + total) {
            try await clock.sleep(until: start + .milliseconds((k - offset) * 1000 / perSecond))
            let time = Timestamp(millisecondsSinceEpoch: Chain.baseMilliseconds + Int64(k) * 1000)
            let payload = Array(#"{"level":\#(100 + k % 300),"ts":"\#(time.iso8601)"}"#.utf8)
            attempted.withLock { _ = $0.insert(Self.key(k)) }
            while true {
                do {
                    try await client.publish("flood/\(Chain.sensors[k % Chain.sensors.count])/level", payload: payload, qos: .atLeastOnce)
                    accepted.withLock { _ = $0.insert(Self.key(k)) }
                    break
                } catch {
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        }
        await client.disconnect()
        finished.withLock { $0 = true }
    }
}
