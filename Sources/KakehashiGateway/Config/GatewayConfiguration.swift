import KakehashiMQTT
import KakehashiModel

/// Everything `kakehashi-gateway run` needs, read from one YAML file by ``GatewayConfiguration/load(file:environment:)``.
///
/// The commented sample `deploy/gateway/gateway.yaml` shows every key; tests load it.
public struct GatewayConfiguration: Sendable {
    /// The city this gateway belongs to.
    public var tenant: Tenant
    public var gateway: GatewayID
    /// The central broker and how batches are sent to it.
    public var uplink: UplinkConfiguration
    public var outbox: OutboxConfiguration
    /// Sensors by id.
    public var registry: DeviceRegistry
    /// Where the node_exporter textfile goes, and how often; nil: no metrics file.
    public var metrics: MetricsConfiguration?
    public var sources: [SourceConfiguration]
    /// Limits on incoming messages.
    public var limits: InputLimits

    public init(
        tenant: Tenant,
        gateway: GatewayID,
        uplink: UplinkConfiguration,
        outbox: OutboxConfiguration,
        registry: DeviceRegistry,
        metrics: MetricsConfiguration?,
        sources: [SourceConfiguration],
        limits: InputLimits = InputLimits()
    ) {
        self.tenant = tenant
        self.gateway = gateway
        self.uplink = uplink
        self.outbox = outbox
        self.registry = registry
        self.metrics = metrics
        self.sources = sources
        self.limits = limits
    }
}

/// The central broker, batching and status.
public struct UplinkConfiguration: Sendable {
    public var mqtt: MQTTConfiguration
    /// Readings per wire batch (at most 10,000).
    public var batchSize: Int = 500
    /// Batches published and not yet acknowledged, at most.
    public var inFlightBatches: Int = 8
    /// How often the retained status is refreshed.
    public var statusInterval: Duration = .seconds(30)
    /// How long SIGTERM waits for the outbox to drain before exiting.
    public var shutdownFlushTimeout: Duration = .seconds(10)
    /// What lets the gateway forget a batch.
    public var confirmation: Confirmation = .hub
    /// With ``Confirmation/hub``: a batch the broker acknowledged and the hub has not confirmed
    /// after this long is sent again (the wait doubles at each resend, up to 10 minutes).
    public var confirmTimeout: Duration = .seconds(30)
    /// With ``Confirmation/hub``: batches sent and not yet confirmed by the hub, at most.
    public var unconfirmedBatches: Int = 64

    /// What lets the gateway delete a batch from its outbox.
    public enum Confirmation: String, Sendable, Hashable {
        /// The hub's confirmation on `kakehashi/v1/<tenant>/<gateway>/ack` that it stored the
        /// batch (or kept it as a dead letter): nothing is lost when a broker restarts, crashes or
        /// routes a batch to no one.
        case hub
        /// The central broker's PUBACK (for a hub that sends no confirmations): a batch the
        /// broker acknowledged and then lost is lost.
        case broker
    }

    /// With `kind: ngsi-ld`: batches go to an NGSI-LD broker over HTTP instead of the central
    /// MQTT broker (`mqtt` is then unused).
    public var ngsiLD: NGSILDUplinkConfiguration?

    public init(mqtt: MQTTConfiguration) { self.mqtt = mqtt }

    public init(ngsiLD: NGSILDUplinkConfiguration) {
        self.mqtt = MQTTConfiguration(host: "", port: 1883, clientID: "")
        self.ngsiLD = ngsiLD
        self.batchSize = 100
    }
}

/// An NGSI-LD broker (this hub, or a platform of another vendor) that takes the gateway's readings
/// by `POST /ngsi-ld/v1/entityOperations/upsert?options=update`.
public struct NGSILDUplinkConfiguration: Sendable {
    /// The broker's base URL (`https://host:port`, or with a path prefix before `/ngsi-ld/v1`).
    public var url: String
    /// Sent as `NGSILD-Tenant`; nil sends none (the broker's default tenant).
    public var tenant: String?
    /// Sent as `Authorization: Bearer …`.
    public var token: String?
    /// Other headers every request carries (a gateway such as Kong or an API key).
    public var headers: [String: String] = [:]
    /// How long one request may take before it counts as failed (and is sent again).
    public var timeout: Duration = .seconds(30)
    /// The longest wait between attempts while the broker is away or failing (doubling from 1 s).
    public var retryMax: Duration = .seconds(60)
    /// The CA that signs the broker's certificate, when not one of the system's.
    public var caFile: String?

    public init(url: String) { self.url = url }

    /// The upsert request's path after the URL's own.
    public static let upsertPath = "/ngsi-ld/v1/entityOperations/upsert?options=update"

    /// The upsert endpoint.
    public var upsertURL: String { (url.hasSuffix("/") ? String(url.dropLast()) : url) + Self.upsertPath }
}

/// The durable outbox.
public struct OutboxConfiguration: Sendable {
    public enum Sync: String, Sendable, Hashable {
        /// fsync at every commit: a committed reading survives a power cut.
        case full
        /// fsync at checkpoints: survives a process crash, may lose the last commits on power loss.
        case normal
    }

    public var path: String
    /// Bytes of readings the outbox may hold before it drops the lowest-priority oldest ones.
    public var quotaBytes: Int64 = 256 << 20
    public var sync: Sync = .full
    /// Readings wait at most this long before their commit (then one sync): it bounds the
    /// latency a reading adds at the gateway, and groups readings under load.
    public var commitInterval: Duration = .milliseconds(5)
    /// A commit happens as soon as this many readings wait.
    public var commitBatch: Int = 2000
    /// Priority by entity type; higher is kept longer.
    public var priorities: [String: Int] = OutboxConfiguration.defaultPriorities
    /// Dead letters kept (the oldest go first).
    public var deadLetterLimit: Int = 10_000
    /// Free space the outbox leaves on its filesystem: below it, the quota shrinks to what fits
    /// (the lowest-priority oldest readings go first, counted as drops) and the WAL is checkpointed
    /// and truncated, so the outbox can always commit.
    public var minFreeBytes: Int64 = 16 << 20

    public static let defaultPriorities = ["WaterObserved": 3, "CrowdFlowObserved": 2, "DeviceMeasurement": 2, "Device": 1]

    public init(path: String) { self.path = path }

    public func priority(of entityType: String) -> Int { priorities[entityType] ?? 1 }
}

/// The node_exporter textfile.
public struct MetricsConfiguration: Sendable {
    public var textfile: String
    public var interval: Duration = .seconds(15)

    public init(textfile: String) { self.textfile = textfile }
}

/// Limits on incoming messages.
public struct InputLimits: Sendable {
    /// Larger payloads are rejected (and kept truncated in the dead-letter table).
    public var maxPayloadBytes: Int = 64 << 10
    /// Readings timed further ahead of the gateway's clock are rejected.
    public var maxFutureSkew: Duration = .seconds(600)

    public init() {}
}

/// One source of readings.
public struct SourceConfiguration: Sendable {
    public enum Kind: Sendable {
        case mqtt(MQTTSourceConfiguration)
        case ble(BLESourceConfiguration)
    }

    /// Names the source in logs, metrics and dead letters.
    public var name: String
    public var kind: Kind

    public init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }
}

/// MQTT subscriptions on an edge broker.
public struct MQTTSourceConfiguration: Sendable {
    public var mqtt: MQTTConfiguration
    public var routes: [Route]

    /// One topic pattern and how its payloads are decoded.
    public struct Route: Sendable {
        public var pattern: TopicPattern
        public var qos: MQTTQoS
        public var decoder: PayloadDecoder

        public init(pattern: TopicPattern, qos: MQTTQoS = .atLeastOnce, decoder: PayloadDecoder) {
            self.pattern = pattern
            self.qos = qos
            self.decoder = decoder
        }
    }

    public init(mqtt: MQTTConfiguration, routes: [Route]) {
        self.mqtt = mqtt
        self.routes = routes
    }
}

/// BLE tags, from a live adapter or a btsnoop capture.
public struct BLESourceConfiguration: Sendable {
    public enum Input: Sendable, Hashable {
        /// A live scan; nil adapter: the first one.
        case adapter(String?, passive: Bool)
        /// A btsnoop capture replayed with its timing divided by `speed` (0: as fast as possible).
        case btsnoop(path: String, speed: Double)
        /// btsnoop captures written live into a named pipe (by `kakehashi-sim ble`), read as they
        /// arrive, one capture after another; the gateway creates the pipe when it is missing.
        case pipe(path: String)
    }

    public var input: Input
    /// The HMAC key for pseudonyms (per tenant; at least 16 bytes).
    public var secret: [UInt8]
    /// Sightings are summarized per window.
    public var window: Duration = .seconds(10)
    /// Where the adapter is: tags are placed here (the zone they were heard in); nil leaves them unlocated.
    public var location: GeoPoint?

    public init(input: Input, secret: [UInt8]) {
        self.input = input
        self.secret = secret
    }
}
