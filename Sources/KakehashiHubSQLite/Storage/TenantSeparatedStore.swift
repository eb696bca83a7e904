import Foundation
import KakehashiAlerts
import KakehashiHubCore
import KakehashiModel
import Synchronization

/// One SQLite database per tenant (`storage.separation: per_tenant`): the stronger isolation
/// the national guidance on shared platforms names (接続組織単位でのデータベース分離). Each
/// tenant's entities, series, observations, rollups and alerts live in
/// `<folder of storage.path>/tenants/<tenant>.sqlite`; the main file keeps what belongs to the
/// hub (dead letters, tenants, keys, grants). A tenant's file is created at its first write and
/// can be copied, exported or removed on its own.
public final class TenantSeparatedStore: ObservationStore, AlertStore, Sendable {
    /// The hub's own file.
    public let main: SQLiteStore
    /// The folder of the tenants' files.
    public let folder: String
    let options: SQLiteStore.Options
    private let stores = Mutex<[Tenant: SQLiteStore]>([:])

    /// Opens the main file at `path` and every tenant file already in `tenants/` beside it.
    public init(path: String, options: SQLiteStore.Options = .init()) throws(StorageError) {
        main = try SQLiteStore(path: path, options: options)
        self.options = options
        folder = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("tenants").path
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw StorageError("creating the tenants' folder \(folder)", cause: "\(error)")
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasSuffix(".sqlite") {
            if let tenant = try? Tenant(String(name.dropLast(".sqlite".count))) { _ = try store(tenant) }
        }
    }

    /// The file of `tenant`'s data.
    public static func file(of tenant: Tenant, folder: String) -> String { "\(folder)/\(tenant.name).sqlite" }

    /// `tenant`'s store, opened (and created) on first use.
    public func store(_ tenant: Tenant) throws(StorageError) -> SQLiteStore {
        if let open = stores.withLock({ $0[tenant] }) { return open }
        let opened = try SQLiteStore(path: Self.file(of: tenant, folder: folder), options: options)
        return stores.withLock { stores in
            if let raced = stores[tenant] { return raced }
            stores[tenant] = opened
            return opened
        }
    }

    /// The tenants' stores open now.
    var all: [SQLiteStore] { stores.withLock { Array($0.values) } }

    // MARK: ObservationStore

    public func ingest(_ batch: IngestBatch) async throws(StorageError) -> IngestResult {
        try await store(batch.tenant).ingest(batch)
    }

    public func entities(tenant: Tenant, types: Set<String>?, ids: Set<EntityID>?) async throws(StorageError) -> [NGSIEntity] {
        try await store(tenant).entities(tenant: tenant, types: types, ids: ids)
    }

    public func entity(tenant: Tenant, id: EntityID) async throws(StorageError) -> NGSIEntity? {
        try await store(tenant).entity(tenant: tenant, id: id)
    }

    public func systemTimes(tenant: Tenant, ids: [EntityID]) async throws(StorageError) -> [EntityID: EntitySystemTimes] {
        try await store(tenant).systemTimes(tenant: tenant, ids: ids)
    }

    public func remove(tenant: Tenant, id: EntityID, attributes names: Set<String>?, at: Timestamp) async throws(StorageError) -> Bool {
        try await store(tenant).remove(tenant: tenant, id: id, attributes: names, at: at)
    }

    public func removeHistory(tenant: Tenant, id: EntityID, attributes names: Set<String>?) async throws(StorageError) -> Int? {
        try await store(tenant).removeHistory(tenant: tenant, id: id, attributes: names)
    }

    public func replaceInstance(
        tenant: Tenant,
        id: EntityID,
        attribute name: String,
        at: Timestamp,
        with attribute: NGSIAttribute
    ) async throws(StorageError) -> Bool {
        try await store(tenant).replaceInstance(tenant: tenant, id: id, attribute: name, at: at, with: attribute)
    }

    public func series(tenant: Tenant, entity: EntityID) async throws(StorageError) -> [SeriesInfo] {
        try await store(tenant).series(tenant: tenant, entity: entity)
    }

    public func observations(
        tenant: Tenant,
        entity: EntityID,
        attribute: String,
        range: TimeRange,
        lastN: Int?,
        limit: Int
    ) async throws(StorageError) -> [StoredValue] {
        try await store(tenant).observations(tenant: tenant, entity: entity, attribute: attribute, range: range, lastN: lastN, limit: limit)
    }

    public func rollups(
        tenant: Tenant,
        entity: EntityID,
        attribute: String,
        resolution: RollupResolution,
        range: TimeRange
    ) async throws(StorageError) -> [RollupBucket] {
        try await store(tenant).rollups(tenant: tenant, entity: entity, attribute: attribute, resolution: resolution, range: range)
    }

    public func recordDeadLetter(_ letter: HubDeadLetter) async throws(StorageError) {
        try await main.recordDeadLetter(letter)
    }

    public func deadLetters(limit: Int) async throws(StorageError) -> [HubDeadLetter] {
        try await main.deadLetters(limit: limit)
    }

    public func deleteDeadLetter(id: Int64) async throws(StorageError) -> Bool {
        try await main.deleteDeadLetter(id: id)
    }

    public func applyRetention(_ policy: RetentionPolicy, now: Timestamp) async throws(StorageError) -> RetentionResult {
        var total = RetentionResult()
        for store in all {
            let result = try await store.applyRetention(policy, now: now)
            total.observations += result.observations
            total.rollups += result.rollups
        }
        return total
    }

    public func statistics() async throws(StorageError) -> StoreStatistics {
        var total = try await main.statistics()
        for store in all {
            let part = try await store.statistics()
            total.entities += part.entities
            total.series += part.series
            total.observations += part.observations
        }
        return total
    }

    public func check() async throws(StorageError) {
        try await main.check()
        for store in all { try await store.check() }
    }

    public func maintain() async throws(StorageError) {
        try await main.maintain()
        for store in all { try await store.maintain() }
    }

    // MARK: AlertStore

    public func recordAlertEvents(_ events: [AlertEvent]) async throws(StorageError) -> [AlertEventRecord] {
        // One tenant's events go to its file, in order; the records come back in the events' order.
        var byTenant = [Tenant: [(Int, AlertEvent)]]()
        for (index, event) in events.enumerated() { byTenant[event.tenant, default: []].append((index, event)) }
        var records = [AlertEventRecord?](repeating: nil, count: events.count)
        for (tenant, items) in byTenant {
            let stored = try await store(tenant).recordAlertEvents(items.map(\.1))
            for (position, record) in zip(items.map(\.0), stored) { records[position] = record }
        }
        return records.compactMap { $0 }
    }

    public func acknowledgeAlert(tenant: Tenant, id: Int64, by actor: String, at: Timestamp) async throws(StorageError) -> AlertEventRecord? {
        try await store(tenant).acknowledgeAlert(tenant: tenant, id: id, by: actor, at: at)
    }

    public func alertEvents(tenant: Tenant, after: Int64, limit: Int) async throws(StorageError) -> [AlertEventRecord] {
        try await store(tenant).alertEvents(tenant: tenant, after: after, limit: limit)
    }

    public func latestAlertEventID(tenant: Tenant) async throws(StorageError) -> Int64 {
        try await store(tenant).latestAlertEventID(tenant: tenant)
    }

    public func alerts(tenant: Tenant, activeOnly: Bool, limit: Int) async throws(StorageError) -> [AlertRecord] {
        try await store(tenant).alerts(tenant: tenant, activeOnly: activeOnly, limit: limit)
    }

    public func alert(tenant: Tenant, id: Int64) async throws(StorageError) -> AlertRecord? {
        try await store(tenant).alert(tenant: tenant, id: id)
    }

    public func alertHistory(tenant: Tenant, alert: Int64) async throws(StorageError) -> [AlertEventRecord] {
        try await store(tenant).alertHistory(tenant: tenant, alert: alert)
    }

    public func activeAlerts() async throws(StorageError) -> [AlertRecord] {
        var active = [AlertRecord]()
        for store in all { active += try await store.activeAlerts() }
        return active
    }
}
