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
            deadLetterLimit: configuration.storage.deadLetterLimit
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
                var hub = try Hub(configuration: configuration, logger: logger, registry: registry, now: now, store: store, access: access)
                if let postgres = store as? PostgresStore {
                    hub.storageServices.append(AlertRelay(store: postgres, feed: hub.alerts.feed, logger: logger))
                }
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

    /// Closes the store's connections (PostgreSQL's; SQLite files close with the process).
    public func close() async {
        (access as? PostgresAccessStore)?.close()
        await (store as? PostgresStore)?.close()
    }
}
