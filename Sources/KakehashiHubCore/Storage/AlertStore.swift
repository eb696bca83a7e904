import KakehashiAlerts
import KakehashiModel

/// Where the hub keeps alerts and their history.
///
/// Every event gets the next id of its tenant (1, 2, 3, … without gaps) in the same transaction
/// that updates its alert, so the feeds can resume from an id and miss nothing.
public protocol AlertStore: Sendable {
    /// Stores events decided by the engine, in order, and returns them with their ids.
    /// A raise opens an alert (named by the raise's id); other events update the open alert of
    /// the same (tenant, rule, entity).
    func recordAlertEvents(_ events: [AlertEvent]) async throws(StorageError) -> [AlertEventRecord]

    /// Records that `actor` acknowledged alert `id` at `at`; nil when the tenant has no such alert.
    func acknowledgeAlert(tenant: Tenant, id: Int64, by actor: String, at: Timestamp) async throws(StorageError) -> AlertEventRecord?

    /// The tenant's events with an id above `after`, oldest first, at most `limit`.
    func alertEvents(tenant: Tenant, after: Int64, limit: Int) async throws(StorageError) -> [AlertEventRecord]

    /// The id of the tenant's newest event (0 when it has none): where a client that has just read
    /// the alerts resumes the feed.
    func latestAlertEventID(tenant: Tenant) async throws(StorageError) -> Int64

    /// The tenant's alerts, newest first: only active ones, or all, at most `limit`.
    func alerts(tenant: Tenant, activeOnly: Bool, limit: Int) async throws(StorageError) -> [AlertRecord]

    /// One alert.
    func alert(tenant: Tenant, id: Int64) async throws(StorageError) -> AlertRecord?

    /// The events of one alert, oldest first.
    func alertHistory(tenant: Tenant, alert: Int64) async throws(StorageError) -> [AlertEventRecord]

    /// Every tenant's active alerts (to resume the engine after a restart).
    func activeAlerts() async throws(StorageError) -> [AlertRecord]
}
