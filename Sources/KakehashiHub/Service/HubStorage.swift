import Foundation
import KakehashiHubCore
import KakehashiHubPostgres
import KakehashiHubSQLite
import Logging

extension Hub {
    /// Opens the store `configuration` names: the SQLite file (one, or one per tenant), or the
    /// PostgreSQL database of `storage.kind: postgres`.
    public static func openStore(_ configuration: HubConfiguration, logger: Logger) async throws -> any ObservationStore & AlertStore {
        switch configuration.storageKind {
        case .sqlite:
            return configuration.storageSeparation == .perTenant
                ? try TenantSeparatedStore(path: configuration.storagePath, options: configuration.storage)
                : try SQLiteStore(path: configuration.storagePath, options: configuration.storage)
        case .postgres(let postgres):
            return try await PostgresStore.open(settings(postgres, configuration), logger: logger)
        }
    }

    /// The access records `configuration` names: the SQLite file's tables, or PostgreSQL's with
    /// `storage.kind: postgres` (migrated first if no hub has yet).
    public static func openAccess(_ configuration: HubConfiguration, logger: Logger) throws -> any AccessRecords {
        guard case .postgres(let postgres) = configuration.storageKind else { return try AccessStore(path: configuration.storagePath) }
        return try PostgresAccessStore(settings(postgres, configuration), logger: logger)
    }

    static func settings(_ postgres: HubConfiguration.PostgresStorage, _ configuration: HubConfiguration) -> PostgresStore.Settings {
        PostgresStore.Settings(
            url: postgres.url,
            password: postgres.password,
            poolSize: postgres.poolSize,
            tls: postgres.tls,
            deadLetterLimit: configuration.storage.deadLetterLimit,
            watchedTypes: Dictionary(grouping: configuration.alerts.rules, by: \.tenant).mapValues { Set($0.map(\.entityType)) }
        )
    }

    /// Opens storage (connecting to PostgreSQL with `storage.kind: postgres`) and creates the
    /// services; nothing runs yet.
    public static func open(
        configuration: HubConfiguration,
        logger: Logger,
        registry: MetricsRegistry = MetricsRegistry(),
        now: @escaping WallClock = systemWallClock
    ) async throws -> Hub {
        guard case .postgres = configuration.storageKind else {
            return try Hub(configuration: configuration, logger: logger, registry: registry, now: now)
        }
        let store = try await openStore(configuration, logger: logger)
        do {
            let access = try openAccess(configuration, logger: logger)
            do {
                guard let postgres = store as? PostgresStore else {
                    return try Hub(configuration: configuration, logger: logger, registry: registry, now: now, store: store, access: access)
                }
                let instance = configuration.instance ?? defaultInstance
                if configuration.instance == nil, !configuration.alerts.rules.isEmpty {
                    logger.warning(
                        "storage.kind postgres without instance: this hub is named \(instance) until it stops; set instance so that a restarted hub takes its share of the rules back at once instead of after alerts.lease_ttl"
                    )
                }
                let watched = Dictionary(grouping: configuration.alerts.rules, by: \.tenant).mapValues { Set($0.map(\.entityType)) }
                let leases = PartitionLeases(store: postgres, instance: instance, ttl: configuration.alerts.leaseTTL)
                let partitioning = AlertPartitioning(
                    partition: { entity in PartitionLeases.partition(tenant: entity.tenant, entity: entity.rawValue) },
                    record: { events, partition, epoch in
                        try await postgres.recordAlertEvents(events, fence: LeaseFence(instance: instance, partition: partition, epoch: epoch))
                    },
                    pending: { partitions, limit, from in
                        let read = try await postgres.inbox(partitions: partitions, limit: limit, from: from)
                        return AlertPartitioning.PendingRead(
                            items: read.items.map { item in
                                AlertPartitioning.Pending(
                                    id: item.id,
                                    partition: item.partition,
                                    entities: item.entities,
                                    arrived: item.arrived,
                                    gateway: item.gateway.map { AlertPartitioning.GatewayKey(tenant: item.tenant.name, gateway: $0) },
                                    sequences: item.lowest.flatMap { lowest in item.highest.map { lowest...max(lowest, $0) } },
                                    age: .milliseconds(item.age)
                                )
                            },
                            stored: read.stored
                        )
                    },
                    evaluated: { ids, cursors in try await postgres.removeFromInbox(ids, cursors: cursors) },
                    cursors: { partitions in try await postgres.cursors(partitions: partitions) },
                    history: { partitions, window in try await postgres.ruleHistory(partitions: partitions, watched: watched, window: window) }
                )
                var hub = try Hub(
                    configuration: configuration,
                    logger: logger,
                    registry: registry,
                    now: now,
                    store: store,
                    access: access,
                    alertPartitioning: partitioning
                )
                hub.storageServices.append(AlertRelay(store: postgres, feed: hub.alerts.feed, logger: logger))
                // A hub without rules takes no share of them.
                guard hub.alerts.hasRules else { return hub }
                hub.storageServices.append(
                    AlertPartitionService(
                        leases: leases,
                        alerts: hub.alerts,
                        metrics: PartitionMetrics(factory: registry.factory),
                        logger: logger
                    )
                )
                return hub
            } catch {
                (access as? PostgresAccessStore)?.close()
                throw error
            }
        } catch {
            await (store as? PostgresStore)?.close()
            throw error
        }
    }

    /// The name of a hub over PostgreSQL without `instance`: its host and process.
    static var defaultInstance: String {
        let host = ProcessInfo.processInfo.hostName.prefix(24).map { $0.isLetter || $0.isNumber ? $0 : "-" }
        return "\(String(host))-\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// Closes the store's connections (PostgreSQL's; SQLite files close with the process).
    public func close() async {
        (access as? PostgresAccessStore)?.close()
        await (store as? PostgresStore)?.close()
    }
}
