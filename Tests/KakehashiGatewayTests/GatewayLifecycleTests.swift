import Foundation
import KakehashiTestSupport
import Testing

@testable import KakehashiGateway

#if canImport(Glibc)
import Glibc
#endif

/// The gateway process as systemd sees it: a part that fails for good ends the process with a
/// non-zero status and the reason at error level; parts that can recover are retried and reported
/// (metrics); SIGTERM ends it within the flush timeout in every state; `Type=notify` and the
/// watchdog work over a real notification socket.
@Suite(.serialized)
struct GatewayLifecycleTests {
    /// A gateway folder with `sources` (YAML list items) and a central broker on `centralPort`.
    final class Folder: @unchecked Sendable {
        let directory: URL
        var process: ChildProcess?

        init(centralPort: Int, sources: String, flushTimeout: String = "3s") throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-lifecycle-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try "devices:\n  - { id: s1, type: WaterObserved, location: { lat: 33.3, lon: 130.5 } }\n".write(
                to: directory.appendingPathComponent("devices.yaml"),
                atomically: true,
                encoding: .utf8
            )
            let yaml = """
                tenant: kurume
                gateway: gw-life
                central: { host: 127.0.0.1, port: \(centralPort), reconnect_max: 500ms, shutdown_flush_timeout: \(flushTimeout) }
                outbox: { path: outbox.sqlite, commit_interval: 20ms }
                devices: devices.yaml
                metrics: { textfile: gateway.prom, interval: 200ms }
                sources:
                \(sources)
                """
            try yaml.write(to: directory.appendingPathComponent("gateway.yaml"), atomically: true, encoding: .utf8)
        }

        deinit {
            process?.signal(SIGKILL)
            _ = process?.wait()
            try? FileManager.default.removeItem(at: directory)
        }

        func start(environment: [String: String]? = nil) throws {
            var environment = environment ?? ProcessInfo.processInfo.environment
            environment["KAKEHASHI_TAG_SECRET"] = "lifecycle-test-secret-0123"
            process = try ChildProcess(
                executable: GatewayHarness.executable,
                arguments: ["run", directory.appendingPathComponent("gateway.yaml").path],
                logFile: directory.appendingPathComponent("gateway.log").path,
                environment: environment
            )
        }

        var log: String { (try? String(contentsOf: directory.appendingPathComponent("gateway.log"), encoding: .utf8)) ?? "" }

        /// A gauge of the metrics textfile, by its full name with labels.
        func metric(_ name: String) -> Double? {
            let text = (try? String(contentsOf: directory.appendingPathComponent("gateway.prom"), encoding: .utf8)) ?? ""
            let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") }
            return line.flatMap { Double($0.split(separator: " ").last ?? "") }
        }

        /// Waits for the process to exit (at most `timeout`); returns its exit code and how long it took.
        func exit(within timeout: Duration) async throws -> (code: Int32, after: Duration) {
            let began = ContinuousClock.now
            try await waitUntil("the gateway exits", timeout: timeout) { !(process?.isRunning ?? false) }
            let status = process!.wait()
            return ((status >> 8) & 0xff, ContinuousClock.now - began)
        }
    }

    static func edgeSource(_ port: Int) -> String {
        """
          - name: edge
            kind: mqtt
            broker: { host: 127.0.0.1, port: \(port), client_id: gw-life-edge, username: gateway, password: right-password, reconnect_max: 500ms }
            topics:
              - { pattern: "flood/{sensor}/level", format: json, timestamp: { field: ts, format: iso8601 }, values: [ { attribute: waterLevel, field: level } ] }
        """
    }

    /// A file that is there (so the configuration is accepted) but is no capture.
    @Test func aCaptureThatCannotBeReadEndsTheGatewayNonZeroWithTheReason() async throws {
        let central = try TestBroker()
        try central.start()
        defer { central.stop() }
        let folder = try Folder(
            centralPort: central.port,
            sources: """
                  - { name: tags-replay, kind: btsnoop, file: broken.btsnoop, secret_env: KAKEHASHI_TAG_SECRET }
                """
        )
        try "not a capture".write(to: folder.directory.appendingPathComponent("broken.btsnoop"), atomically: true, encoding: .utf8)
        try folder.start()
        let (code, _) = try await folder.exit(within: .seconds(15))
        #expect(code == 1)
        #expect(folder.log.contains("error kakehashi.gateway"), "\(folder.log)")
        #expect(folder.log.contains("source tags-replay: \(folder.directory.path)/broken.btsnoop is not a btsnoop capture"), "\(folder.log)")
        #expect(folder.log.contains("the gateway stopped because a part failed"))
    }

    /// A source that fails after the start: the named pipe's path replaced by a plain file is
    /// found when the gateway opens it; a pipe whose writer leaves is documented to wait for the
    /// next writer (BLEPipeTests), so it does not end the gateway.
    @Test func aPipePathThatIsNoPipeEndsTheGatewayNonZero() async throws {
        let central = try TestBroker()
        try central.start()
        defer { central.stop() }
        let folder = try Folder(
            centralPort: central.port,
            sources: """
                  - { name: tags-pipe, kind: btsnoop, pipe: ble.pipe, secret_env: KAKEHASHI_TAG_SECRET }
                """
        )
        try "a plain file".write(to: folder.directory.appendingPathComponent("ble.pipe"), atomically: true, encoding: .utf8)
        try folder.start()
        let (code, _) = try await folder.exit(within: .seconds(15))
        #expect(code == 1)
        #expect(folder.log.contains("exists and is not a named pipe"), "\(folder.log)")
    }

    @Test func anEdgeBrokerRefusingTheCredentialsAtStartEndsTheGatewayNonZero() async throws {
        let central = try TestBroker()
        try central.start()
        defer { central.stop() }
        let edge = try TestBroker(.init(users: ["gateway": "another-password"]))
        try edge.start()
        defer { edge.stop() }
        let folder = try Folder(centralPort: central.port, sources: Self.edgeSource(edge.port))
        try folder.start()
        let (code, _) = try await folder.exit(within: .seconds(15))
        #expect(code != 0)
        #expect(folder.log.contains("source edge: the edge broker 127.0.0.1:\(edge.port) cannot be used"))
        #expect(folder.log.contains("the gateway stopped because a part failed"))
    }

    /// Refused after it was accepted once (the password changed on the broker): the source is
    /// retried and reported down (metrics), and comes back when the password is right again.
    @Test func anEdgeBrokerRefusingLaterIsRetriedAndReported() async throws {
        let central = try TestBroker()
        try central.start()
        defer { central.stop() }
        let edge = try TestBroker(.init(users: ["gateway": "right-password"]))
        try edge.start()
        defer { edge.stop() }
        let folder = try Folder(centralPort: central.port, sources: Self.edgeSource(edge.port))
        try folder.start()
        let up = "kakehashi_gateway_source_up{source=\"edge\"}"
        try await waitUntil("the edge source is up", timeout: .seconds(15)) { folder.metric(up) == 1 }
        let passwords = edge.directory.appendingPathComponent("passwords").path
        try TestBroker.run("mosquitto_passwd", ["-b", passwords, "gateway", "changed-password"])
        edge.stop()
        try edge.start()
        try await waitUntil("the edge source is reported down", timeout: .seconds(20)) { folder.metric(up) == 0 }
        #expect((folder.metric("kakehashi_gateway_source_down_since_seconds{source=\"edge\"}") ?? 0) > 1_700_000_000)
        #expect(folder.process?.isRunning == true)
        #expect(folder.log.contains("source edge: the edge broker 127.0.0.1:\(edge.port) is not reachable; retrying with backoff"))
        try TestBroker.run("mosquitto_passwd", ["-b", passwords, "gateway", "right-password"])
        edge.reload()
        try await waitUntil("the edge source is up again", timeout: .seconds(20)) { folder.metric(up) == 1 }
        folder.process?.signal(SIGTERM)
        let (code, _) = try await folder.exit(within: .seconds(10))
        #expect(code == 0)
    }

    /// SIGTERM while the central broker was never reached, while the edge broker is away, and
    /// while both are there: the process exits 0 within the flush timeout (3 s here, with a
    /// margin for a loaded machine).
    @Test(arguments: ["central away", "edge away", "both there"])
    func sigtermEndsTheGatewayWithinTheFlushTimeout(state: String) async throws {
        let central = try TestBroker()
        let edge = try TestBroker(.init(users: ["gateway": "right-password"]))
        if state != "central away" { try central.start() }
        if state != "edge away" { try edge.start() }
        defer {
            central.stop()
            edge.stop()
        }
        let folder = try Folder(centralPort: central.port, sources: Self.edgeSource(edge.port))
        try folder.start()
        let uplink = "kakehashi_gateway_source_up{source=\"uplink\"}"
        let source = "kakehashi_gateway_source_up{source=\"edge\"}"
        switch state {
        case "central away":
            try await waitUntil("the uplink is reported down", timeout: .seconds(15)) { folder.metric(uplink) == 0 }
        case "edge away":
            try await waitUntil("the edge source is reported down", timeout: .seconds(15)) { folder.metric(source) == 0 }
        default:
            try await waitUntil("both are up", timeout: .seconds(15)) { folder.metric(source) == 1 && folder.metric(uplink) == 1 }
        }
        folder.process?.signal(SIGTERM)
        let (code, after) = try await folder.exit(within: .seconds(10))
        #expect(code == 0, "\(state)")
        // The flush timeout (3 s), and 2 s for a test machine busy with the other suites (seen
        // once: 4.9 s while a hub was killed and restarted beside it); a gateway that does not
        // honour SIGTERM is still running at the 10 s above. The log shows where the time went.
        #expect(after < .seconds(5), "\(state): \(after)\n\(folder.log.suffix(3000))")
    }

    /// `Type=notify` with `WatchdogSec`: READY=1 at start, WATCHDOG=1 at a quarter of the interval
    /// while every part beats, STOPPING=1 on SIGTERM, on a datagram socket as systemd's.
    @Test func systemdIsToldReadyAndTheWatchdogIsFed() async throws {
        let central = try TestBroker()
        try central.start()
        defer { central.stop() }
        let edge = try TestBroker(.init(users: ["gateway": "right-password"]))
        try edge.start()
        defer { edge.stop() }
        let folder = try Folder(centralPort: central.port, sources: Self.edgeSource(edge.port))
        let socketPath = folder.directory.appendingPathComponent("notify").path
        let listener = try NotifySocket(path: socketPath)
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = socketPath
        environment["WATCHDOG_USEC"] = "800000"
        try folder.start(environment: environment)
        var received = [String]()
        let deadline = ContinuousClock.now + .seconds(15)
        while received.filter({ $0.hasPrefix("WATCHDOG=1") }).count < 4 && ContinuousClock.now < deadline {
            if let message = listener.receive(timeoutMilliseconds: 200) { received.append(message) }
        }
        #expect(received.first?.hasPrefix("READY=1") == true, "\(received)")
        #expect(received.first?.contains("STATUS=1 source(s)") == true, "\(received)")
        #expect(received.filter { $0.hasPrefix("WATCHDOG=1") }.count >= 4, "\(received)")
        folder.process?.signal(SIGTERM)
        var stopping = false
        let stopDeadline = ContinuousClock.now + .seconds(10)
        while !stopping && ContinuousClock.now < stopDeadline {
            if let message = listener.receive(timeoutMilliseconds: 200) { stopping = message.hasPrefix("STOPPING=1") }
        }
        #expect(stopping)
        let (code, _) = try await folder.exit(within: .seconds(10))
        #expect(code == 0)
    }

    @Test func theWatchdogStarvesWhenAPartStopsBeating() {
        let health = SourceHealth(clock: { .init(millisecondsSinceEpoch: 0) })
        health.register("edge")
        health.register("uplink")
        health.register("tags-replay")
        let later = ContinuousClock.now + .seconds(10)
        #expect(health.stalled(limit: .seconds(2)).isEmpty)
        #expect(health.stalled(limit: .seconds(2), now: later) == ["edge", "tags-replay", "uplink"])
        health.finished("tags-replay")
        #expect(health.stalled(limit: .seconds(2), now: later) == ["edge", "uplink"])
        #expect(SystemdWatchdog.stallLimit(watchdogInterval: .seconds(60)) == .seconds(30))
        #expect(SystemdWatchdog.stallLimit(watchdogInterval: .seconds(1)) == .seconds(2))
    }

    @Test func theNotifierReadsSystemdsEnvironment() {
        #expect(SystemdNotifier(environment: [:]).socketPath == nil)
        #expect(SystemdNotifier(environment: [:]).notify("READY=1") == false)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "30000000"])
        #expect(notifier.watchdogInterval == .seconds(30))
        let other = SystemdNotifier(environment: ["NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"])
        #expect(other.watchdogInterval == nil)
    }
}

/// A Unix datagram socket bound at `path`, as systemd's notification socket.
final class NotifySocket: @unchecked Sendable {
    let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw TestSupportError("bind \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    func receive(timeoutMilliseconds: Int32) -> String? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMilliseconds) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }
}
