import KakehashiBLE
import KakehashiGateway
import KakehashiModel
import Testing

/// The gateway's exposition (swift-prometheus) keeps the documented metric names, with help and
/// type lines, every rejection reason from the start, and the values the gateway counted.
@Suite struct GatewayMetricsTests {
    @Test func theExpositionKeepsTheDocumentedNames() throws {
        let metrics = GatewayMetrics()
        metrics.received(source: "edge", count: 3)
        metrics.rejected(.unknownSensor)
        metrics.committed(2)
        metrics.sent(2)
        metrics.acknowledged(2)
        metrics.dropped([3: 4])
        metrics.outbox(depth: 5, bytes: 700, deadLetters: 1)
        metrics.resent(batches: 1, readings: 2)
        metrics.confirmed(batches: 2, refused: true)
        metrics.invalidConfirmation()
        metrics.uplink(connected: true)
        var decoded = DecodedCapture()
        decoded.unknownStructures = [0x3D: 2]
        decoded.unreadableStructures = [0xFF: 1]
        decoded.unreadableBeacons = 62
        decoded.reassembled = 1
        metrics.ble(decoded)
        metrics.health.register("edge")
        metrics.health.down("edge", reason: "the edge broker is away")
        let now = try Timestamp(iso8601: "2026-06-02T00:01:00Z")
        metrics.waiting(oldestCommittedAt: try Timestamp(iso8601: "2026-06-02T00:00:30Z"), unconfirmedBatches: 7)
        let text = metrics.prometheusText(now: now)
        let lines = Set(text.split(separator: "\n").map(String.init))
        for (name, type) in [
            ("received_total", "counter"), ("rejected_total", "counter"), ("committed_total", "counter"), ("sent_total", "counter"),
            ("acknowledged_total", "counter"), ("batches_confirmed_total", "counter"), ("batches_refused_total", "counter"),
            ("batches_resent_total", "counter"), ("readings_resent_total", "counter"), ("confirmations_invalid_total", "counter"),
            ("dropped_total", "counter"), ("unconfirmed_batches", "gauge"), ("outbox_oldest_seconds", "gauge"), ("outbox_depth", "gauge"),
            ("outbox_bytes", "gauge"), ("deadletters", "gauge"), ("uplink_connected", "gauge"), ("source_up", "gauge"),
            ("source_down_since_seconds", "gauge"), ("ble_structures_unknown_total", "counter"), ("ble_structures_unreadable_total", "counter"),
            ("ble_beacons_unreadable_total", "counter"), ("ble_reassembled_total", "counter"), ("ble_events_unreadable_total", "counter"),
        ] {
            #expect(lines.contains("# TYPE kakehashi_gateway_\(name) \(type)"), "\(name)")
            #expect(lines.contains { $0.hasPrefix("# HELP kakehashi_gateway_\(name) ") }, "\(name)")
        }
        for reason in Rejection.Reason.allCases {
            let count = reason == .unknownSensor ? 1 : 0
            #expect(lines.contains("kakehashi_gateway_rejected_total{reason=\"\(reason.rawValue)\"} \(count)"))
        }
        #expect(lines.contains("kakehashi_gateway_received_total{source=\"edge\"} 3"))
        #expect(lines.contains("kakehashi_gateway_dropped_total{priority=\"3\"} 4"))
        #expect(lines.contains("kakehashi_gateway_batches_refused_total 2"))
        #expect(lines.contains("kakehashi_gateway_outbox_oldest_seconds 30.0"))
        #expect(lines.contains("kakehashi_gateway_unconfirmed_batches 7.0"))
        #expect(lines.contains("kakehashi_gateway_uplink_connected 1.0"))
        #expect(lines.contains("kakehashi_gateway_ble_structures_unknown_total{type=\"0x3d\"} 2"), "\(text)")
        #expect(lines.contains("kakehashi_gateway_ble_beacons_unreadable_total 62"))
        #expect(lines.contains("kakehashi_gateway_source_up{source=\"edge\"} 0.0"))
    }
}
