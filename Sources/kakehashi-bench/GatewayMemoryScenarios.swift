import Foundation
import KakehashiMQTT
import KakehashiTestSupport

/// The gateway's memory as a small board sees it: resident set when connected and idle, and peak
/// resident set while 1,000 readings per second flow for a while, side by side with ThingsBoard IoT
/// Gateway under the same input (when it is installed).
enum GatewayMemoryScenarios {
    static func run(
        gatewayBinary: String,
        thingsboard: String?,
        repeats: Int,
        rate: Int,
        seconds: Int
    ) async throws -> (rows: [BenchRow], notes: [String]) {
        var idle = [Double](), peak = [Double](), theirIdle = [Double](), theirPeak = [Double]()
        for _ in 0..<repeats {
            let ours = try await measure(rate: rate, seconds: seconds) { edge, central, directory in
                let file = try GatewayScenarios.configuration(edge: edge, centralPort: central.port, directory: directory)
                try await GatewayScenarios.prepareSession(edge)
                let confirmer = try await GatewayScenarios.startConfirmer(central)
                let process = try ChildProcess(
                    executable: "/usr/bin/env",
                    arguments: GatewayScenarios.installedEnvironment + [gatewayBinary, "run", file, "--log-level", "warning"],
                    logFile: directory.appendingPathComponent("gateway.log").path
                )
                // Connected on both sides (mosquitto logs each connection).
                let readyBy = ContinuousClock.now + .seconds(30)
                while !(edge.log.contains(" as gw-bench-edge ") && central.log.contains(" as gw-bench ")) {
                    guard ContinuousClock.now < readyBy else { throw TestSupportError("the gateway did not connect to both brokers") }
                    try await Task.sleep(for: .milliseconds(20))
                }
                return (process, "kakehashi/v1/+/+/obs", { payload in GatewayScenarios.readings(in: payload) }, { await confirmer.disconnect() })
            }
            idle.append(ours.idle); peak.append(ours.peak)
            if let thingsboard {
                let theirs = try await measure(rate: rate, seconds: seconds) { edge, central, directory in
                    let (process, responder) = try await ThingsBoardScenarios.start(
                        executable: thingsboard,
                        edge: edge,
                        central: central,
                        directory: directory
                    )
                    return (
                        process, "v1/gateway/telemetry", { payload in ThingsBoardScenarios.readings(in: payload) },
                        { await responder.client.disconnect() }
                    )
                }
                theirIdle.append(theirs.idle); theirPeak.append(theirs.peak)
            }
        }
        var rows = [BenchRow]()
        var notes = [String]()
        if thingsboard != nil {
            let name = "ThingsBoard IoT Gateway \(ThingsBoardScenarios.version(of: thingsboard!)), same input"
            rows.append(
                BenchRow(
                    scenario: "Gateway RSS idle (connected to both brokers, no readings)",
                    kakehashi: idle,
                    baselineName: name,
                    baseline: theirIdle,
                    unit: "MB",
                    higherIsBetter: false,
                    isMemory: true
                )
            )
            rows.append(
                BenchRow(
                    scenario: "Gateway peak RSS (VmHWM) at \(rate) readings/s for \(seconds) s",
                    kakehashi: peak,
                    baselineName: name,
                    baseline: theirPeak,
                    unit: "MB",
                    higherIsBetter: false,
                    isMemory: true
                )
            )
        } else {
            notes.append(
                "Gateway RSS idle \(BenchRow.summary(idle, unit: "MB")), peak at \(rate) readings/s "
                    + "\(BenchRow.summary(peak, unit: "MB")) (no ThingsBoard IoT Gateway to compare with)."
            )
        }
        return (rows, notes)
    }

    typealias Started = (process: ChildProcess, filter: String, count: @Sendable ([UInt8]) -> Int, stop: @Sendable () async -> Void)

    /// Fresh brokers, the gateway started by `start`, its RSS after 2 s idle, then `rate` readings/s
    /// for `seconds`; the peak is read once every reading has arrived on the central broker.
    static func measure(
        rate: Int,
        seconds: Int,
        start: (TestBroker, TestBroker, URL) async throws -> Started
    ) async throws -> (idle: Double, peak: Double) {
        let edge = try TestBroker(), central = try TestBroker()
        try edge.start()
        try central.start()
        defer { edge.stop(); central.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-mem-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = MQTTConfiguration(host: central.host, port: central.port, clientID: "bench-central-memory")
        configuration.bufferCapacity = 1 << 16
        let client = try MQTTClient(configuration: configuration, logger: GatewayScenarios.quiet)
        try await client.connect()
        let started = try await start(edge, central, directory)
        let subscription = try await client.subscribe(started.filter, qos: .atLeastOnce)
        defer { started.process.signal(SIGKILL); _ = started.process.wait() }
        // Idle: a measurement after the start has settled, not a synchronization.
        try await Task.sleep(for: .seconds(2))
        let idle = currentRSS(started.process.pid)
        let total = rate * seconds
        let counting = Task {
            var received = 0
            for await message in subscription {
                received += started.count(message.payload)
                if received >= total || Task.isCancelled { break }
            }
            return received
        }
        let watchdog = Task {
            try? await Task.sleep(for: .seconds(seconds + 120)); counting.cancel()
        }
        try await publishPaced(edge, rate: rate, seconds: seconds)
        let received = await counting.value
        watchdog.cancel()
        guard received >= total else { throw TestSupportError("only \(received) of \(total) readings arrived (see \(directory.path))") }
        let peak = GatewayScenarios.peakRSS(started.process.pid)
        started.process.signal(SIGTERM)
        _ = started.process.wait()
        await started.stop()
        await client.disconnect()
        return (idle, peak)
    }

    /// `rate` readings per second on the edge broker for `seconds`, in 10 ms steps (QoS 1).
    static func publishPaced(_ broker: TestBroker, rate: Int, seconds: Int) async throws {
        var configuration = MQTTConfiguration(host: broker.host, port: broker.port, clientID: "bench-sensors-paced")
        configuration.inflightWindow = 256
        let client = try MQTTClient(configuration: configuration, logger: GatewayScenarios.quiet)
        try await client.connect()
        let clock = ContinuousClock()
        let begin = clock.now
        let total = rate * seconds
        var sent = 0
        var step = 0
        while sent < total {
            step += 1
            let due = min(total, rate * step / 100)
            while sent < due {
                try await client.publish("flood/s\(sent % 20)/level", payload: GatewayScenarios.payload(sent), qos: .atLeastOnce)
                sent += 1
            }
            try await clock.sleep(until: begin + .milliseconds(10 * step))
        }
        await client.disconnect()
    }

    static func currentRSS(_ pid: pid_t) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return .nan }
        return kilobytes / 1024
    }
}
