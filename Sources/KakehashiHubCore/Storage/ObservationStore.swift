import KakehashiModel

/// Where the hub keeps entities, their time series, rollups and dead letters.
///
/// Implementations (SQLite now, PostgreSQL later) pass the same conformance suite
/// (`Tests/KakehashiHubTests/Storage/StoreConformance.swift`). Every call names its tenant: no
/// call returns another tenant's rows.
///
/// ```swift
/// let store = try SQLiteStore(path: "hub.sqlite")
/// let result = try await store.ingest(batch)        // stored / duplicates / created entities
/// let latest = try await store.entity(tenant: city, id: gaugeID)
/// let hourly = try await store.rollups(tenant: city, entity: gaugeID, attribute: "waterLevel",
///                                      resolution: .hour, range: lastMonth)
/// ```
public protocol ObservationStore: Sendable {
    /// Stores a batch atomically: each (tenant, entity, attribute, observedAt) once, rollups
    /// updated for new numeric observations only, entities' latest state merged. When this
    /// returns, the batch is durable.
    func ingest(_ batch: IngestBatch) async throws(StorageError) -> IngestResult

    /// The latest state of the tenant's entities, by id order, optionally only of `types` or `ids`.
    func entities(tenant: Tenant, types: Set<String>?, ids: Set<EntityID>?) async throws(StorageError) -> [NGSIEntity]

    /// The latest state of one entity.
    func entity(tenant: Tenant, id: EntityID) async throws(StorageError) -> NGSIEntity?

    /// When each of the tenant's entities `ids` was created (nil when unknown: created before
    /// this was kept) and last modified; entities that do not exist are left out.
    func systemTimes(tenant: Tenant, ids: [EntityID]) async throws(StorageError) -> [EntityID: EntitySystemTimes]

    /// The time series of an entity.
    func series(tenant: Tenant, entity: EntityID) async throws(StorageError) -> [SeriesInfo]

    /// Raw values of one series in `range`, oldest first; with `lastN`, only the newest `lastN`
    /// (still oldest first). At most `limit` values.
    func observations(
        tenant: Tenant,
        entity: EntityID,
        attribute: String,
        range: TimeRange,
        lastN: Int?,
        limit: Int
    ) async throws(StorageError) -> [StoredValue]

    /// Rollup buckets of one numeric series whose start lies in `range`, oldest first.
    func rollups(
        tenant: Tenant,
        entity: EntityID,
        attribute: String,
        resolution: RollupResolution,
        range: TimeRange
    ) async throws(StorageError) -> [RollupBucket]

    /// Removes the attributes `names` from an entity's latest state, or the whole entity when
    /// `names` is nil: it leaves queries, the map and feeds. Its time series stay (temporal
    /// queries, until retention). False when there was no such entity (with `names`: none of
    /// them was there).
    func remove(tenant: Tenant, id: EntityID, attributes names: Set<String>?, at: Timestamp) async throws(StorageError) -> Bool

    /// Deletes the time series of `id`'s attributes `names` (as stored: a multi-attribute
    /// instance by its kept name; every attribute when nil) with their readings and rollups: the
    /// history is gone (NGSI-LD temporal deletion). The entity's latest state is left as it is.
    /// Returns the readings deleted, or nil when the entity has no such series.
    func removeHistory(tenant: Tenant, id: EntityID, attributes names: Set<String>?) async throws(StorageError) -> Int?

    /// Replaces the value `id`'s attribute `name` (as stored) observed at `at` with that of
    /// `attribute` (a Property observed at `at`), fixing the rollups that count it, and the
    /// entity's current value when it is that instance (NGSI-LD temporal instance modification).
    /// False when there is no such instance.
    func replaceInstance(
        tenant: Tenant,
        id: EntityID,
        attribute name: String,
        at: Timestamp,
        with attribute: NGSIAttribute
    ) async throws(StorageError) -> Bool

    /// Keeps a rejected batch (bounded: the oldest go first).
    func recordDeadLetter(_ letter: HubDeadLetter) async throws(StorageError)

    /// The newest dead letters first.
    func deadLetters(limit: Int) async throws(StorageError) -> [HubDeadLetter]

    /// Forgets a dead letter (ingested again by `kakehashi-hub deadletters retry`); false if there was none.
    func deleteDeadLetter(id: Int64) async throws(StorageError) -> Bool

    /// Deletes what `policy` says is too old at `now`.
    func applyRetention(_ policy: RetentionPolicy, now: Timestamp) async throws(StorageError) -> RetentionResult

    /// Row counts.
    func statistics() async throws(StorageError) -> StoreStatistics

    /// Checks that storage answers (for `/healthz`).
    func check() async throws(StorageError)

    /// Housekeeping that should not run on the write path (for SQLite: copying the write-ahead
    /// log back into the database). Called every few hundred milliseconds by the hub.
    func maintain() async throws(StorageError)
}
