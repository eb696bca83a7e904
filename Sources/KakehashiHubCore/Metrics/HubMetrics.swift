import CoreMetrics
import KakehashiModel

/// The hub's own metrics, created once from an injected factory.
public struct HubMetrics: Sendable {
    let factory: any MetricsFactory
    /// Batches stored (MQTT and HTTP).
    let batchesStored: Counter
    /// Observations stored for the first time.
    let readingsStored: Counter
    /// Observations received again and left unchanged.
    let readingsDuplicate: Counter
    /// Observations past raw retention, not stored.
    let readingsExpired: Counter
    /// Storage attempts that failed (and were retried).
    let storageFailures: Counter
    /// Time to validate and store one batch.
    let ingestDuration: Timer
    /// Confirmations published to gateways (``WireAcknowledgement``), acknowledged by the broker.
    let confirmationsSent: Counter
    /// Confirmations the broker did not take (the gateway sends those batches again).
    let confirmationsFailed: Counter
    /// Alert events stored and published.
    let alertEvents: Counter
    /// Readings evaluated after a later reading of their entity (placed where they belong).
    let alertLateReadings: Counter
    /// Readings older than every reading the rules keep for their entity: stored, not evaluated.
    let alertTooLateReadings: Counter
    /// Batches of a gateway whose sequence left a gap the rules waited for (`alerts.reorder_wait`).
    let alertSequenceGaps: Counter
    /// Stored entities evaluated by the owner of their partition (several hubs over PostgreSQL).
    let alertPendingEvaluated: Counter

    /// Creates the metrics in `factory`.
    public init(factory: any MetricsFactory) {
        self.factory = factory
        batchesStored = Counter(label: "kakehashi_hub_batches_stored_total", factory: factory)
        alertPendingEvaluated = Counter(label: "kakehashi_hub_alert_pending_evaluated_total", factory: factory)
        readingsStored = Counter(label: "kakehashi_hub_readings_stored_total", factory: factory)
        readingsDuplicate = Counter(label: "kakehashi_hub_readings_duplicate_total", factory: factory)
        readingsExpired = Counter(label: "kakehashi_hub_readings_expired_total", factory: factory)
        storageFailures = Counter(label: "kakehashi_hub_storage_failures_total", factory: factory)
        ingestDuration = Timer(label: "kakehashi_hub_ingest_duration_seconds", factory: factory)
        confirmationsSent = Counter(label: "kakehashi_hub_confirmations_sent_total", factory: factory)
        confirmationsFailed = Counter(label: "kakehashi_hub_confirmations_failed_total", factory: factory)
        alertEvents = Counter(label: "kakehashi_hub_alert_events_total", factory: factory)
        alertLateReadings = Counter(label: "kakehashi_hub_alert_late_readings_total", factory: factory)
        alertTooLateReadings = Counter(label: "kakehashi_hub_alert_too_late_readings_total", factory: factory)
        alertSequenceGaps = Counter(label: "kakehashi_hub_alert_sequence_gaps_total", factory: factory)
        for reason in IngestRejection.Reason.allCases { rejected(reason).increment(by: 0) }
    }

    /// Batches rejected for `reason`.
    func rejected(_ reason: IngestRejection.Reason) -> Counter {
        Counter(label: "kakehashi_hub_batches_rejected_total", dimensions: [("reason", reason.rawValue)], factory: factory)
    }

    func record(_ result: IngestResult) {
        batchesStored.increment()
        readingsStored.increment(by: result.stored)
        readingsDuplicate.increment(by: result.duplicates)
        readingsExpired.increment(by: result.expired)
    }
}
