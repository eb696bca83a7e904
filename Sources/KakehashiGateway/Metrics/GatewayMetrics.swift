import Foundation
import KakehashiBLE
import KakehashiModel
import Prometheus
import Synchronization

/// The gateway's counters and gauges, rendered in the Prometheus text format by swift-prometheus
/// (also the node_exporter textfile format); the values the gateway reports itself (`status`, logs)
/// are kept beside them.
///
/// Counters only go up for the life of the process (Prometheus handles restarts); quota drops
/// are also kept in the outbox, so `status` reports them across restarts.
public final class GatewayMetrics: Sendable {
    struct Values {
        var received: [String: Int] = [:]
        var rejected: [String: Int] = [:]
        var committed = 0
        var acknowledged = 0
        var uplinkConnected = false
        var lastError: String?
        var batchesResent = 0
        var batchesConfirmed = 0
        var oldestCommittedAt: Timestamp?
    }

    let values = Mutex(Values())
    /// Each source's, the uplink's and the committer's state, for the status message, the
    /// `source_up` gauges and the watchdog.
    public let health: SourceHealth
    /// The collectors behind ``prometheusText(now:)``.
    let registry = PrometheusCollectorRegistry()

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "kakehashi", subsystem: "gateway", metricName: metric, unitName: unit, helpText: help)
    }

    private let committedCounter: Counter
    private let sentCounter: Counter
    private let acknowledgedCounter: Counter
    private let batchesConfirmedCounter: Counter
    private let batchesRefusedCounter: Counter
    private let batchesResentCounter: Counter
    private let readingsResentCounter: Counter
    private let invalidConfirmationsCounter: Counter
    private let unconfirmedGauge: Gauge
    private let oldestGauge: Gauge
    private let depthGauge: Gauge
    private let bytesGauge: Gauge
    private let deadLettersGauge: Gauge
    private let connectedGauge: Gauge
    private let bleBeaconsUnreadableCounter: Counter
    private let bleReassembledCounter: Counter
    private let bleEventsUnreadableCounter: Counter

    public init(clock: @escaping @Sendable () -> Timestamp = { Timestamp(Date()) }) {
        health = SourceHealth(clock: clock)
        committedCounter = registry.makeCounter(descriptor: Self.name("committed", "total", "Readings committed to the outbox."))
        sentCounter = registry.makeCounter(descriptor: Self.name("sent", "total", "Readings published to the central broker (resends included)."))
        acknowledgedCounter = registry.makeCounter(
            descriptor: Self.name(
                "acknowledged",
                "total",
                "Readings deleted from the outbox: confirmed by the hub (central.confirmation: hub) or acknowledged by the broker (broker)."
            )
        )
        batchesConfirmedCounter = registry.makeCounter(
            descriptor: Self.name("batches_confirmed", "total", "Batches the hub confirmed (stored, or kept as a dead letter).")
        )
        batchesRefusedCounter = registry.makeCounter(
            descriptor: Self.name("batches_refused", "total", "Batches the hub refused and keeps as dead letters.")
        )
        batchesResentCounter = registry.makeCounter(
            descriptor: Self.name("batches_resent", "total", "Batches sent again because the hub had not confirmed them in time.")
        )
        readingsResentCounter = registry.makeCounter(descriptor: Self.name("readings_resent", "total", "Readings in batches sent again."))
        invalidConfirmationsCounter = registry.makeCounter(
            descriptor: Self.name("confirmations_invalid", "total", "Messages on the confirmation topic that were not confirmations.")
        )
        unconfirmedGauge = registry.makeGauge(descriptor: Self.name("unconfirmed", "batches", "Batches sent and not yet confirmed by the hub."))
        oldestGauge = registry.makeGauge(descriptor: Self.name("outbox_oldest", "seconds", "Age of the oldest reading in the outbox (0 when empty)."))
        depthGauge = registry.makeGauge(descriptor: Self.name("outbox", "depth", "Readings in the outbox waiting for acknowledgement."))
        bytesGauge = registry.makeGauge(descriptor: Self.name("outbox", "bytes", "Bytes counted against the outbox quota."))
        deadLettersGauge = registry.makeGauge(descriptor: Self.name("deadletters", "", "Rejected messages kept in the dead-letter table."))
        connectedGauge = registry.makeGauge(descriptor: Self.name("uplink", "connected", "1 when connected to the central broker."))
        bleBeaconsUnreadableCounter = registry.makeCounter(
            descriptor: Self.name("ble_beacons_unreadable", "total", "BLE reports kept without a beacon: their beacon frame could not be read.")
        )
        bleReassembledCounter = registry.makeCounter(
            descriptor: Self.name("ble_reassembled", "total", "Extended BLE advertisements reassembled from fragments.")
        )
        bleEventsUnreadableCounter = registry.makeCounter(
            descriptor: Self.name("ble_events_unreadable", "total", "HCI events whose advertising reports could not be read.")
        )
        // Every reason is shown from the start, at 0.
        for reason in Rejection.Reason.allCases { _ = rejectedCounter(reason.rawValue) }
    }

    private func receivedCounter(_ source: String) -> Counter {
        registry.makeCounter(descriptor: Self.name("received", "total", "Sensor messages received, by source."), labels: [("source", source)])
    }

    private func rejectedCounter(_ reason: String) -> Counter {
        registry.makeCounter(descriptor: Self.name("rejected", "total", "Sensor messages rejected, by reason."), labels: [("reason", reason)])
    }

    private func sourceUpGauge(_ source: String) -> Gauge {
        registry.makeGauge(
            descriptor: Self.name("source", "up", "1 while a source (or the uplink) receives or can receive; 0 while it is down and retried."),
            labels: [("source", source)]
        )
    }

    private func sourceDownSinceGauge(_ source: String) -> Gauge {
        registry.makeGauge(
            descriptor: Self.name("source_down_since", "seconds", "Unix time a source (or the uplink) went down; 0 while it is up."),
            labels: [("source", source)]
        )
    }

    private func bleStructureCounter(_ kind: String, _ type: UInt8) -> Counter {
        registry.makeCounter(
            descriptor: Self.name(
                "ble_structures_\(kind)",
                "total",
                kind == "unknown"
                    ? "BLE AD structures of types not interpreted (kept raw), by type."
                    : "BLE AD structures that could not be read (kept raw; the report is kept), by type."
            ),
            labels: [("type", "0x" + Hex.byte(type))]
        )
    }

    private func droppedCounter(_ priority: Int) -> Counter {
        registry.makeCounter(
            descriptor: Self.name("dropped", "total", "Readings dropped by the outbox quota, by priority."),
            labels: [("priority", "\(priority)")]
        )
    }

    public func received(source: String, count: Int = 1) {
        values.withLock { $0.received[source, default: 0] += count }
        receivedCounter(source).increment(by: Int64(count))
    }
    public func rejected(_ reason: Rejection.Reason) {
        values.withLock { $0.rejected[reason.rawValue, default: 0] += 1 }
        rejectedCounter(reason.rawValue).increment()
    }
    public func committed(_ count: Int) {
        values.withLock { $0.committed += count }
        committedCounter.increment(by: Int64(count))
    }
    public func sent(_ count: Int) { sentCounter.increment(by: Int64(count)) }
    public func acknowledged(_ count: Int) {
        values.withLock { $0.acknowledged += count }
        acknowledgedCounter.increment(by: Int64(count))
    }
    /// What decoding BLE reports could not interpret: counted, the reports themselves kept.
    public func ble(_ decoded: DecodedCapture) {
        for (type, count) in decoded.unknownStructures { bleStructureCounter("unknown", type).increment(by: Int64(count)) }
        for (type, count) in decoded.unreadableStructures { bleStructureCounter("unreadable", type).increment(by: Int64(count)) }
        if decoded.unreadableBeacons > 0 { bleBeaconsUnreadableCounter.increment(by: Int64(decoded.unreadableBeacons)) }
        if decoded.reassembled > 0 { bleReassembledCounter.increment(by: Int64(decoded.reassembled)) }
        if !decoded.problems.isEmpty { bleEventsUnreadableCounter.increment(by: Int64(decoded.problems.count)) }
    }

    public func dropped(_ drops: [Int: Int]) {
        for (priority, count) in drops { droppedCounter(priority).increment(by: Int64(count)) }
    }
    public func outbox(depth: Int, bytes: Int64, deadLetters: Int) {
        depthGauge.set(Double(depth))
        bytesGauge.set(Double(bytes))
        deadLettersGauge.set(Double(deadLetters))
    }
    /// A batch the hub had not confirmed in time, sent again.
    public func resent(batches: Int, readings: Int) {
        values.withLock { $0.batchesResent += batches }
        batchesResentCounter.increment(by: Int64(batches))
        readingsResentCounter.increment(by: Int64(readings))
    }
    /// Batches the hub confirmed; `refused`: it kept them as dead letters.
    public func confirmed(batches: Int, refused: Bool) {
        values.withLock { $0.batchesConfirmed += batches }
        batchesConfirmedCounter.increment(by: Int64(batches))
        if refused { batchesRefusedCounter.increment(by: Int64(batches)) }
    }
    /// A message on the confirmation topic that is not a confirmation.
    public func invalidConfirmation() { invalidConfirmationsCounter.increment() }
    /// When the oldest reading in the outbox was committed (nil: empty), and batches awaiting the hub.
    public func waiting(oldestCommittedAt: Timestamp?, unconfirmedBatches: Int) {
        values.withLock { $0.oldestCommittedAt = oldestCommittedAt }
        unconfirmedGauge.set(Double(unconfirmedBatches))
    }
    public var batchesResentTotal: Int { values.withLock { $0.batchesResent } }
    public var batchesConfirmedTotal: Int { values.withLock { $0.batchesConfirmed } }

    public func uplink(connected: Bool) {
        values.withLock { $0.uplinkConnected = connected }
        connectedGauge.set(connected ? 1.0 : 0.0)
    }
    public func error(_ message: String) { values.withLock { $0.lastError = message } }
    /// Forgets the last error (the condition it described is over).
    public func clearError() { values.withLock { $0.lastError = nil } }
    /// Whether the uplink is connected now, as last reported.
    public var uplinkConnected: Bool { values.withLock { $0.uplinkConnected } }

    public var lastError: String? { values.withLock { $0.lastError } }
    public var receivedTotal: Int { values.withLock { $0.received.values.reduce(0, +) } }
    public var rejectedTotal: Int { values.withLock { $0.rejected.values.reduce(0, +) } }
    public func rejectedCount(_ reason: Rejection.Reason) -> Int { values.withLock { $0.rejected[reason.rawValue] ?? 0 } }
    public var committedTotal: Int { values.withLock { $0.committed } }
    public var acknowledgedTotal: Int { values.withLock { $0.acknowledged } }

    /// The Prometheus text exposition (also the node_exporter textfile format).
    public func prometheusText(now: Timestamp = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))) -> String {
        let oldest = values.withLock { $0.oldestCommittedAt }
        oldestGauge.set(oldest.map { max(0, Double(now.millisecondsSinceEpoch - $0.millisecondsSinceEpoch) / 1000) } ?? 0)
        for (name, entry) in health.snapshot where name != "committer" {
            sourceUpGauge(name).set(entry.state == .down ? 0.0 : 1.0)
            sourceDownSinceGauge(name).set(entry.state == .down ? Double(entry.since.millisecondsSinceEpoch) / 1000 : 0)
        }
        return registry.emitToString()
    }
}
