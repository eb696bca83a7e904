import Foundation
import KakehashiHubSQLite
import KakehashiHubTestSupport
import KakehashiModel
import KakehashiTestSupport
import Logging
import Testing

@testable import KakehashiHub
@testable import KakehashiHubCore

/// Dead letters keep whole batches, the gateway is told what became of its batch, and
/// `kakehashi-hub deadletters retry` ingests them again once what refused them is put right.
@Suite struct DeadLetterRetryTests {
    static func batch(gateway: String, sequences: ClosedRange<Int>) throws -> [UInt8] {
        let entries = sequences.map {
            WireBatch.Entry(sequence: UInt64($0), entity: Readings.level("r\($0 % 7)", Double($0) / 100, minutes: Int64($0)))
        }
        return try WireBatch(tenant: Readings.kurume, gateway: GatewayID(gateway), entries: entries).payload()
    }

    @Test func theGatewayIsToldWhatBecameOfEachBatch() async throws {
        let hub = try Hub(configuration: HubHarness.configuration(), logger: Logger(label: "test"))
        let ingestor = hub.api.ingestor
        let stored = try await ingestor.handle(topic: "kakehashi/v1/kurume/gw-01/obs", payload: Self.batch(gateway: "gw-01", sequences: 41...140))
        #expect(stored.confirmation?.topic == "kakehashi/v1/kurume/gw-01/ack")
        #expect(stored.confirmation?.acknowledgement == WireAcknowledgement(ranges: [41...140], outcome: .stored))
        // Sent again: stored already, confirmed again.
        let again = try await ingestor.handle(topic: "kakehashi/v1/kurume/gw-01/obs", payload: Self.batch(gateway: "gw-01", sequences: 41...140))
        #expect(again.confirmation?.acknowledgement.outcome == .stored)
        // An entity the hub cannot read: the whole batch is a dead letter, kept whole, and confirmed as one.
        var broken = String(decoding: try Self.batch(gateway: "gw-01", sequences: 141...600), as: UTF8.self)
        broken = broken.replacingOccurrences(of: #""unitCode":"MTR""#, with: #""unitCode":7"#)
        let refused = try await ingestor.handle(topic: "kakehashi/v1/kurume/gw-01/obs", payload: Array(broken.utf8))
        #expect(refused.confirmation?.acknowledgement == WireAcknowledgement(ranges: [141...600], outcome: .deadLetter))
        let letter = try #require(try await hub.store.deadLetters(limit: 1).first)
        #expect(letter.payload.count == broken.utf8.count && letter.size == broken.utf8.count && letter.payload.count > 4096)
        // Not JSON: nothing to confirm (the gateway sends it again); another gateway's topic: no answer.
        #expect(try await ingestor.handle(topic: "kakehashi/v1/kurume/gw-01/obs", payload: Array("garbage".utf8)).confirmation == nil)
        #expect(
            try await ingestor.handle(topic: "kakehashi/v1/kurume/gw-99/obs", payload: Self.batch(gateway: "gw-99", sequences: 1...3)).confirmation
                == nil
        )
        // The wire form round-trips and refuses what it does not know.
        let wire = WireAcknowledgement(ranges: [1...5, 9...9], outcome: .deadLetter)
        #expect(try WireAcknowledgement(payload: wire.payload()) == wire)
        #expect(throws: ModelError.self) { try WireAcknowledgement(payload: Array(#"{"v":2,"ranges":[[1,2]],"outcome":"stored"}"#.utf8)) }
        #expect(throws: ModelError.self) { try WireAcknowledgement(payload: Array(#"{"v":1,"ranges":[[3,2]],"outcome":"stored"}"#.utf8)) }
    }

    @Test func retryStoresWhatWasPutRightAndKeepsTheRest() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-retry-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("hub.yaml")
        func write(gateways: String) throws {
            try "storage: { path: hub.sqlite, sync: normal }\ntenants: { kurume: { gateways: [\(gateways)] } }\n"
                .write(to: file, atomically: true, encoding: .utf8)
        }
        try write(gateways: "gw-01")
        do {
            let hub = try Hub(configuration: try HubConfiguration.load(file: file.path), logger: Logger(label: "test"))
            // A gateway not registered yet, twice; and a payload nobody can read.
            _ = try await hub.api.ingestor.handle(topic: "kakehashi/v1/kurume/gw-02/obs", payload: Self.batch(gateway: "gw-02", sequences: 1...700))
            _ = try await hub.api.ingestor.handle(topic: "kakehashi/v1/kurume/gw-02/obs", payload: Self.batch(gateway: "gw-02", sequences: 701...710))
            _ = try await hub.api.ingestor.handle(topic: "kakehashi/v1/kurume/gw-01/obs", payload: Array("{not json".utf8))
            #expect(try await hub.store.deadLetters(limit: 10).map(\.reason).sorted() == ["invalid_batch", "unknown_gateway", "unknown_gateway"])
        }
        let binary = RepositoryPaths.root.appendingPathComponent(".build/debug/kakehashi-hub").path
        func cli(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            let log = directory.appendingPathComponent("cli-\(UUID().uuidString.prefix(6)).log").path
            let status = await (try ChildProcess(executable: binary, arguments: arguments, logFile: log)).exit()
            return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }
        // Still unregistered: refused again, kept, exit status 1.
        let early = try await cli(["deadletters", "retry", "--config", file.path, "--reason", "unknown_gateway"])
        #expect(early.status != 0 && early.output.contains("refused again, kept: unknown_gateway"), "\(early.output)")
        // Registered: both stored, forgotten; the unreadable one stays.
        try write(gateways: "gw-01, gw-02")
        let fixed = try await cli(["deadletters", "retry", "--config", file.path, "--reason", "unknown_gateway"])
        #expect(fixed.status == 0, "\(fixed.output)")
        #expect(fixed.output.contains("2 dead letter(s): 2 stored (710 readings), 0 refused again"), "\(fixed.output)")
        let none = try await cli(["deadletters", "retry", "--config", file.path])
        #expect(none.status != 0 && none.output.contains("--id N"), "\(none.output)")
        let listed = try await cli(["deadletters", "--config", file.path])
        #expect(listed.status == 0 && listed.output.contains("invalid_batch") && !listed.output.contains("unknown_gateway"), "\(listed.output)")
        let store = try SQLiteStore(path: directory.appendingPathComponent("hub.sqlite").path)
        var total = 0
        for gauge in 0..<7 {
            total += try await store.observations(
                tenant: Readings.kurume,
                entity: Readings.gauge("r\(gauge)"),
                attribute: "waterLevel",
                range: .all,
                lastN: nil,
                limit: 10_000
            ).count
        }
        #expect(total == 710)
    }
}
