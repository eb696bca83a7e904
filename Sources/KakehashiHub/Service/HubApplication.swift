import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiModel
import Logging
import NIOCore
import ServiceLifecycle

/// The wall clock of the running hub.
public let systemWallClock: WallClock = { Timestamp(Date()) }

/// The hub's parts, built from a configuration; the executable runs `application`, tests use
/// the same parts.
public struct Hub: Sendable {
    /// The store.
    public let store: any ObservationStore & AlertStore
    /// The alert rules and feeds.
    public let alerts: AlertService
    /// The MQTT ingest service, when a broker is configured.
    public let ingest: MQTTIngest?
    /// The HTTP API.
    public let api: HubAPI
    /// The metrics registry behind `/metrics`.
    public let registry: MetricsRegistry
    /// The links to peer hubs (`federation:`).
    public let federation: [FederationLink]
    /// Publishes alert events to MQTT (`alerts.publish_mqtt`, with rules and a broker).
    public let alertPublisher: AlertMQTTPublisher?
    /// Sends the NGSI-LD subscriptions' notifications.
    public let notifier: Notifier
    /// Tenants, gateways, keys and grants.
    public let access: any AccessRecords
    /// Services that come with the storage (over PostgreSQL: relaying other hubs' alert events).
    var storageServices: [any Service] = []

    /// Opens storage and creates the services (nothing runs yet).
    public init(
        configuration: HubConfiguration,
        logger: Logger,
        registry: MetricsRegistry = MetricsRegistry(),
        now: @escaping WallClock = systemWallClock,
        store: (any ObservationStore & AlertStore)? = nil,
        access: (any AccessRecords)? = nil,
        alertPartitioning: AlertPartitioning? = nil
    ) throws {
        let given = store
        let store: any ObservationStore & AlertStore
        if let given {
            store = given
        } else if configuration.storageSeparation == .perTenant {
            store = try TenantSeparatedStore(path: configuration.storagePath, options: configuration.storage)
        } else {
            store = try SQLiteStore(path: configuration.storagePath, options: configuration.storage)
        }
        let accessStore = try access ?? AccessStore(path: configuration.storagePath)
        self.access = accessStore
        try FederationLink.prepareMirrors(configuration, accessStore, logger: logger)
        let directory = AccessDirectory(store: accessStore, configured: configuration.tenants)
        let metrics = HubMetrics(factory: registry.factory)
        let contexts = ContextStore(configuration: configuration.jsonld, logger: logger)
        let subscriptions = try SubscriptionStore(path: configuration.storagePath)
        let notifier = try Notifier(
            records: subscriptions,
            store: store,
            delivery: NotificationDelivery(
                policy: EndpointPolicy(patterns: configuration.allowedEndpoints),
                timeout: configuration.notifications.timeout,
                logger: logger
            ),
            settings: configuration.notifications,
            logger: logger,
            now: now,
            contexts: { url in try? await contexts.context([.string(url)]) }
        )
        self.notifier = notifier
        let alerts = AlertService(
            configuration: configuration.alerts,
            store: store,
            metrics: metrics,
            logger: logger,
            now: now,
            entitiesStored: { tenant, entities in await notifier.changed(tenant: tenant, entities: entities) },
            partitioning: alertPartitioning
        )
        if let broker = configuration.broker, configuration.alerts.publishMQTT, alerts.hasRules {
            alertPublisher = try AlertMQTTPublisher(broker: broker, feed: alerts.feed, instance: configuration.instance, logger: logger)
        } else {
            alertPublisher = nil
        }
        let evaluate: @Sendable (IngestBatch) async -> Void = { batch in
            await alerts.observe(batch)
            alerts.entityFeed.publish(batch.entities)
            // Before the batch is confirmed: a hub that dies first gets it again.
            await notifier.changed(tenant: batch.tenant, entities: batch.entities)
        }
        let ingestor = Ingestor(
            validator: {
                var validator = BatchValidator(directory: directory, retention: configuration.retention)
                validator.maxFutureSkew = configuration.limits.maxFutureSkew
                validator.maxReadingAge = configuration.limits.maxReadingAge
                return validator
            }(),
            store: store,
            metrics: metrics,
            logger: logger,
            now: now,
            stored: evaluate
        )
        var ingest: MQTTIngest?
        if let broker = configuration.broker {
            ingest = try MQTTIngest(
                broker: broker,
                consumers: configuration.ingestConsumers,
                instance: configuration.instance,
                ingestor: ingestor,
                logger: logger
            )
        }
        self.store = store
        self.alerts = alerts
        self.ingest = ingest
        self.registry = registry
        let dashboard = configuration.dashboard.enabled ? try DashboardAssets(configuration: configuration.dashboard) : nil
        let links = configuration.federation.map { FederationLink(configuration: $0, ingestor: ingestor, store: store, logger: logger) }
        self.federation = links
        self.api = HubAPI(
            configuration: configuration,
            store: store,
            ingestor: ingestor,
            ingest: ingest,
            alerts: alerts,
            registry: registry,
            logger: logger,
            dashboard: dashboard,
            directory: directory,
            limiter: RateLimiter(rate: configuration.limits.requestsPerSecond, burst: configuration.limits.requestBurst),
            feedSlots: FeedSlots(limit: configuration.limits.feedsPerKey),
            contexts: contexts,
            subscriptionRecords: subscriptions,
            notifier: notifier,
            federation: links
        )
        if !configuration.requireKeys {
            logger.warning("access.require_keys is false: anyone who reaches the HTTP port reads and acknowledges for every tenant")
        }
        self.configuration = configuration
        self.logger = logger
        self.now = now
    }

    let configuration: HubConfiguration
    let logger: Logger
    let now: WallClock

    /// The router with every route.
    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        api.addRoutes(to: router)
        return router
    }

    /// The HTTP application with the ingest, maintenance and retention services attached: `runService()` runs
    /// everything until SIGTERM/SIGINT.
    public func application(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        var services: [any Service] = []
        // What ingests starts once the rules have read back their state.
        if let ingest { services.append(AfterAlertsStart(alerts: alerts, service: ingest)) }
        services.append(MaintenanceService(store: store, logger: logger))
        services += federation.map { AfterAlertsStart(alerts: alerts, service: $0) } as [any Service]
        services.append(AlertClockService(alerts: alerts, interval: configuration.alerts.clockInterval, now: now))
        services.append(notifier)
        services += storageServices
        if let alertPublisher { services.append(alertPublisher) }
        services.append(
            RetentionService(
                store: store,
                policy: configuration.retention,
                interval: configuration.retentionInterval,
                now: now,
                logger: logger
            )
        )
        let api = self.api
        let idle = configuration.http.idleTimeout
        let idleTimeout = TimeAmount.milliseconds(Int64(idle.components.seconds * 1000 + idle.components.attoseconds / 1_000_000_000_000_000))
        return Application(
            router: router(),
            server: HTTPServerBuilder { responder in
                GuardedChildChannel(
                    base: HTTP1WebSocketUpgradeChannel(
                        responder: responder,
                        configuration: .init(
                            http1: .init(idleTimeout: idleTimeout),
                            ws: .init(autoPing: .enabled(timePeriod: .seconds(15)))
                        )
                    ) { request, _, _ in api.webSocketUpgrade(request) },
                    headTimeout: idleTimeout
                )
            },
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.http.host, port: configuration.http.port),
                serverName: "kakehashi-hub"
            ),
            services: services,
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger
        )
    }
}

/// Runs `service` once the alert rules have read back their state from storage.
struct AfterAlertsStart: Service {
    let alerts: AlertService
    let service: any Service

    func run() async throws {
        await alerts.start()
        try await service.run()
    }
}
