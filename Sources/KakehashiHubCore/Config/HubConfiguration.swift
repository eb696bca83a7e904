import KakehashiMQTT
import KakehashiModel

/// Everything `kakehashi-hub run` needs, read from one YAML file (see `deploy/hub/hub.yaml`).
///
/// ```swift
/// let configuration = try HubConfiguration.load(file: "deploy/hub/hub.yaml")
/// let app = try await buildApplication(configuration: configuration, logger: logger)
/// ```
public struct HubConfiguration: Sendable {
    /// Where the HTTP API listens.
    public struct HTTP: Sendable, Hashable {
        /// Address to bind (default loopback).
        public var host = "127.0.0.1"
        /// Port (0 picks a free one).
        public var port = 8080
        /// A connection with no request in progress, or one sending its request, that is silent
        /// this long is closed (answering feeds are not touched).
        public var idleTimeout: Duration = .seconds(60)

        /// The defaults.
        public init() {}
    }

    /// One city sharing the hub.
    public struct TenantSettings: Sendable, Hashable {
        /// Gateways allowed to send batches for this tenant.
        public var gateways: Set<GatewayID>

        /// Creates settings.
        public init(gateways: Set<GatewayID> = []) { self.gateways = gateways }
    }

    /// Limits that keep one request from hurting others.
    public struct Limits: Sendable, Hashable {
        /// Largest request body accepted (default 1 MiB).
        public var maxBodyBytes = 1 << 20
        /// Entities per page when a query names no `limit`.
        public var defaultPageSize = 20
        /// Largest `limit` accepted.
        public var maxPageSize = 1000
        /// Instances per attribute in one temporal answer; more is answered 206 with a Content-Range.
        public var maxTemporalInstances = 10_000
        /// Entities per upsert request.
        public var maxUpsertEntities = 1000
        /// Requests per second per API key, on average (0: unlimited); more are answered 429
        /// with `Retry-After`.
        public var requestsPerSecond = 50
        /// Requests a key may make at once above its rate.
        public var requestBurst = 100
        /// Alert feeds (SSE and WebSocket) open at once per API key.
        public var feedsPerKey = 4
        /// Readings observed further ahead of the hub's clock are refused (dead letter
        /// `clock_skew`): a wrong clock must not pin an entity's latest state (default 10 min, as
        /// the gateway's).
        public var maxFutureSkew: Duration = .seconds(600)
        /// Readings observed longer ago than this are refused (dead letter `too_old`); nil (the
        /// default) takes any age that retention keeps.
        public var maxReadingAge: Duration?

        /// The defaults.
        public init() {}
    }

    /// The HTTP listener.
    public var http = HTTP()
    /// How tenants' data is kept apart.
    public enum StorageSeparation: String, Sendable, Hashable, CaseIterable {
        /// One database; every row tagged with its tenant (the default).
        case shared
        /// One SQLite file per tenant beside the main one (``TenantSeparatedStore``).
        case perTenant = "per_tenant"
    }

    /// Where readings, entities and alerts are kept (`storage.kind`).
    public enum StorageKind: Sendable, Hashable {
        /// The SQLite file at ``storagePath`` (the default).
        case sqlite
        /// A PostgreSQL database, which several hubs may share.
        case postgres(PostgresStorage)
    }

    /// `storage.kind: postgres`: the database and how to reach it.
    public struct PostgresStorage: Sendable, Hashable {
        /// `postgres://user@host:port/database` (`storage.url`).
        public var url: String
        /// The password, from the environment variable `storage.password_env` names.
        public var password: String?
        /// Connections kept at most (`storage.pool_size`, default 10).
        public var poolSize: Int
        /// TLS to the server, verifying its certificate (`storage.tls`, default false).
        public var tls: Bool

        public init(url: String, password: String? = nil, poolSize: Int = 10, tls: Bool = false) {
            self.url = url
            self.password = password
            self.poolSize = poolSize
            self.tls = tls
        }
    }

    /// `storage.kind`.
    public var storageKind = StorageKind.sqlite
    /// The SQLite file (with `storage.kind: postgres`, it still keeps the access tables,
    /// subscriptions and notifications).
    public var storagePath: String
    /// This hub's name among several sharing one database and one broker (`instance`; nil for
    /// a hub on its own): its ingest sessions are `<client_id>-<instance>-<n>` in the shared
    /// subscription `$share/<client_id>/…`, so the broker hands each batch to one session of one hub.
    public var instance: String?
    /// `storage.separation`.
    public var storageSeparation = StorageSeparation.shared
    /// Store settings.
    public var storage = StorageOptions()
    /// The central broker to ingest from; nil serves HTTP only.
    public var broker: MQTTConfiguration?
    /// The tenants and their gateways.
    public var tenants: [Tenant: TenantSettings]
    /// The tenant of requests without an `NGSILD-Tenant` header; nil makes the header required.
    public var defaultTenant: Tenant?
    /// Retention per tenant and entity type.
    public var retention = RetentionPolicy()
    /// How often retention runs.
    public var retentionInterval: Duration = .seconds(3600)
    /// Request limits.
    public var limits = Limits()
    /// Broker sessions ingesting side by side (1–8, default ``defaultIngestConsumers``). With more
    /// than one, they share one subscription (`$share/<client id>/…`): the broker hands each batch
    /// to one of them, so batches are decoded while another is stored, and those waiting for the
    /// store are written together: the more sessions, the larger those groups and the fewer the
    /// syncs (8 stores 20–30% more readings per second than 4 on two cores). Lowering it strands
    /// the batches queued for the dropped sessions until they connect again.
    public var ingestConsumers = HubConfiguration.defaultIngestConsumers
    /// The default of `ingest.consumers`.
    public static let defaultIngestConsumers = 8
    /// Alert rules and how alerts are published.
    public var alerts = AlertsConfiguration()
    /// The map dashboard at `/`.
    public var dashboard = DashboardConfiguration()
    /// Whether every route but `/healthz` needs an API key (`access.require_keys`, default
    /// true). Without keys, anyone who reaches the port reads and acknowledges for every tenant.
    public var requireKeys = true
    /// The central broker's password file and ACL that `kakehashi-hub gateway add` keeps
    /// (`access.broker_password_file`, `access.broker_acl_file`).
    public var brokerAccessFiles: BrokerAccessFiles?
    /// Links to other hubs whose shared data this hub mirrors (`federation:`).
    public var federation: [FederationLinkConfiguration] = []
    /// JSON-LD contexts known without fetching them, and how long a fetch may take.
    public var jsonld = JSONLDConfiguration()
    /// The hosts subscriptions may notify (`subscriptions.allowed_endpoints`, see ``EndpointPolicy``).
    public var allowedEndpoints = ["*"]
    /// How notifications are kept and delivered (`subscriptions.queue_limit`, `timeout`,
    /// `retry_max_interval`).
    public var notifications = Notifier.Settings()

    /// Creates a configuration.
    public init(storagePath: String, tenants: [Tenant: TenantSettings], broker: MQTTConfiguration? = nil) {
        self.storagePath = storagePath
        self.tenants = tenants
        self.broker = broker
    }

    /// Adapts broker settings for ingest: a persistent session (batches queued while the hub is
    /// down wait for it) and acknowledgement only after a batch is stored.
    public static func ingestSettings(_ broker: MQTTConfiguration) -> MQTTConfiguration {
        var settings = broker
        settings.session = .persistent
        settings.acknowledgement = .afterProcessing
        return settings
    }

    /// The sessions and the topic filter of ingest consumer `index` (0-based) of `count`.
    public static func ingestSession(
        _ broker: MQTTConfiguration,
        index: Int,
        of count: Int,
        instance: String? = nil
    ) -> (settings: MQTTConfiguration, filter: String) {
        var settings = ingestSettings(broker)
        guard count > 1 || instance != nil else { return (settings, WireTopic.allObservations) }
        let group = broker.clientID.map { $0 == "/" || $0 == "+" || $0 == "#" ? "-" : $0 }
        settings.clientID = "\(broker.clientID)-\(instance.map { "\($0)-" } ?? "")\(index + 1)"
        return (settings, "$share/\(String(group))/\(WireTopic.allObservations)")
    }
}

/// The `jsonld` section: contexts preloaded from files (for a hub without internet), by the URL
/// clients name them with, and the time allowed to fetch any other.
public struct JSONLDConfiguration: Sendable, Hashable {
    /// URL → the context document (as read from its file).
    public var contexts: [String: JSONValue] = [:]
    /// How long fetching a remote context may take before the request is answered 503.
    public var fetchTimeout: Duration = .seconds(5)

    /// No preloaded contexts.
    public init() {}
}
