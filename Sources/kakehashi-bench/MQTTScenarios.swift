import CMosquittoBaseline
import KakehashiMQTT
import KakehashiTestSupport
import Logging

/// MQTT throughput through a local mosquitto: Kakehashi's client against a minimal C loop over
/// libmosquitto, same broker, same payload, same in-flight window, in the same run.
enum MQTTScenarios {
    static let payload: [UInt8] = Array(String(repeating: "{\"level\":1.14,\"gauge\":\"3100000017\"}", count: 6).utf8.prefix(200))
    static let window = 256

    static func run(repeats: Int, qos0: Int, qos1: Int) async throws -> [BenchRow] {
        var rows = [BenchRow]()
        for (qos, count) in [(MQTTQoS.atMostOnce, qos0), (.atLeastOnce, qos1)] where count > 0 {
            var kakehashi = [Double](), baseline = [Double]()
            for round in 0..<repeats {
                // Alternate the order so that neither side always runs on a warmer machine.
                if round % 2 == 0 {
                    kakehashi.append(try await swiftRun(qos: qos, count: count))
                    baseline.append(try cRun(qos: qos, count: count))
                } else {
                    baseline.append(try cRun(qos: qos, count: count))
                    kakehashi.append(try await swiftRun(qos: qos, count: count))
                }
            }
            rows.append(
                BenchRow(
                    scenario: "MQTT publish → subscribe, \(count) × \(payload.count) B at QoS \(qos.rawValue), window \(window)",
                    kakehashi: kakehashi,
                    baselineName: "C loop over libmosquitto",
                    baseline: baseline,
                    unit: "msg/s",
                    higherIsBetter: true
                )
            )
        }
        return rows
    }

    /// Messages per second received by a Kakehashi subscriber from a Kakehashi publisher.
    static func swiftRun(qos: MQTTQoS, count: Int) async throws -> Double {
        let broker = try TestBroker()
        try broker.start()
        defer { broker.stop() }
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        var configuration = MQTTConfiguration(host: broker.host, port: broker.port, clientID: "bench-sub")
        configuration.bufferCapacity = 1 << 16
        let subscriber = try MQTTClient(configuration: configuration, logger: logger)
        try await subscriber.connect()
        let subscription = try await subscriber.subscribe("bench/kakehashi", qos: qos)
        configuration.clientID = "bench-pub"
        configuration.inflightWindow = window
        let publisher = try MQTTClient(configuration: configuration, logger: logger)
        try await publisher.connect()

        let start = ContinuousClock.now
        let counting = Task { () -> (Int, ContinuousClock.Instant) in
            var received = 0
            var last = ContinuousClock.now
            for await _ in subscription {
                received += 1
                last = ContinuousClock.now
                if received == count { break }
            }
            return (received, last)
        }
        let watchdog = Task {
            try await Task.sleep(for: .seconds(120))
            subscription.cancel()
        }
        // A QoS 0 publish returns once queued, so one sequential loop keeps the window full (as the
        // C loop does); a QoS 1 publish waits for its PUBACK, so one task per window slot.
        let lanes = qos == .atMostOnce ? 1 : window
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<lanes {
                group.addTask {
                    for _ in stride(from: lane, to: count, by: lanes) {
                        try await publisher.publish("bench/kakehashi", payload: payload, qos: qos)
                    }
                }
            }
            try await group.waitForAll()
        }
        let (received, last) = await counting.value
        watchdog.cancel()
        await publisher.disconnect()
        await subscriber.disconnect()
        let elapsed = last - start
        return Double(received) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// Messages per second through the C baseline.
    static func cRun(qos: MQTTQoS, count: Int) throws -> Double {
        let broker = try TestBroker()
        try broker.start()
        defer { broker.stop() }
        var received: Int32 = 0
        var elapsed: Int64 = 0
        let rc = payload.withUnsafeBytes { bytes in
            kk_baseline_run(
                broker.host,
                Int32(broker.port),
                "bench/baseline",
                bytes.baseAddress,
                Int32(bytes.count),
                Int32(count),
                qos.rawValue,
                Int32(window),
                120_000,
                &received,
                &elapsed
            )
        }
        guard rc == 0 else { throw TestSupportError("C baseline failed with libmosquitto error \(rc)") }
        return Double(received) / (Double(elapsed) / 1e9)
    }
}
