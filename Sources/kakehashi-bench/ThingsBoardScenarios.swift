import Foundation
import KakehashiMQTT
import KakehashiTestSupport
import Logging
import Synchronization

/// The same input through ThingsBoard IoT Gateway (PyPI `thingsboard-gateway`, its MQTT connector
/// and SQLite storage) and through Kakehashi's gateway, in the same run: readings per second from
/// the edge broker to the central broker, and each gateway's peak RSS. The central broker stands in
/// for ThingsBoard: a small responder answers the gateway's `getSessionLimits` call (no rate
/// limits), as a ThingsBoard server would, and the readings are counted in `v1/gateway/telemetry`.
enum ThingsBoardScenarios {
    static func run(gatewayBinary: String, thingsboard: String, repeats: Int, count: Int) async throws -> (rows: [BenchRow], notes: [String]) {
        var kakehashi = [Double](), kakehashiRSS = [Double](), theirs = [Double](), theirRSS = [Double]()
        for round in 0..<repeats {
            if round % 2 == 0 {
                let (rate, peak) = try await GatewayScenarios.gatewayRun(binary: gatewayBinary, count: count)
                kakehashi.append(rate); kakehashiRSS.append(peak)
                let (other, otherPeak) = try await thingsboardRun(executable: thingsboard, count: count)
                theirs.append(other); theirRSS.append(otherPeak)
            } else {
                let (other, otherPeak) = try await thingsboardRun(executable: thingsboard, count: count)
                theirs.append(other); theirRSS.append(otherPeak)
                let (rate, peak) = try await GatewayScenarios.gatewayRun(binary: gatewayBinary, count: count)
                kakehashi.append(rate); kakehashiRSS.append(peak)
            }
        }
        let baselineName = "ThingsBoard IoT Gateway \(version(of: thingsboard)) (MQTT connector, SQLite storage)"
        return (
            [
                BenchRow(
                    scenario: "Gateway edge → central, \(count) JSON readings, durable storage, same input and brokers",
                    kakehashi: kakehashi,
                    baselineName: baselineName,
                    baseline: theirs,
                    unit: "readings/s",
                    higherIsBetter: true
                ),
                BenchRow(
                    scenario: "Gateway peak RSS (VmHWM) during that run",
                    kakehashi: kakehashiRSS,
                    baselineName: baselineName,
                    baseline: theirRSS,
                    unit: "MB",
                    higherIsBetter: false,
                    isMemory: true
                ),
            ], []
        )
    }

    /// The installed package's folder (`…/site-packages/thingsboard_gateway`) in the executable's virtual environment.
    static func packageDirectory(of executable: String) -> String {
        let lib = URL(fileURLWithPath: executable).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("lib")
        let pythons = (try? FileManager.default.contentsOfDirectory(atPath: lib.path)) ?? []
        for python in pythons.sorted() {
            let folder = lib.appendingPathComponent("\(python)/site-packages/thingsboard_gateway").path
            if FileManager.default.fileExists(atPath: folder) { return folder }
        }
        return lib.path
    }

    /// The installed package's version (its `version.py`).
    static func version(of executable: String) -> String {
        let file = packageDirectory(of: executable) + "/version.py"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return "" }
        for line in text.split(separator: "\n") where line.contains("VERSION") {
            let parts = line.split(whereSeparator: { $0 == "\"" || $0 == "'" })
            if parts.count >= 2 { return String(parts[1]) }
        }
        return ""
    }

    static func thingsboardRun(executable: String, count: Int) async throws -> (Double, Double) {
        let edge = try TestBroker(), central = try TestBroker()
        try edge.start()
        try central.start()
        defer { edge.stop(); central.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-tb-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (client, subscription) = try await GatewayScenarios.counter(central, filter: "v1/gateway/telemetry", batches: false)
        let (process, responder) = try await start(executable: executable, edge: edge, central: central, directory: directory)
        defer { process.signal(SIGKILL); _ = process.wait() }
        let start = ContinuousClock.now
        let counting = Task { await countReadings(subscription, count: count) }
        // A reading it loses would leave the count short for ever: give up after a generous deadline.
        let watchdog = Task {
            try? await Task.sleep(for: .seconds(60 + count / 100)); counting.cancel()
        }
        try await GatewayScenarios.publish(edge, count: count)
        let (end, received) = await counting.value
        watchdog.cancel()
        guard received >= count else {
            throw TestSupportError(
                "ThingsBoard IoT Gateway delivered \(received) of \(count) readings in \(60 + count / 100) s (see \(directory.path))"
            )
        }
        let peak = GatewayScenarios.peakRSS(process.pid)
        process.signal(SIGTERM)
        _ = process.wait()
        await client.disconnect()
        await responder.client.disconnect()
        return (Double(count) / GatewayScenarios.seconds(end - start), peak)
    }

    /// Starts ThingsBoard IoT Gateway between `edge` and `central` (configuration in `directory`)
    /// with its persistent session on the edge broker prepared, and returns once it is ready: it has
    /// asked the stand-in for its limits and connected to the edge broker.
    static func start(executable: String, edge: TestBroker, central: TestBroker, directory: URL) async throws -> (ChildProcess, Responder) {
        let config = directory.appendingPathComponent("config")
        try FileManager.default.createDirectory(at: config, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("data"), withIntermediateDirectories: true)
        try writeConfiguration(
            config,
            executable: executable,
            data: directory.appendingPathComponent("data").path + "/",
            logs: directory.path,
            edgePort: edge.port,
            centralPort: central.port
        )
        let responder = try await sessionLimitsResponder(central)
        // The connector's persistent session exists before the readings arrive (as for Kakehashi).
        var session = MQTTConfiguration(host: edge.host, port: edge.port, clientID: "tb-bench-edge")
        session.session = .persistent
        let prepare = try MQTTClient(configuration: session, logger: GatewayScenarios.quiet)
        _ = try await prepare.subscribe("flood/+/level", qos: .atLeastOnce)
        await prepare.disconnect()
        let process = try ChildProcess(
            executable: "/usr/bin/env",
            arguments: ["TB_GW_CONFIG_DIR=\(config.path)/", executable],
            logFile: directory.appendingPathComponent("gateway.out").path
        )
        let readyBy = ContinuousClock.now + .seconds(60)
        while !(responder.answered.withLock { $0 } && edge.log.contains(" as tb-bench-edge ")) {
            guard ContinuousClock.now < readyBy, process.isRunning else {
                process.signal(SIGKILL)
                _ = process.wait()
                throw TestSupportError("ThingsBoard IoT Gateway did not start (see \(directory.path)/gateway.out)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return (process, responder)
    }

    /// Readings in ThingsBoard gateway telemetry messages (`{"device":[{"ts":…,"values":{…}},…]}`).
    static func countReadings(_ subscription: MQTTSubscription, count: Int) async -> (ContinuousClock.Instant, Int) {
        var received = 0
        var last = ContinuousClock.now
        for await message in subscription {
            received += readings(in: message.payload)
            last = ContinuousClock.now
            if received >= count || Task.isCancelled { break }
        }
        return (last, received)
    }

    /// Readings in one telemetry message: its `"values":` keys.
    static func readings(in payload: [UInt8]) -> Int { GatewayScenarios.occurrences(of: Array(#""values":"#.utf8), in: payload) }

    final class Responder: Sendable {
        let client: MQTTClient
        let answered = Mutex(false)
        init(client: MQTTClient) { self.client = client }
    }

    /// Answers `v1/devices/me/rpc/request/<id>` `getSessionLimits` as a ThingsBoard server with no limits does.
    static func sessionLimitsResponder(_ central: TestBroker) async throws -> Responder {
        let client = try MQTTClient(
            configuration: MQTTConfiguration(host: central.host, port: central.port, clientID: "tb-standin"),
            logger: GatewayScenarios.quiet
        )
        try await client.connect()
        let requests = try await client.subscribe("v1/devices/me/rpc/request/+", qos: .atLeastOnce)
        let responder = Responder(client: client)
        let limits =
            #"{"maxPayloadSize":65536,"maxInflightMessages":100,"rateLimits":{"messages":"","telemetryMessages":"","telemetryDataPoints":""}}"#
        Task {
            for await request in requests where String(decoding: request.payload, as: UTF8.self).contains("getSessionLimits") {
                let id = request.topic.split(separator: "/").last.map(String.init) ?? "0"
                try? await client.publish("v1/devices/me/rpc/response/\(id)", payload: Array(limits.utf8), qos: .atLeastOnce)
                responder.answered.withLock { $0 = true }
            }
        }
        return responder
    }

    /// tb_gateway.json (the stand-in as its server, SQLite storage, no remote configuration,
    /// statistics or update checks), mqtt.json (the edge broker, the bench's JSON readings) and
    /// logs.json (warnings only).
    static func writeConfiguration(_ config: URL, executable: String, data: String, logs: String, edgePort: Int, centralPort: Int) throws {
        let gateway = """
            {
              "thingsboard": {
                "host": "127.0.0.1", "port": \(centralPort), "remoteShell": false, "remoteConfiguration": false,
                "statistics": {"enable": false, "statsSendPeriodInSeconds": 3600},
                "deviceFiltering": {"enable": false}, "maxPayloadSizeBytes": 8196, "minPackSendDelayMS": 50,
                "minPackSizeToSend": 500, "checkConnectorsConfigurationInSeconds": 3600, "handleDeviceRenaming": false,
                "security": {"type": "accessToken", "accessToken": "bench-token"}, "qos": 1,
                "reportStrategy": {"type": "ON_RECEIVED"}, "checkingDeviceActivity": {"checkDeviceInactivity": false}
              },
              "storage": {"type": "sqlite", "data_file_path": "\(data)", "messages_ttl_check_in_hours": 1, "messages_ttl_in_days": 7},
              "grpc": {"enabled": false},
              "connectors": [{"type": "mqtt", "name": "Edge broker", "configuration": "mqtt.json"}]
            }
            """
        let mqtt = """
            {
              "broker": {"host": "127.0.0.1", "port": \(edgePort), "clientId": "tb-bench-edge", "version": 5,
                         "maxMessageNumberPerWorker": 10, "maxNumberOfWorkers": 100, "cleanSession": false,
                         "cleanStart": false, "sessionExpiryInterval": 3600, "security": {"type": "anonymous"}},
              "mapping": [{
                "topicFilter": "flood/+/level", "subscriptionQos": 1,
                "converter": {
                  "type": "json",
                  "deviceInfo": {"deviceNameExpressionSource": "topic", "deviceNameExpression": "(?<=flood/)(.*?)(?=/level)",
                                 "deviceProfileExpressionSource": "constant", "deviceProfileExpression": "WaterObserved"},
                  "sendDataOnlyOnChange": false, "timeout": 60000, "attributes": [],
                  "timeseries": [{"type": "double", "key": "waterLevel", "value": "${level}"}]
                }
              }],
              "requestsMapping": {}
            }
            """
        // The package's own logs.json, writing into this run's folder, warnings only.
        let package = URL(fileURLWithPath: packageDirectory(of: executable))
        var logging = try String(contentsOf: package.appendingPathComponent("config/logs.json"), encoding: .utf8)
        logging = logging.replacingOccurrences(of: "./logs/", with: logs + "/")
        for level in ["\"DEBUG\"", "\"INFO\"", "\"TRACE\"", "\"level\": 0"] {
            logging = logging.replacingOccurrences(of: level, with: level.hasPrefix("\"level") ? "\"level\": 30" : "\"WARNING\"")
        }
        try gateway.write(to: config.appendingPathComponent("tb_gateway.json"), atomically: true, encoding: .utf8)
        try mqtt.write(to: config.appendingPathComponent("mqtt.json"), atomically: true, encoding: .utf8)
        try logging.write(to: config.appendingPathComponent("logs.json"), atomically: true, encoding: .utf8)
    }
}
