/// Everything needed to connect a client: broker, identity, session, security, last will,
/// reconnection and flow control.
///
/// ```swift
/// var config = MQTTConfiguration(host: "127.0.0.1", port: 1883, clientID: "gw-01")
/// config.session = .persistent
/// config.credentials = .init(username: "gw-01", password: secret)
/// config.tls = .init(caFile: "/etc/kakehashi/ca.pem")
/// ```
public struct MQTTConfiguration: Sendable {
    /// Whether the broker keeps the session (subscriptions, queued messages) across connections.
    public enum Session: Sendable, Hashable {
        /// A new session on every connection.
        case clean
        /// The broker keeps the session; MQTT 5 asks it to for `sessionExpiry` seconds.
        case persistent
    }

    /// User name and password.
    public struct Credentials: Sendable {
        /// The user name (for gateways, the gateway id).
        public var username: String
        /// The password; never written to logs or errors.
        public var password: String?
        /// Creates credentials.
        public init(username: String, password: String? = nil) {
            self.username = username
            self.password = password
        }
    }

    /// TLS settings; paths to PEM files.
    public struct TLS: Sendable {
        /// TLS versions.
        public enum Version: String, Sendable {
            case tls12 = "tlsv1.2"
            case tls13 = "tlsv1.3"
        }
        /// CA certificate(s) that sign the broker's certificate.
        public var caFile: String
        /// Client certificate, for brokers that require one.
        public var certificateFile: String?
        /// The client certificate's private key.
        public var keyFile: String?
        /// Minimum TLS version (libmosquitto pins this version).
        public var version: Version
        /// Creates TLS settings.
        public init(caFile: String, certificateFile: String? = nil, keyFile: String? = nil, version: Version = .tls12) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.version = version
        }
    }

    /// The message the broker publishes if the client vanishes without a DISCONNECT.
    public struct Will: Sendable {
        /// The topic the broker publishes the will on.
        public var topic: String
        /// The will's payload, e.g. `offline`.
        public var payload: [UInt8]
        /// The will's QoS.
        public var qos: MQTTQoS
        /// Whether the will is retained (so late subscribers see the client is gone).
        public var retain: Bool
        /// Creates a will.
        public init(topic: String, payload: [UInt8], qos: MQTTQoS = .atLeastOnce, retain: Bool = true) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
        }
    }

    /// What a subscription does when its consumer is slower than the broker.
    public enum OverflowPolicy: Sendable, Hashable {
        /// Stop reading from the network until there is room: nothing is lost; the broker queues
        /// (and, for a persistent session, keeps) what follows. All subscriptions of the client wait.
        case suspendNetwork
        /// Drop the newest message and count it (`MQTTSubscription.dropped`).
        case dropNewest
    }

    /// When a received QoS 1 message is acknowledged to the broker.
    public enum Acknowledgement: Sendable, Hashable {
        /// On receipt, before the consumer sees it (libmosquitto's own behaviour): fastest, but a
        /// message buffered or being processed when the process dies is lost.
        case onReceipt
        /// Only once the consumer has processed it, which it signals by asking its subscription
        /// for the next message. One message is in the hands of the application at a time; one
        /// the process dies holding is redelivered by the broker (persistent session). For
        /// consumers that must store before the sender may forget, such as the hub's ingest.
        case afterProcessing
    }

    /// Broker host name or address.
    public var host: String
    /// Broker port.
    public var port: Int
    /// The client id; required for a persistent session.
    public var clientID: String
    /// Clean or persistent session.
    public var session: Session = .clean
    /// MQTT 5 session expiry for a persistent session, in seconds (default 7 days).
    public var sessionExpiry: UInt32 = 7 * 24 * 3600
    /// Protocol version.
    public var protocolVersion: MQTTProtocolVersion = .v5
    /// Keepalive in seconds.
    public var keepAlive: Int = 30
    /// Credentials, when the broker requires them.
    public var credentials: Credentials?
    /// TLS, when the broker listens with TLS.
    public var tls: TLS?
    /// Last will.
    public var will: Will?
    /// Reconnection delays.
    public var reconnect: Backoff = Backoff()
    /// Most publishes awaiting their acknowledgement at once (1...65535).
    public var inflightWindow: Int = 256
    /// Messages buffered per subscription before the overflow policy applies.
    public var bufferCapacity: Int = 1024
    /// What a full subscription buffer does.
    public var overflowPolicy: OverflowPolicy = .suspendNetwork
    /// When received messages are acknowledged; `.afterProcessing` ignores the buffer capacity
    /// and overflow policy (the network waits for the consumer).
    public var acknowledgement: Acknowledgement = .onReceipt

    /// Creates a configuration with defaults for everything but the broker and client id.
    public init(host: String, port: Int = 1883, clientID: String) {
        self.host = host
        self.port = port
        self.clientID = clientID
    }

    /// `host:port`, for messages.
    public var brokerAddress: String { "\(host):\(port)" }
}
