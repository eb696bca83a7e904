import Foundation
import KakehashiGateway
import KakehashiMQTT
import KakehashiTestSupport
import Logging

/// Readings per second from an edge broker to a central broker, acknowledged there: the gateway
/// (durable outbox, sync full) against the raw relay `mosquitto_sub | mosquitto_pub -l`, same
/// brokers setup, same publisher, same count, in the same run. Also the gateway's peak RSS and the
/// outbox's bytes on disk per reading.
enum GatewayScenarios {
    static func run(binary gatewayBinary: String, repeats: Int, count: Int) async throws -> (rows: [BenchRow], notes: [String]) {
        var notes = [String]()
        var gateway = [Double](), relay = [Double](), rss = [Double]()
        for round in 0..<repeats {
            if round % 2 == 0 {
                let (rate, peak) = try await gatewayRun(binary: gatewayBinary, count: count)
                gateway.append(rate); rss.append(peak)
                relay.append(try await relayRun(count: count))
            } else {
                relay.append(try await relayRun(count: count))
                let (rate, peak) = try await gatewayRun(binary: gatewayBinary, count: count)
                gateway.append(rate); rss.append(peak)
            }
        }
        let bytes = try await bytesPerReading(binary: gatewayBinary, count: 10_000)
        let rssMedian = rss.sorted()[rss.count / 2]
        notes.append(String(format: "Gateway peak RSS (VmHWM) at that load: median %.1f MB (%.1f–%.1f) over %d runs.", rssMedian, rss.min() ?? 0, rss.max() ?? 0, rss.count))
        notes.append(String(format: "Outbox on disk: %.0f bytes per WaterObserved reading (10,000 held while the central broker is away).", bytes))
        return ([
            BenchRow(scenario: "Gateway edge → central, \(count) JSON readings acknowledged, outbox sync full",
                     kakehashi: gateway, baselineName: "mosquitto_sub \\| mosquitto_pub -l (QoS 1, no durability)", baseline: relay,
                     unit: "readings/s", higherIsBetter: true),
        ], notes)
    }

    /// The environment the systemd unit (deploy/gateway/kakehashi-gateway.service) gives the
    /// gateway, so that the figures are those of the installed gateway.
    static let installedEnvironment = ["MALLOC_ARENA_MAX=2"]

    static func payload(_ i: Int) -> [UInt8] {
        let ms = 1_780_358_400_000 + Int64(i / 20) * 1000
        let seconds = ms / 1000
        return Array(#"{"level":\#(100 + i % 300),"ts":\#(seconds)}"#.utf8)
    }

    /// Publishes `count` readings on the edge broker with a window of 256 QoS 1 publishes.
    static func publish(_ broker: TestBroker, count: Int) async throws {
        var configuration = MQTTConfiguration(host: broker.host, port: broker.port, clientID: "bench-sensors")
        configuration.inflightWindow = 256
        let client = try MQTTClient(configuration: configuration, logger: quiet)
        try await client.connect()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<256 {
                group.addTask {
                    for i in stride(from: lane, to: count, by: 256) {
                        try await client.publish("flood/s\(i % 20)/level", payload: payload(i), qos: .atLeastOnce)
                    }
                }
            }
            try await group.waitForAll()
        }
        await client.disconnect()
    }

    static var quiet: Logger {
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        return logger
    }

    /// Counts readings arriving on `filter` (wire batches: by their `"seq":` keys; raw relay: messages).
    static func counter(_ broker: TestBroker, filter: String, batches: Bool) async throws -> (MQTTClient, MQTTSubscription) {
        var configuration = MQTTConfiguration(host: broker.host, port: broker.port, clientID: "bench-central-\(UUID().uuidString.prefix(6))")
        configuration.bufferCapacity = 1 << 16
        let client = try MQTTClient(configuration: configuration, logger: quiet)
        try await client.connect()
        return (client, try await client.subscribe(filter, qos: .atLeastOnce))
    }

    static func readings(in payload: [UInt8]) -> Int { occurrences(of: Array(#"{"seq":"#.utf8), in: payload) }

    /// How many times `key` occurs in `payload` (readings in a message, counted without parsing it).
    static func occurrences(of key: [UInt8], in payload: [UInt8]) -> Int {
        var count = 0, i = 0
        while i + key.count <= payload.count {
            if payload[i] == key[0], payload[i..<(i + key.count)].elementsEqual(key) { count += 1; i += key.count } else { i += 1 }
        }
        return count
    }

    static func wait(for subscription: MQTTSubscription, count: Int, batches: Bool) async -> ContinuousClock.Instant {
        var received = 0
        var last = ContinuousClock.now
        for await message in subscription {
            received += batches ? readings(in: message.payload) : 1
            last = ContinuousClock.now
            if received >= count { break }
        }
        return last
    }

    /// Writes the bench gateway's configuration and device registry (`sensors` gauges) into
    /// `directory`; returns the configuration file.
    static func configuration(edge: TestBroker, centralPort: Int, directory: URL, sensors: [String] = (0..<20).map { "s\($0)" },
                              timestampFormat: String = "epoch_s") throws -> String {
        var devices = "devices:\n"
        for sensor in sensors { devices += "  - { id: \(sensor), type: WaterObserved, location: { lat: 33.3, lon: 130.5 }, thresholds: { alert: 2.1, danger: 2.8 } }\n" }
        try devices.write(to: directory.appendingPathComponent("devices.yaml"), atomically: true, encoding: .utf8)
        let text = """
            tenant: kurume
            gateway: gw-bench
            central: { host: 127.0.0.1, port: \(centralPort), batch_size: 500, in_flight_batches: 8, reconnect_max: 500ms }
            outbox: { path: outbox.sqlite, sync: full }
            devices: devices.yaml
            sources:
              - name: edge
                kind: mqtt
                broker: { host: 127.0.0.1, port: \(edge.port), client_id: gw-bench-edge }
                topics:
                  - pattern: flood/{sensor}/level
                    format: json
                    timestamp: { field: ts, format: \(timestampFormat) }
                    values: [ { attribute: waterLevel, field: level, unit: CMT } ]
            """
        let file = directory.appendingPathComponent("gateway.yaml")
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    /// Creates the gateway's session on the edge broker so that nothing published is missed.
    static func prepareSession(_ edge: TestBroker) async throws {
        var configuration = MQTTConfiguration(host: edge.host, port: edge.port, clientID: "gw-bench-edge")
        configuration.session = .persistent
        let client = try MQTTClient(configuration: configuration, logger: quiet)
        _ = try await client.subscribe("flood/+/level", qos: .atLeastOnce)
        await client.disconnect()
    }

    static func gatewayRun(binary: String, count: Int) async throws -> (Double, Double) {
        let edge = try TestBroker(), central = try TestBroker()
        try edge.start()
        try central.start()
        defer { edge.stop(); central.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try configuration(edge: edge, centralPort: central.port, directory: directory)
        try await prepareSession(edge)
        let (client, subscription) = try await counter(central, filter: "kakehashi/v1/+/+/obs", batches: true)
        let process = try ChildProcess(executable: "/usr/bin/env", arguments: installedEnvironment + [binary, "run", file, "--log-level", "warning"],
                                       logFile: directory.appendingPathComponent("gateway.log").path)
        defer { process.signal(SIGKILL); _ = process.wait() }
        let start = ContinuousClock.now
        async let last = wait(for: subscription, count: count, batches: true)
        try await publish(edge, count: count)
        let end = await last
        let peak = peakRSS(process.pid)
        process.signal(SIGTERM)
        _ = process.wait()
        await client.disconnect()
        return (Double(count) / seconds(end - start), peak)
    }

    static func relayRun(count: Int) async throws -> Double {
        let edge = try TestBroker(), central = try TestBroker()
        try edge.start()
        try central.start()
        defer { edge.stop(); central.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-relay-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (client, subscription) = try await counter(central, filter: "relay/readings", batches: false)
        let command = "mosquitto_sub -i relay-sub -h 127.0.0.1 -p \(edge.port) -q 1 -t 'flood/+/level' | mosquitto_pub -i relay-pub -h 127.0.0.1 -p \(central.port) -q 1 -t relay/readings -l"
        // Its own process group: killing only the shell would leave mosquitto_sub and mosquitto_pub running.
        let relay = try ChildProcess(executable: "/bin/sh", arguments: ["-c", command], logFile: directory.appendingPathComponent("relay.log").path,
                                     ownGroup: true)
        defer { relay.signalGroup(SIGKILL); _ = relay.wait() }
        // The relay is ready when both of its clients are connected (mosquitto logs each connection).
        let readyBy = ContinuousClock.now + .seconds(10)
        while !(edge.log.contains(" as relay-sub ") && central.log.contains(" as relay-pub ")) {
            guard ContinuousClock.now < readyBy else { throw TestSupportError("the mosquitto_sub | mosquitto_pub relay did not connect") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let start = ContinuousClock.now
        async let last = wait(for: subscription, count: count, batches: false)
        try await publish(edge, count: count)
        let end = await last
        await client.disconnect()
        return Double(count) / seconds(end - start)
    }

    static func bytesPerReading(binary: String, count: Int) async throws -> Double {
        let edge = try TestBroker()
        try edge.start()
        defer { edge.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-bytes-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // No central broker: everything stays in the outbox.
        let file = try configuration(edge: edge, centralPort: try TestBroker.freePort(), directory: directory)
        try await prepareSession(edge)
        let process = try ChildProcess(executable: binary, arguments: ["run", file, "--log-level", "critical"],
                                       logFile: directory.appendingPathComponent("gateway.log").path)
        try await publish(edge, count: count)
        let path = directory.appendingPathComponent("outbox.sqlite").path
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let last = try? Outbox(configuration: OutboxConfiguration(path: path)).lastSequence, last >= count { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        process.signal(SIGKILL)
        _ = process.wait()
        // Checkpoint the WAL into the main file, then measure it.
        let outbox = try Outbox(configuration: OutboxConfiguration(path: path))
        let depth = outbox.depth
        let size = outbox.fileBytes
        return Double(size) / Double(max(depth, 1))
    }

    static func peakRSS(_ pid: pid_t) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
        return kilobytes / 1024
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
