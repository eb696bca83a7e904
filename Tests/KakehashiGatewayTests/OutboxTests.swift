import Foundation
import KakehashiModel
import Testing

@testable import KakehashiGateway

@Suite struct OutboxTests {
    func configuration(quota: Int64) -> OutboxConfiguration {
        var configuration = OutboxConfiguration(
            path: FileManager.default.temporaryDirectory.appendingPathComponent("kk-outbox-\(UUID().uuidString).sqlite").path
        )
        configuration.quotaBytes = quota
        configuration.sync = .normal
        return configuration
    }

    /// A 200-byte entity named `p<priority>-<tag, 3 digits>`.
    func reading(_ priority: Int, _ tag: Int) -> PendingReading {
        let name = "p\(priority)-" + String(String(1000 + tag).suffix(3))
        let head = #"{"id":"urn:ngsi-ld:X:t:\#(name)","type":"X","pad":""#
        return PendingReading(priority: priority, entity: Array((head + String(repeating: "x", count: 200 - head.utf8.count - 2) + "\"}").utf8))
    }

    func names(_ outbox: Outbox) throws -> [String] {
        try outbox.readings(after: 0, limit: 1000).map { reading in
            let text = String(decoding: reading.entity, as: UTF8.self)
            return String(text.split(separator: ":")[5].prefix { $0 != "\"" })
        }
    }

    @Test func sequencesIncreaseAcrossRestartsAndAcknowledgedReadingsLeave() throws {
        let configuration = configuration(quota: 1 << 30)
        defer { try? FileManager.default.removeItem(atPath: configuration.path) }
        do {
            let outbox = try Outbox(configuration: configuration)
            #expect(try outbox.commit((0..<5).map { reading(3, $0) }).sequences == 1...5)
            outbox.acknowledge(1...3)
            #expect(outbox.depth == 5)  // deleted at the next commit
            let result = try outbox.commit([reading(3, 5)])
            #expect(result.acknowledged == 3)
            #expect(result.sequences == 6...6)
        }
        let reopened = try Outbox(configuration: configuration)
        #expect(reopened.depth == 3)
        #expect(reopened.lastSequence == 6)
        #expect(try reopened.readings(after: 0, limit: 10).map(\.sequence) == [4, 5, 6])
        reopened.acknowledge(4...6)
        try reopened.commit([])
        #expect(try reopened.commit([reading(1, 9)]).sequences == 7...7)  // never reused
    }

    @Test func theQuotaDropsTheLowestPriorityOldestFirstAndCountsThem() throws {
        // Each reading costs 200 + 48 bytes; 40 fit in 10,000 bytes.
        let configuration = configuration(quota: 10_000)
        defer { try? FileManager.default.removeItem(atPath: configuration.path) }
        let outbox = try Outbox(configuration: configuration)
        #expect(reading(1, 0).entity.count == 200)
        // 20 flood (3), 15 counters (2), 15 BLE (1) = 50 readings: 10 too many.
        try outbox.commit((0..<20).map { reading(3, $0) })
        try outbox.commit((100..<115).map { reading(2, $0) })
        let result = try outbox.commit((200..<215).map { reading(1, $0) })
        #expect(result.dropped == [1: 10])
        #expect(outbox.depth == 40)
        var left = try names(outbox)
        #expect(!left.contains("p1-200") && !left.contains("p1-209"))  // the oldest BLE readings went first
        #expect(left.contains("p1-210") && left.contains("p1-214"))
        let flood = left.filter { $0.hasPrefix("p3") }.count
        let counters = left.filter { $0.hasPrefix("p2") }.count
        #expect(flood == 20)
        #expect(counters == 15)
        // 25 more flood readings: the 5 BLE left go, then the 15 counters, then the 5 oldest flood.
        let second = try outbox.commit((20..<45).map { reading(3, $0) })
        #expect(second.dropped == [1: 5, 2: 15, 3: 5])
        left = try names(outbox)
        let expected: [String] = (5..<45).map { (tag: Int) -> String in "p3-" + String(String(1000 + tag).suffix(3)) }
        #expect(left == expected)
        #expect(outbox.drops == [1: 15, 2: 15, 3: 5])
        #expect(outbox.bytes <= 10_000)
        // Counts survive a restart, for the status message.
        #expect(try Outbox(configuration: configuration).drops == [1: 15, 2: 15, 3: 5])
    }

    @Test func deadLettersAreBoundedAndKeepTheirReason() throws {
        var configuration = configuration(quota: 1 << 30)
        configuration.deadLetterLimit = 3
        defer { try? FileManager.default.removeItem(atPath: configuration.path) }
        let outbox = try Outbox(configuration: configuration)
        for i in 0..<5 {
            outbox.recordDeadLetter(
                DeadLetter(
                    receivedAt: Timestamp(millisecondsSinceEpoch: Int64(i)),
                    source: "edge",
                    topic: "t/\(i)",
                    reason: "malformed_json",
                    detail: "d\(i)",
                    size: 10_000,
                    payload: Array(repeating: 0x41, count: 10_000)
                )
            )
        }
        try outbox.commit([])
        let letters = try outbox.deadLetters(limit: 10)
        #expect(letters.map(\.topic) == ["t/4", "t/3", "t/2"])
        #expect(letters.allSatisfy { $0.payload.count == 4096 && $0.size == 10_000 })
    }

    @Test func theWirePayloadIsAValidWireBatch() throws {
        let entity = try WaterObserved(
            id: EntityID(type: "WaterObserved", tenant: Tenant("kurume"), localID: "g1"),
            location: GeoPoint(latitude: 33.3, longitude: 130.5),
            dateObserved: Timestamp(iso8601: "2026-06-02T00:10:00Z"),
            waterLevel: Quantity(1.25, .metre)
        ).ngsiEntity
        let stored = [
            StoredReading(sequence: 41, entity: Ingest.pending(entity, priority: 3).entity),
            StoredReading(sequence: 42, entity: Ingest.pending(entity, priority: 3).entity),
        ]
        let payload = Uplink.payload(tenant: try Tenant("kurume"), gateway: try GatewayID("gw-1"), readings: stored)
        let batch = try WireBatch(payload: payload)
        #expect(batch.entries.map(\.sequence) == [41, 42])
        #expect(batch.entries[0].entity.id == entity.id)
        #expect(batch.gateway.rawValue == "gw-1")
        // One writer of the wire format: the batch read back writes the same bytes.
        #expect(batch.payload() == payload)
    }
}
