import KakehashiHubSQLite
import KakehashiHubTestSupport
import KakehashiMQTT
import KakehashiModel
import KakehashiTestSupport
import Logging
import Testing

@testable import KakehashiHub
@testable import KakehashiHubCore

/// A reading stamped far in the future (a wrong clock) or older than the configured floor is
/// refused on both ingest paths, kept as a dead letter, and never pins an entity's latest state.
struct ClockLimitsTests {
    /// The hub's clock: 2026-06-02T12:00Z.
    static let now = Readings.t0.advanced(byMilliseconds: 12 * 3_600_000)

    static func configuration() -> HubConfiguration {
        var configuration = HubHarness.configuration()
        configuration.limits.maxReadingAge = .seconds(7 * 86_400)
        return configuration
    }

    @Test func theHTTPPathRefusesReadingsFromTheFarFutureAndTooOld() async throws {
        let now: WallClock = { Self.now }
        try await HubHarness.withHub(Self.configuration(), now: now) { hub, client in
            #expect(try await client.upsert([Readings.level("g1", 1.0, minutes: 11 * 60)]).status == .created)
            // 2999-01-01, eleven minutes ahead (limit 10), and eight days old (limit 7).
            var future = Readings.level("g1", 9.9, minutes: 0)
            future.attributes["waterLevel"] = .property(
                NGSIProperty(try Quantity(9.9, .metre), observedAt: try Timestamp(iso8601: "2999-01-01T00:00:00Z"))
            )
            let ahead = Readings.level("g2", 2.0, minutes: 12 * 60 + 11)
            let old = Readings.level("g3", 3.0, minutes: -8 * 24 * 60)
            let fine = Readings.level("g4", 4.0, minutes: 12 * 60 + 9)
            let reply = try await client.upsert([future, ahead, old, fine])
            #expect(reply.status.code == 207)
            let errors = reply.json["errors"]?.arrayValue ?? []
            #expect(
                errors.compactMap { $0["entityId"]?.stringValue }.sorted()
                    == [Readings.gauge("g1"), Readings.gauge("g2"), Readings.gauge("g3")].map(\.rawValue)
            )
            #expect(errors.allSatisfy { ($0["error"]?["detail"]?.stringValue ?? "").contains("limits.max_") }, "\(errors)")
            #expect(reply.json["success"] == [.string(Readings.gauge("g4").rawValue)])

            // Each kept with its reason; the latest state of g1 is still its real reading.
            let letters = try await hub.store.deadLetters(limit: 10)
            #expect(letters.map(\.reason).sorted() == ["clock_skew", "clock_skew", "too_old"])
            #expect(letters.allSatisfy { $0.source == "http" && !$0.payload.isEmpty })
            #expect(hub.registry.value("kakehashi_hub_batches_rejected_total", [("reason", "clock_skew")]) == 2)
            let g1 = try await client.call(.get, "/ngsi-ld/v1/entities/\(Readings.gauge("g1").rawValue)").json
            #expect(g1["waterLevel"]?["value"] == 1.0)
            // A later real reading still moves it on.
            _ = try await client.upsert([Readings.level("g1", 1.2, minutes: 11 * 60 + 30)])
            #expect(try await client.call(.get, "/ngsi-ld/v1/entities/\(Readings.gauge("g1").rawValue)").json["waterLevel"]?["value"] == 1.2)
        }
    }

    @Test func aGatewayBatchKeepsItsGoodReadingsAndDeadLettersTheOthers() async throws {
        let hub = try Hub(configuration: Self.configuration(), logger: Logger(label: "test"), now: { Self.now })
        let ingestor = hub.api.ingestor
        let entries = [
            Readings.level("g1", 1.0, minutes: 11 * 60), Readings.level("g1", 5.0, minutes: 13 * 60), Readings.level("g2", 2.0, minutes: 11 * 60),
        ]
        .enumerated().map { WireBatch.Entry(sequence: UInt64($0.offset + 1), entity: $0.element) }
        let payload = try WireBatch(tenant: Readings.kurume, gateway: GatewayID("gw-01"), entries: entries).payload()
        let outcome = try await ingestor.ingest(topic: "kakehashi/v1/kurume/gw-01/obs", payload: payload)
        guard case .stored(let result) = outcome else { Issue.record("\(outcome)"); return }
        #expect(result.stored == 2)
        let letters = try await hub.store.deadLetters(limit: 10)
        #expect(letters.map(\.reason) == ["clock_skew"] && letters.first?.source == "kakehashi/v1/kurume/gw-01/obs")
        #expect(letters.first?.detail.contains("2026-06-02T13:00:00.000Z") == true)
    }
}
