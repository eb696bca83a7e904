import Foundation
import KakehashiMQTT
import KakehashiModel
import KakehashiTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `kakehashi-sim` executable against a real mosquitto: what it sends, its determinism, and its
/// progress output on and off a terminal.
@Suite(.serialized)
struct SimulatorProcessTests {
    static let simulator = RepositoryPaths.root.appendingPathComponent(".build/debug/kakehashi-sim").path
    static let storm = RepositoryPaths.trace("river-jp/storm-2026-06-02.csv").path
    static let stations = RepositoryPaths.trace("river-jp/storm-2026-06-02-stations.csv").path

    /// Runs the simulator with stdout and stderr to files, waiting without holding a pool thread.
    static func run(
        _ arguments: [String],
        in directory: URL,
        timeout: Duration = .seconds(120)
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        let out = directory.appendingPathComponent("stdout-\(UUID().uuidString.prefix(6))"),
            err = directory.appendingPathComponent("stderr-\(UUID().uuidString.prefix(6))")
        try Data().write(to: out)
        try Data().write(to: err)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: simulator)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.terminate(); throw TestSupportError("kakehashi-sim \(arguments.first ?? "") ran over \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return (process.terminationStatus, try String(contentsOf: out, encoding: .utf8), try String(contentsOf: err, encoding: .utf8))
    }

    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-sim-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// The trace, read here without the project's readers: distinct (gauge, time) → level text, in
    /// time order per gauge.
    static func expectedStorm() throws -> [String: [(time: String, level: String)]] {
        var seen = Set<String>()
        var byGauge = [String: [(time: String, level: String)]]()
        for line in try RepositoryPaths.text(URL(fileURLWithPath: storm)).split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            guard f.count == 3, seen.insert(f[0] + "|" + f[1]).inserted else { continue }
            byGauge[f[0], default: []].append((f[1], f[2]))
        }
        return byGauge.mapValues { $0.sorted { $0.time < $1.time } }
    }

    @Test(.timeLimit(.minutes(3)))
    func theStormReplayPublishesEveryReadingOfTheTraceOnItsGaugesTopic() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let broker = try TestBroker()
        try broker.start()
        defer { broker.stop() }
        let subscriber = try MQTTClient(configuration: MQTTConfiguration(host: broker.host, port: broker.port, clientID: "sim-test-sub"))
        let subscription = try await subscriber.subscribe("flood/+/level", qos: .atLeastOnce)
        try await subscriber.connect()
        let received = Mutex([(topic: String, payload: String)]())
        let consuming = Task {
            for await message in subscription {
                received.withLock { $0.append((message.topic, String(decoding: message.payload, as: UTF8.self))) }
            }
        }
        let expected = try Self.expectedStorm()
        let total = expected.values.map(\.count).reduce(0, +)

        let result = try await Self.run(
            [
                "river", Self.storm, "--stations", Self.stations, "--as-fast-as-possible",
                "--broker", "mqtt://\(broker.host):\(broker.port)", "--progress", "none",
            ],
            in: directory
        )
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("sent 12,438 messages") && result.stderr.contains("12,438 acknowledged"), "\(result.stderr)")
        try await waitUntil("\(total) messages arrived", timeout: .seconds(60)) { received.withLock { $0.count } >= total }
        try await Task.sleep(for: .milliseconds(200))  // nothing beyond the trace may follow
        consuming.cancel()
        await subscriber.disconnect()

        let messages = received.withLock { $0 }
        #expect(messages.count == total && total == 12_438)
        // Per gauge: the trace's readings, in time order, level in cm, time in JST.
        var byGauge = [String: [(time: Timestamp, level: Double)]]()
        for message in messages {
            let parts = message.topic.split(separator: "/")
            let json = try JSONValue(parsing: message.payload)
            guard parts.count == 3, let level = json["level"]?.numberValue, let ts = json["ts"]?.stringValue else {
                Issue.record("unexpected message \(message)"); continue
            }
            #expect(ts.hasSuffix("+09:00"))
            byGauge[String(parts[1]), default: []].append((try Timestamp(iso8601: ts), level))
        }
        #expect(Set(byGauge.keys) == Set(expected.keys))
        var mismatches = 0
        for (gauge, readings) in expected {
            let got = byGauge[gauge] ?? []
            let want = try readings.map { (try Timestamp(iso8601: $0.time), Decimal(string: $0.level)! * 100) }
            if got.count != want.count
                || zip(got, want).contains(where: { $0.0.time != $0.1.0 || Decimal(string: $0.0.level.description)! != $0.1.1 })
            {
                mismatches += 1
                if mismatches < 3 { Issue.record("gauge \(gauge): sent \(got.prefix(3)) expected \(want.prefix(3))") }
            }
        }
        #expect(mismatches == 0)
    }

    @Test(.timeLimit(.minutes(2)))
    func theSameSeedSendsTheSameMessagesAndAnotherSeedOthers() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func load(_ seed: String, format: String = "json") async throws -> String {
            let result = try await Self.run(
                [
                    "load", "--sensors", "20", "--rate", "200", "--duration", "5", "--seed", seed, "--format", format,
                    "--start", "2026-06-02T00:00:00Z", "--dry-run", "--as-fast-as-possible", "--progress", "none",
                ],
                in: directory
            )
            #expect(result.status == 0, "\(result.stderr)")
            return result.stdout
        }
        let one = try await load("7"), again = try await load("7"), other = try await load("8")
        #expect(one.split(separator: "\n").count == 1000)
        #expect(one == again)
        #expect(one != other)
        #expect(one.hasPrefix("flood/load-0001/level\t{\"level\":"))
        // Same for the river: the replay is a pure function of its inputs.
        let river = { () async throws -> String in
            try await Self.run(
                [
                    "river", Self.storm, "--stations", Self.stations, "--format", "csv", "--dry-run", "--as-fast-as-possible",
                    "--from", "2026-06-02T00:00:00+09:00", "--to", "2026-06-03T00:00:00+09:00", "--progress", "none",
                ],
                in: directory
            ).stdout
        }
        let a = try await river(), b = try await river()
        #expect(a == b && a.split(separator: "\n").count > 1000)
        // A bad option is refused with the reason, before anything is sent.
        let bad = try await Self.run(["load", "--sensors", "1", "--rate", "5000", "--dry-run"], in: directory)
        #expect(bad.status != 0 && bad.stderr.contains("more than 1000 per sensor per second"))
    }

    @Test(.timeLimit(.minutes(2)))
    func progressIsABarOnATerminalAndPlainLinesInAPipe() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // 3 days at 400,000× take about 0.65 s: several redraws.
        let replay = ["river", Self.storm, "--stations", Self.stations, "--speed", "400000", "--dry-run"]

        // On a terminal (a pseudo-terminal from Python's pty module): one line redrawn with \r.
        let python = ProcessInfo.processInfo.environment["KAKEHASHI_PYTHON"] ?? "python3"
        let script = """
            import os, pty, sys
            out = open(sys.argv[1], 'wb')
            def read(fd):
                data = os.read(fd, 65536); out.write(data); return data
            status = pty.spawn(['sh', '-c', 'exec "$0" "$@" > /dev/null'] + sys.argv[2:], read)
            sys.exit(os.waitstatus_to_exitcode(status))
            """
        let terminal = directory.appendingPathComponent("terminal.txt").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-c", script, terminal, Self.simulator] + replay
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        #expect(process.terminationStatus == 0)
        let screen = try String(contentsOfFile: terminal, encoding: .utf8)
        let redraws = screen.components(separatedBy: "\r").filter { $0.hasPrefix("river █") || $0.hasPrefix("river ░") }
        #expect(redraws.count >= 3, "\(screen.debugDescription)")
        #expect(redraws.contains { $0.contains("% ") && $0.contains("/s ETA ") })
        #expect(screen.contains("river: printed 12,438 messages"))

        // In a pipe (files here): plain lines at the interval, no carriage returns or escapes.
        let piped = try await Self.run(replay + ["--progress-interval", "0.1"], in: directory)
        #expect(piped.status == 0)
        let lines = piped.stderr.split(separator: "\n")
        #expect(!piped.stderr.contains("\r") && !piped.stderr.contains("\u{1B}"))
        #expect(lines.filter { $0.hasPrefix("river: ") && $0.contains(" messages (") && $0.contains("ETA") }.count >= 2, "\(piped.stderr)")
        #expect(lines.last?.hasPrefix("river: printed 12,438 messages") == true)
        #expect(piped.stdout.split(separator: "\n").count == 12_438)

        // --progress none: only the summary.
        let quiet = try await Self.run(replay + ["--progress", "none"], in: directory)
        #expect(quiet.stderr.split(separator: "\n").count == 2, "\(quiet.stderr)")
    }

    @Test(.timeLimit(.minutes(1)))
    func noBrokerIsAClearErrorAfterTheTimeout() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try TestBroker.freePort()
        let result = try await Self.run(
            [
                "load", "--sensors", "1", "--rate", "1", "--duration", "1", "--broker", "127.0.0.1:\(port)",
                "--connect-timeout", "1",
            ],
            in: directory
        )
        #expect(result.status == 1)
        #expect(result.stderr.contains("no MQTT broker answered at 127.0.0.1:\(port)"), "\(result.stderr)")
    }
}
