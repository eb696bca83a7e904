import Foundation
import KakehashiMQTT
import KakehashiTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `deploy/mosquitto/edge.conf` as shipped (only paths and port changed): what waits for the
/// gateway's persistent session survives a restart of the broker.
struct EdgeBrokerConfigTests {
    @Test(.timeLimit(.minutes(2)))
    func messagesWaitingForTheGatewaySurviveABrokerRestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-edge-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let d = directory.path
        let port = try TestBroker.reusablePort()  // the broker restarts on it
        var conf = try String(contentsOf: RepositoryPaths.root.appendingPathComponent("deploy/mosquitto/edge.conf"), encoding: .utf8)
        for (from, to) in [("/var/lib/mosquitto/", "\(d)/"), ("listener 1883", "listener \(port) 127.0.0.1")] {
            #expect(conf.contains(from), "edge.conf names \(from)")
            conf = conf.replacingOccurrences(of: from, with: to)
        }
        #expect(conf.contains("persistence true") && conf.contains("autosave_interval"))
        conf += "\nlog_dest file \(d)/mosquitto.log\n" + (getuid() == 0 ? "user root\n" : "")
        try conf.write(toFile: "\(d)/edge.conf", atomically: true, encoding: .utf8)
        let mosquitto = try TestBroker.which("mosquitto").path
        func startBroker() async throws -> ChildProcess {
            let broker = try ChildProcess(executable: mosquitto, arguments: ["-c", "\(d)/edge.conf"], logFile: "\(d)/mosquitto.out")
            try await waitUntil("the edge broker listens", timeout: .seconds(10)) { TestBroker.accepts(port: port) }
            return broker
        }
        var broker = try await startBroker()

        // The gateway's persistent session subscribes, then goes away.
        var session = MQTTConfiguration(host: "127.0.0.1", port: port, clientID: "gw-edge-session")
        session.session = .persistent
        let gateway = try MQTTClient(configuration: session)
        try await gateway.connect()
        _ = try await gateway.subscribe("flood/+/level", qos: .atLeastOnce)
        await gateway.disconnect()
        // Sensors publish 500 readings while it is away; the broker acknowledges each.
        let sensor = try MQTTClient(configuration: MQTTConfiguration(host: "127.0.0.1", port: port, clientID: "sensor"))
        try await sensor.connect()
        for i in 0..<500 { try await sensor.publish("flood/s\(i % 5)/level", payload: Array("\(i)".utf8), qos: .atLeastOnce) }
        await sensor.disconnect()
        // The broker restarts.
        broker.signal(SIGTERM)
        #expect(broker.wait() == 0)
        broker = try await startBroker()
        defer { broker.signal(SIGTERM); _ = broker.wait() }

        // The gateway comes back: every reading is waiting for it.
        // As the gateway does: its subscription registered and read before the connection, since what the
        // broker kept arrives right after CONNACK.
        let back = try MQTTClient(configuration: session)
        let received = Mutex<Set<String>>([])
        let messages = try back.subscribeWithoutWaiting("flood/+/level", qos: .atLeastOnce)
        let reading = Task { for await message in messages { received.withLock { _ = $0.insert(String(decoding: message.payload, as: UTF8.self)) } } }
        defer { reading.cancel() }
        try await back.connect()
        try await waitUntil("all 500 readings after the restart", timeout: .seconds(20)) { received.withLock { $0.count } >= 500 }
        #expect(received.withLock { $0 } == Set((0..<500).map(String.init)))
        await back.disconnect()
    }
}
