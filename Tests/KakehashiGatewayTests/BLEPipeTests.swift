import Foundation
import KakehashiModel
import KakehashiTestSupport
import Logging
import Testing

@testable import KakehashiGateway

/// `kakehashi-sim ble` feeding a gateway's btsnoop source through a named pipe: the gateway commits
/// exactly what it commits when it replays the same capture from a file, capture after capture.
struct BLEPipeTests {
    struct Run {
        let outbox: Outbox
        let committer: Committer
        let source: BLESource
    }

    static func make(_ directory: URL, _ name: String, input: BLESourceConfiguration.Input) throws -> Run {
        let outbox = try Outbox(configuration: OutboxConfiguration(path: directory.appendingPathComponent("\(name).sqlite").path))
        let metrics = GatewayMetrics()
        let committer = Committer(outbox: outbox, metrics: metrics, logger: Logger(label: "test"), onCommit: {})
        var configuration = BLESourceConfiguration(input: input, secret: Array("a-secret-of-sixteen-bytes".utf8))
        configuration.location = try GeoPoint(latitude: 34.7303, longitude: 136.5086)
        let source = BLESource(
            name: name,
            configuration: configuration,
            tenant: try Tenant("kurume"),
            priority: 1,
            committer: committer,
            metrics: metrics,
            logger: Logger(label: "test"),
            clock: { Timestamp(Date()) }
        )
        return Run(outbox: outbox, committer: committer, source: source)
    }

    static func entities(_ outbox: Outbox) throws -> [String] {
        try outbox.readings(after: 0, limit: 100_000).map { String(decoding: $0.entity, as: UTF8.self) }
    }

    @Test(.timeLimit(.minutes(2)))
    func capturesWrittenIntoThePipeAreCommittedAsFromTheFile() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-pipe-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let captures = ["ble/yeelock.btsnoop", "ble/horizon-74.btsnoop"].map { RepositoryPaths.trace($0).path }

        // What the file replays commit, capture by capture.
        var expected = [String]()
        for (index, capture) in captures.enumerated() {
            let file = try Self.make(directory, "file\(index)", input: .btsnoop(path: capture, speed: 0))
            let committing = Task { try await file.committer.run() }
            try await file.source.run()
            file.committer.commitPending()
            committing.cancel()
            expected += try Self.entities(file.outbox)
        }
        #expect(expected.count > 50)
        // Every tag is placed where the adapter is (the source's location).
        #expect(expected.allSatisfy { $0.contains("\"location\"") && $0.contains("[136.5086,34.7303]") }, "\(expected.first ?? "")")

        // The same captures written one after the other into the pipe by the simulator.
        let pipePath = directory.appendingPathComponent("ble.pipe").path
        let piped = try Self.make(directory, "pipe", input: .pipe(path: pipePath))
        let committing = Task { try await piped.committer.run() }
        let reading = Task { try await piped.source.run() }
        try await waitUntil("the gateway created the pipe", timeout: .seconds(10)) { FileManager.default.fileExists(atPath: pipePath) }
        let simulator = RepositoryPaths.root.appendingPathComponent(".build/debug/kakehashi-sim").path
        for capture in captures {
            let log = directory.appendingPathComponent("sim.log").path
            let child = try ChildProcess(
                executable: simulator,
                arguments: ["ble", capture, "--into", pipePath, "--as-fast-as-possible", "--progress", "none"],
                logFile: log
            )
            try await waitUntil("kakehashi-sim ble finished", timeout: .seconds(30)) { !child.isRunning }
            #expect(child.wait() == 0, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        try await waitUntil("every reading of both captures is committed", timeout: .seconds(30)) {
            piped.committer.commitPending()
            return try Self.entities(piped.outbox).count >= expected.count
        }
        #expect(try Self.entities(piped.outbox) == expected)
        reading.cancel()
        _ = try? await reading.value
        committing.cancel()
    }

    @Test func aPathThatIsNotAPipeIsRefusedWithTheReason() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-pipe-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("plain-file").path
        try Data("x".utf8).write(to: URL(fileURLWithPath: path))
        let run = try Self.make(directory, "bad", input: .pipe(path: path))
        do {
            try await run.source.run()
            Issue.record("a regular file was read as a pipe")
        } catch {
            #expect("\(error)".contains("is not a named pipe"))
        }
    }
}
