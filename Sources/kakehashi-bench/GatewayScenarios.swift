import Foundation
import KakehashiGateway
import KakehashiMQTT
import KakehashiModel
import KakehashiTestSupport
import Logging

/// Readings per second from an edge broker to a central broker, acknowledged there: the gateway
/// (durable outbox, sync full) against the raw relay `mosquitto_sub | mosquitto_pub -l`, same
/// brokers setup, same publisher, same count, in the same run. Also the gateway's peak RSS and the
/// outbox's bytes on disk per reading.
enum GatewayScenarios {
    static func run(binary gatewayBinary: String, repeats: Int, count: Int) async throws -> (rows: [BenchRow], notes: [String]) {
        var notes = [String]()
        var gateway = [Double](), relay = [Double](), rss = [Double](), pubackOnly = [Double]()
        for round in 0..<repeats {
            if round % 2 == 0 {
                let (rate, peak) = try await gatewayRun(binary: gatewayBinary, count: count)
                gateway.append(rate); rss.append(peak)
                relay.append(try await relayRun(count: count))
                pubackOnly.append(try await gatewayRun(binary: gatewayBinary, count: count, confirmation: "broker").0)
            } else {
                pubackOnly.append(try await gatewayRun(binary: gatewayBinary, count: count, confirmation: "broker").0)
                relay.append(try await relayRun(count: count))
                let (rate, peak) = try await gatewayRun(binary: gatewayBinary, count: count)
                gateway.append(rate); rss.append(peak)
            }
        }
        // After an outage: one run each way (each holds a 60 s outage).
        let drainHub = try await outageRun(binary: gatewayBinary, confirmation: "hub")
        let drainBroker = try await outageRun(binary: gatewayBinary, confirmation: "broker")
        let bytes = try await bytesPerReading(binary: gatewayBinary, count: 10_000)
        let rssMedian = rss.sorted()[rss.count / 2]
        notes.append(
            String(
                format: "Gateway peak RSS (VmHWM) at that load: median %.1f MB (%.1f–%.1f) over %d runs.",
                rssMedian,
                rss.min() ?? 0,
                rss.max() ?? 0,
                rss.count
            )
        )
        notes.append(String(format: "Outbox on disk: %.0f bytes per WaterObserved reading (10,000 held while the central broker is away).", bytes))
        return (
            [
                BenchRow(
                    scenario: "Gateway edge → central, \(count) JSON readings acknowledged, outbox sync full",
                    kakehashi: gateway,
                    baselineName: "mosquitto_sub \\| mosquitto_pub -l (QoS 1, no durability)",
                    baseline: relay,
                    unit: "readings/s",
                    higherIsBetter: true
                ),
                BenchRow(
                    scenario: "Gateway relay, \(count) readings, forgotten only on the hub's confirmation (`central.confirmation: hub`)",
                    kakehashi: gateway,
                    baselineName: "the same gateway forgetting on the broker's PUBACK (`confirmation: broker`)",
                    baseline: pubackOnly,
                    unit: "readings/s",
                    higherIsBetter: true
                ),
                BenchRow(
                    scenario:
                        "Central broker restarted after a 60 s outage at \(Self.outageRate) readings/s: until the outbox is empty (hub confirmation)",
                    kakehashi: [drainHub],
                    baselineName: "the same with `confirmation: broker`",
                    baseline: [drainBroker],
                    unit: "s",
                    higherIsBetter: false
                ),
            ], notes
        )
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

    /// Confirms every gateway batch on the central broker as the hub does once it stored one
    /// (``WireAcknowledgement`` on `…/ack`), so a gateway's outbox empties without a hub: the
    /// gateway figures are then the gateway's, not the hub's storage rate. Reads the first and last
    /// `"seq":` of each batch without parsing it.
    static func startConfirmer(_ broker: TestBroker) async throws -> MQTTClient {
        var configuration = MQTTConfiguration(host: broker.host, port: broker.port, clientID: "bench-confirmer-\(UUID().uuidString.prefix(6))")
        configuration.bufferCapacity = 1 << 16
        configuration.session = .persistent
        configuration.reconnect = Backoff(initial: .milliseconds(20), maximum: .milliseconds(200))
        let client = try MQTTClient(configuration: configuration, logger: quiet)
        let subscription = try client.subscribeWithoutWaiting(WireTopic.allObservations, qos: .atLeastOnce)
        try await client.connect()
        Task {
            for await message in subscription {
                guard let range = sequenceRange(in: message.payload), let topic = try? WireTopic(parsing: message.topic) else { continue }
                let confirmation = WireAcknowledgement(ranges: [range], outcome: .stored)
                try? await client.enqueue(
                    WireAcknowledgement.topic(tenant: topic.tenant, gateway: topic.gateway),
                    payload: confirmation.payload(),
                    qos: .atLeastOnce
                ) { _ in }
            }
        }
        return client
    }

    /// The first and last `"seq":` numbers of a wire batch.
    static func sequenceRange(in payload: [UInt8]) -> ClosedRange<UInt64>? {
        let key = Array(#"{"seq":"#.utf8)
        func number(at start: Int) -> UInt64? {
            var value: UInt64 = 0, i = start, digits = 0
            while i < payload.count, payload[i] >= 0x30, payload[i] <= 0x39 { value = value * 10 + UInt64(payload[i] - 0x30); i += 1; digits += 1 }
            return digits > 0 ? value : nil
        }
        var first: UInt64?, last: UInt64?, i = 0
        while i + key.count <= payload.count {
            if payload[i] == key[0], payload[i..<(i + key.count)].elementsEqual(key) {
                let value = number(at: i + key.count)
                if first == nil { first = value }
                last = value
                i += key.count
            } else {
                i += 1
            }
        }
        guard let first, let last, first <= last else { return nil }
        return first...last
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
    static func configuration(
        edge: TestBroker,
        centralPort: Int,
        directory: URL,
        sensors: [String] = (0..<20).map { "s\($0)" },
        timestampFormat: String = "epoch_s",
        confirmation: String = "hub",
        metrics: Bool = false
    ) throws -> String {
        var devices = "devices:\n"
        for sensor in sensors {
            devices += "  - { id: \(sensor), type: WaterObserved, location: { lat: 33.3, lon: 130.5 }, thresholds: { alert: 2.1, danger: 2.8 } }\n"
        }
        try devices.write(to: directory.appendingPathComponent("devices.yaml"), atomically: true, encoding: .utf8)
        let text = """
            tenant: kurume
            gateway: gw-bench
            central: { host: 127.0.0.1, port: \(centralPort), batch_size: 500, in_flight_batches: 8, reconnect_max: 500ms, confirmation: \
            \(confirmation) }
            outbox: { path: outbox.sqlite, sync: full }
            devices: devices.yaml\(metrics ? "\nmetrics: { textfile: gateway.prom, interval: 100ms }" : "")
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

    static func gatewayRun(binary: String, count: Int, confirmation: String = "hub") async throws -> (Double, Double) {
        let edge = try TestBroker(), central = try TestBroker()
        try edge.start()
        try central.start()
        defer { edge.stop(); central.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try configuration(edge: edge, centralPort: central.port, directory: directory, confirmation: confirmation)
        try await prepareSession(edge)
        let confirmer = confirmation == "hub" ? try await startConfirmer(central) : nil
        let (client, subscription) = try await counter(central, filter: "kakehashi/v1/+/+/obs", batches: true)
        let process = try ChildProcess(
            executable: "/usr/bin/env",
            arguments: installedEnvironment + [binary, "run", file, "--log-level", "warning"],
            logFile: directory.appendingPathComponent("gateway.log").path
        )
        defer { process.signal(SIGKILL); _ = process.wait() }
        let start = ContinuousClock.now
        async let last = wait(for: subscription, count: count, batches: true)
        try await publish(edge, count: count)
        let end = await last
        let peak = peakRSS(process.pid)
        process.signal(SIGTERM)
        _ = process.wait()
        await client.disconnect()
        await confirmer?.disconnect()
        return (Double(count) / seconds(end - start), peak)
    }

    static let outageRate = 1_000

    /// The central broker is down for 60 s while `outageRate` readings/s arrive, then started
    /// again: the seconds from its start until the gateway's outbox is empty (confirmed by the
    /// confirmer with `hub`, acknowledged by the broker with `broker`), read from its metrics file.
    static func outageRun(binary: String, confirmation: String, outage: Duration = .seconds(60)) async throws -> Double {
        let edge = try TestBroker(), central = try TestBroker()
        try edge.start()
        try central.start()
        defer { edge.stop(); central.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-outage-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try configuration(edge: edge, centralPort: central.port, directory: directory, confirmation: confirmation, metrics: true)
        try await prepareSession(edge)
        var confirmer = confirmation == "hub" ? try await startConfirmer(central) : nil
        let process = try ChildProcess(
            executable: "/usr/bin/env",
            arguments: installedEnvironment + [binary, "run", file, "--log-level", "warning"],
            logFile: directory.appendingPathComponent("gateway.log").path
        )
        defer { process.signal(SIGKILL); _ = process.wait() }
        func depth() -> Double? {
            let text = (try? String(contentsOf: directory.appendingPathComponent("gateway.prom"), encoding: .utf8)) ?? ""
            return text.split(separator: "\n").first { $0.hasPrefix("kakehashi_gateway_outbox_depth ") }.flatMap {
                Double($0.split(separator: " ").last ?? "")
            }
        }
        let readyBy = ContinuousClock.now + .seconds(30)
        while !(edge.log.contains(" as gw-bench-edge ") && central.log.contains(" as gw-bench ")) {
            guard ContinuousClock.now < readyBy else { throw TestSupportError("the gateway did not connect to both brokers") }
            try await Task.sleep(for: .milliseconds(20))
        }
        await confirmer?.disconnect()
        central.stop()
        // Sensors publish through the outage, paced.
        var sensors = MQTTConfiguration(host: edge.host, port: edge.port, clientID: "bench-outage-sensors")
        sensors.inflightWindow = 256
        let client = try MQTTClient(configuration: sensors, logger: quiet)
        try await client.connect()
        let clock = ContinuousClock()
        let start = clock.now
        let total = outageRate * Int(outage.components.seconds)
        for i in 0..<total {
            if i % 50 == 0 { try await clock.sleep(until: start + .milliseconds(i * 1000 / outageRate)) }
            try await client.enqueue("flood/s\(i % 20)/level", payload: payload(i), qos: .atLeastOnce) { _ in }
        }
        await client.disconnect()
        try await clock.sleep(until: start + outage)
        let held = depth() ?? 0
        try central.start()
        let restarted = clock.now
        if confirmation == "hub" { confirmer = try await startConfirmer(central) }
        while (depth() ?? 1) > 0 || clock.now - restarted < .milliseconds(200) {
            guard clock.now - restarted < .seconds(600) else {
                throw TestSupportError("the outbox did not empty within 600 s after the outage (\(held) held)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let drained = seconds(clock.now - restarted)
        await confirmer?.disconnect()
        AlertScenarios.progress(String(format: "outage (%@): %.0f readings held, outbox empty %.2f s after the restart", confirmation, held, drained))
        return drained
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
        let command =
            "mosquitto_sub -i relay-sub -h 127.0.0.1 -p \(edge.port) -q 1 -t 'flood/+/level' | mosquitto_pub -i relay-pub -h 127.0.0.1 -p "
            + "\(central.port) -q 1 -t relay/readings -l"
        // Its own process group: killing only the shell would leave mosquitto_sub and mosquitto_pub running.
        let relay = try ChildProcess(
            executable: "/bin/sh",
            arguments: ["-c", command],
            logFile: directory.appendingPathComponent("relay.log").path,
            ownGroup: true
        )
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
        let process = try ChildProcess(
            executable: binary,
            arguments: ["run", file, "--log-level", "critical"],
            logFile: directory.appendingPathComponent("gateway.log").path
        )
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
            let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return .nan }
        return kilobytes / 1024
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
