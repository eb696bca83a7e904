import Foundation
import KakehashiModel
import Synchronization

/// The gateway's counters and gauges, rendered in the Prometheus text format.
///
/// Counters only go up for the life of the process (Prometheus handles restarts); quota drops
/// are also kept in the outbox, so `status` reports them across restarts.
public final class GatewayMetrics: Sendable {
    struct Values {
        var received: [String: Int] = [:]
        var rejected: [String: Int] = [:]
        var committed = 0
        var sent = 0
        var acknowledged = 0
        var dropped: [Int: Int] = [:]
        var outboxDepth = 0
        var outboxBytes: Int64 = 0
        var uplinkConnected = false
        var deadLetters = 0
        var lastError: String?
        var batchesResent = 0
        var readingsResent = 0
        var batchesConfirmed = 0
        var batchesRefused = 0
        var invalidConfirmations = 0
        var oldestCommittedAt: Timestamp?
        var unconfirmed = 0
    }

    let values = Mutex(Values())

    public init() {}

    public func received(source: String, count: Int = 1) { values.withLock { $0.received[source, default: 0] += count } }
    public func rejected(_ reason: Rejection.Reason) { values.withLock { $0.rejected[reason.rawValue, default: 0] += 1 } }
    public func committed(_ count: Int) { values.withLock { $0.committed += count } }
    public func sent(_ count: Int) { values.withLock { $0.sent += count } }
    public func acknowledged(_ count: Int) { values.withLock { $0.acknowledged += count } }
    public func dropped(_ drops: [Int: Int]) {
        values.withLock { for (priority, count) in drops { $0.dropped[priority, default: 0] += count } }
    }
    public func outbox(depth: Int, bytes: Int64, deadLetters: Int) {
        values.withLock {
            $0.outboxDepth = depth
            $0.outboxBytes = bytes
            $0.deadLetters = deadLetters
        }
    }
    /// A batch the hub had not confirmed in time, sent again.
    public func resent(batches: Int, readings: Int) {
        values.withLock {
            $0.batchesResent += batches; $0.readingsResent += readings
        }
    }
    /// Batches the hub confirmed; `refused`: it kept them as dead letters.
    public func confirmed(batches: Int, refused: Bool) {
        values.withLock {
            $0.batchesConfirmed += batches; if refused { $0.batchesRefused += batches }
        }
    }
    /// A message on the confirmation topic that is not a confirmation.
    public func invalidConfirmation() { values.withLock { $0.invalidConfirmations += 1 } }
    /// When the oldest reading in the outbox was committed (nil: empty), and batches awaiting the hub.
    public func waiting(oldestCommittedAt: Timestamp?, unconfirmedBatches: Int) {
        values.withLock {
            $0.oldestCommittedAt = oldestCommittedAt; $0.unconfirmed = unconfirmedBatches
        }
    }
    public var batchesResentTotal: Int { values.withLock { $0.batchesResent } }
    public var batchesConfirmedTotal: Int { values.withLock { $0.batchesConfirmed } }

    public func uplink(connected: Bool) { values.withLock { $0.uplinkConnected = connected } }
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
        let v = values.withLock { $0 }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(String, String)]) {
            out += "# HELP kakehashi_gateway_\(name) \(help)\n# TYPE kakehashi_gateway_\(name) \(type)\n"
            for (labels, value) in samples { out += "kakehashi_gateway_\(name)\(labels) \(value)\n" }
        }
        family(
            "received_total",
            "counter",
            "Sensor messages received, by source.",
            v.received.sorted { $0.key < $1.key }.map { ("{source=\"\($0.key)\"}", "\($0.value)") }
        )
        family(
            "rejected_total",
            "counter",
            "Sensor messages rejected, by reason.",
            Rejection.Reason.allCases.map { ("{reason=\"\($0.rawValue)\"}", "\(v.rejected[$0.rawValue] ?? 0)") }
        )
        family("committed_total", "counter", "Readings committed to the outbox.", [("", "\(v.committed)")])
        family("sent_total", "counter", "Readings published to the central broker (resends included).", [("", "\(v.sent)")])
        family(
            "acknowledged_total",
            "counter",
            "Readings deleted from the outbox: confirmed by the hub (central.confirmation: hub) or acknowledged by the broker (broker).",
            [("", "\(v.acknowledged)")]
        )
        family("batches_confirmed_total", "counter", "Batches the hub confirmed (stored, or kept as a dead letter).", [("", "\(v.batchesConfirmed)")])
        family("batches_refused_total", "counter", "Batches the hub refused and keeps as dead letters.", [("", "\(v.batchesRefused)")])
        family("batches_resent_total", "counter", "Batches sent again because the hub had not confirmed them in time.", [("", "\(v.batchesResent)")])
        family("readings_resent_total", "counter", "Readings in batches sent again.", [("", "\(v.readingsResent)")])
        family(
            "confirmations_invalid_total",
            "counter",
            "Messages on the confirmation topic that were not confirmations.",
            [("", "\(v.invalidConfirmations)")]
        )
        family("unconfirmed_batches", "gauge", "Batches sent and not yet confirmed by the hub.", [("", "\(v.unconfirmed)")])
        let age = v.oldestCommittedAt.map { max(0, Double(now.millisecondsSinceEpoch - $0.millisecondsSinceEpoch) / 1000) } ?? 0
        family("outbox_oldest_seconds", "gauge", "Age of the oldest reading in the outbox (0 when empty).", [("", "\(age)")])
        family(
            "dropped_total",
            "counter",
            "Readings dropped by the outbox quota, by priority.",
            v.dropped.sorted { $0.key < $1.key }.map { ("{priority=\"\($0.key)\"}", "\($0.value)") }
        )
        family("outbox_depth", "gauge", "Readings in the outbox waiting for acknowledgement.", [("", "\(v.outboxDepth)")])
        family("outbox_bytes", "gauge", "Bytes counted against the outbox quota.", [("", "\(v.outboxBytes)")])
        family("deadletters", "gauge", "Rejected messages kept in the dead-letter table.", [("", "\(v.deadLetters)")])
        family("uplink_connected", "gauge", "1 when connected to the central broker.", [("", v.uplinkConnected ? "1" : "0")])
        return out
    }
}
