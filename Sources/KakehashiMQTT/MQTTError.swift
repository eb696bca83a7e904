/// Why an MQTT operation failed, on which broker, with libmosquitto's own words.
///
/// ```
/// MQTT connect to 127.0.0.1:1883 refused: bad user name or password (Connection Refused: bad user name or password.)
/// ```
public struct MQTTError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure.
    public enum Kind: Sendable, Hashable {
        /// A topic, filter, payload or option is not acceptable.
        case invalidArgument
        /// The broker refused the connection.
        case connectionRefused(ConnectionRefusal)
        /// TLS setup or handshake failed (certificate, key, CA, version).
        case tls
        /// A network error (connection refused, reset, unreachable).
        case network
        /// The broker broke the protocol or sent a failure reason code.
        case protocolError
        /// The broker rejected a publish (MQTT 5 reason code ≥ 0x80).
        case publishRejected(reasonCode: Int32)
        /// The broker refused a subscription (granted QoS 0x80, e.g. denied by its ACL).
        case subscriptionRefused
        /// The client was stopped before the operation completed.
        case stopped
        /// Any other libmosquitto error.
        case library
    }

    /// Why a broker refused a connection.
    public enum ConnectionRefusal: Sendable, Hashable {
        case badCredentials, notAuthorized, identifierRejected, serverUnavailable, unsupportedProtocol, banned
        /// Another CONNACK reason code.
        case other(Int32)

        /// Whether retrying cannot help until someone changes configuration.
        public var isPermanent: Bool {
            switch self {
            case .serverUnavailable: false
            case .other(let code): code != 0x88 && code != 0x89 && code != 0x97 && code != 0x9F
            default: true
            }
        }
    }

    /// The failure kind.
    public let kind: Kind
    /// The operation, e.g. `connect`, `publish to flood/1/level`.
    public let operation: String
    /// The broker, `host:port`.
    public let broker: String
    /// libmosquitto's error or reason code.
    public let code: Int32
    /// libmosquitto's text for it (`mosquitto_strerror`, `mosquitto_connack_string` or
    /// `mosquitto_reason_string`).
    public let detail: String

    /// Creates an error.
    public init(_ kind: Kind, operation: String, broker: String, code: Int32 = 0, detail: String) {
        self.kind = kind
        self.operation = operation
        self.broker = broker
        self.code = code
        self.detail = detail
    }

    public var description: String {
        switch kind {
        case .connectionRefused(let refusal):
            let why: String =
                switch refusal {
                case .badCredentials: "bad user name or password"
                case .notAuthorized: "not authorized"
                case .identifierRejected: "client identifier rejected"
                case .serverUnavailable: "server unavailable"
                case .unsupportedProtocol: "unsupported protocol version"
                case .banned: "client banned"
                case .other(let code): "reason code \(code)"
                }
            return "MQTT \(operation) to \(broker) refused: \(why) (\(detail))"
        case .tls: return "MQTT \(operation) to \(broker) failed: TLS: \(detail)"
        case .subscriptionRefused: return "MQTT \(operation) on \(broker) refused by the broker (not authorized or invalid filter)"
        case .publishRejected(let reason): return "MQTT \(operation) on \(broker) rejected with reason code \(reason): \(detail)"
        case .stopped: return "MQTT \(operation) on \(broker) did not complete: the client was stopped"
        default: return "MQTT \(operation) on \(broker) failed: \(detail)"
        }
    }
}
