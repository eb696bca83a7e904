/// The MQTT topics between gateways and the hub: `kakehashi/v1/<tenant>/<gateway>/<kind>`.
///
/// ```swift
/// let topic = WireTopic(tenant: city, gateway: gw, kind: .observations)
/// topic.name                           // "kakehashi/v1/kurume/gw-01/obs"
/// try WireTopic(parsing: topic.name)   // == topic
/// ```
public struct WireTopic: Sendable, Hashable, CustomStringConvertible {
    /// What a topic carries.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// Wire batches of observations (QoS 1).
        case observations = "obs"
        /// The gateway's retained status, with a last will of `offline`.
        case status
        /// The hub's confirmations of what it stored (or kept as dead letters), to the gateway (QoS 1).
        case acknowledgements = "ack"
    }

    /// The first two topic levels.
    public static let prefix = "kakehashi/v1"

    /// The filter the hub subscribes to for observation batches of every tenant and gateway.
    public static let allObservations = "kakehashi/v1/+/+/obs"

    /// The filter of every gateway's confirmations (the hub's broker user writes it).
    public static let allAcknowledgements = "kakehashi/v1/+/+/ack"

    /// The topic the hub publishes a tenant's alert events on: `kakehashi/v1/<tenant>/alerts`.
    public static func alerts(tenant: Tenant) -> String { "\(prefix)/\(tenant.name)/alerts" }

    /// The tenant level.
    public let tenant: Tenant
    /// The gateway level.
    public let gateway: GatewayID
    /// The last level.
    public let kind: Kind

    /// Creates a topic.
    public init(tenant: Tenant, gateway: GatewayID, kind: Kind) {
        self.tenant = tenant
        self.gateway = gateway
        self.kind = kind
    }

    /// Parses a topic name; errors name `topic`.
    public init(parsing name: String) throws(ModelError) {
        let levels = name.split(separator: "/", omittingEmptySubsequences: false)
        guard levels.count == 5, levels[0] == "kakehashi", levels[1] == "v1" else {
            throw ModelError(field: "topic", .invalid("\"\(name.prefix(120))\" is not kakehashi/v1/<tenant>/<gateway>/<obs|status|ack>"))
        }
        guard let kind = Kind(rawValue: String(levels[4])) else {
            throw ModelError(field: "topic", .invalid("\"\(name.prefix(120))\" ends in \"\(levels[4].prefix(40))\", not obs, status or ack"))
        }
        self.init(tenant: try Tenant(String(levels[2]), field: "topic"), gateway: try GatewayID(String(levels[3]), field: "topic"), kind: kind)
    }

    /// The topic name.
    public var name: String { "\(Self.prefix)/\(tenant.name)/\(gateway.rawValue)/\(kind.rawValue)" }

    public var description: String { name }
}
