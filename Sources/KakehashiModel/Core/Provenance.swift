/// Where an observation came from: the gateway and its source.
public struct Provenance: Sendable, Hashable {
    /// The kind of source.
    public enum Source: Sendable, Hashable {
        /// An MQTT topic on the edge broker.
        case mqtt(topic: String)
        /// A BLE adapter, e.g. `hci0`.
        case ble(adapter: String)
        /// A recorded trace replayed, by file name.
        case replay(trace: String)
        /// The hub's HTTP ingest path.
        case http
    }

    /// The gateway that forwarded it; `nil` for HTTP ingest.
    public let gateway: GatewayID?
    /// The source within the gateway.
    public let source: Source

    /// Creates a provenance.
    public init(gateway: GatewayID?, source: Source) {
        self.gateway = gateway
        self.source = source
    }
}
