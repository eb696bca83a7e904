import CMosquitto
import Logging

/// The one owner of a libmosquitto handle: creation, options, and the single function that turns
/// return codes into ``MQTTError``. No C type leaves this module.
final class MosquittoHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let broker: String

    private static let libraryInitialized: Void = { _ = mosquitto_lib_init() }()

    /// Creates the handle with `userData` (the client core) passed back to every callback.
    init(configuration: MQTTConfiguration, userData: UnsafeMutableRawPointer) throws(MQTTError) {
        _ = Self.libraryInitialized
        broker = configuration.brokerAddress
        let clean = configuration.session == .clean
        if !clean && configuration.clientID.isEmpty {
            throw MQTTError(.invalidArgument, operation: "configure", broker: broker, detail: "a persistent session needs a client id")
        }
        guard let handle = mosquitto_new(configuration.clientID.isEmpty ? nil : configuration.clientID, clean, userData) else {
            throw MQTTError(.library, operation: "create client", broker: broker, detail: "mosquitto_new failed (out of memory or invalid client id)")
        }
        pointer = handle
        if configuration.acknowledgement == .afterProcessing {
            // In libmosquitto's threaded mode a PUBACK is queued rather than written while the
            // packet is read; it leaves on the next write, after the message callback returned.
            // The callback blocks until the consumer has processed the message.
            _ = mosquitto_threaded_set(handle, true)
        }
        // If configuring throws, the object is fully initialized: deinit destroys the handle.
        try configure(configuration)
    }

    deinit {
        mosquitto_destroy(pointer)
    }

    /// Throws unless `rc` is MOSQ_ERR_SUCCESS, with `mosquitto_strerror`'s text.
    func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws(MQTTError) {
        guard rc != MOSQ_ERR_SUCCESS.rawValue else { return }
        throw error(rc, operation())
    }

    /// The typed error for a libmosquitto return code.
    func error(_ rc: Int32, _ operation: String) -> MQTTError {
        let text = String(cString: mosquitto_strerror(rc))
        let kind: MQTTError.Kind
        switch rc {
        case MOSQ_ERR_INVAL.rawValue, MOSQ_ERR_PAYLOAD_SIZE.rawValue, MOSQ_ERR_MALFORMED_UTF8.rawValue,
            MOSQ_ERR_QOS_NOT_SUPPORTED.rawValue, MOSQ_ERR_OVERSIZE_PACKET.rawValue, MOSQ_ERR_NOT_SUPPORTED.rawValue:
            kind = .invalidArgument
        case MOSQ_ERR_TLS.rawValue, MOSQ_ERR_TLS_HANDSHAKE.rawValue:
            kind = .tls
        case MOSQ_ERR_NO_CONN.rawValue, MOSQ_ERR_CONN_LOST.rawValue, MOSQ_ERR_ERRNO.rawValue, MOSQ_ERR_CONN_REFUSED.rawValue,
            MOSQ_ERR_EAI.rawValue, MOSQ_ERR_KEEPALIVE.rawValue, MOSQ_ERR_UNKNOWN.rawValue:
            kind = .network
        case MOSQ_ERR_PROTOCOL.rawValue, MOSQ_ERR_MALFORMED_PACKET.rawValue, MOSQ_ERR_DUPLICATE_PROPERTY.rawValue:
            kind = .protocolError
        default:
            kind = .library
        }
        return MQTTError(kind, operation: operation, broker: broker, code: rc, detail: text)
    }

    /// The typed error for a refused CONNACK.
    func refusal(_ rc: Int32, version: MQTTProtocolVersion) -> MQTTError {
        let why: MQTTError.ConnectionRefusal
        let text: String
        switch version {
        case .v311:
            text = String(cString: mosquitto_connack_string(rc))
            why =
                switch rc {
                case 1: .unsupportedProtocol
                case 2: .identifierRejected
                case 3: .serverUnavailable
                case 4: .badCredentials
                case 5: .notAuthorized
                default: .other(rc)
                }
        case .v5:
            text = String(cString: mosquitto_reason_string(rc))
            why =
                switch rc {
                case 0x84: .unsupportedProtocol
                case 0x85: .identifierRejected
                case 0x86: .badCredentials
                case 0x87: .notAuthorized
                case 0x88: .serverUnavailable
                case 0x8A: .banned
                default: .other(rc)
                }
        }
        return MQTTError(.connectionRefused(why), operation: "connect", broker: broker, code: rc, detail: text)
    }

    private func configure(_ configuration: MQTTConfiguration) throws(MQTTError) {
        let version: Int32 = configuration.protocolVersion == .v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311
        try check(mosquitto_int_option(pointer, MOSQ_OPT_PROTOCOL_VERSION, version), "set protocol version")
        try check(mosquitto_int_option(pointer, MOSQ_OPT_TCP_NODELAY, 1), "set TCP_NODELAY")
        let window = Int32(min(65535, max(1, configuration.inflightWindow)))
        try check(mosquitto_int_option(pointer, MOSQ_OPT_SEND_MAXIMUM, window), "set send maximum")
        if let credentials = configuration.credentials {
            try check(mosquitto_username_pw_set(pointer, credentials.username, credentials.password), "set credentials")
        }
        if let tls = configuration.tls {
            try check(
                mosquitto_tls_set(pointer, tls.caFile, nil, tls.certificateFile, tls.keyFile, nil),
                "set TLS files (CA \(tls.caFile)\(tls.certificateFile.map { ", certificate \($0)" } ?? ""))"
            )
            try check(mosquitto_tls_opts_set(pointer, 1, tls.version.rawValue, nil), "set TLS options")
        }
        if let will = configuration.will {
            let rc = will.payload.withUnsafeBytes { bytes in
                mosquitto_will_set(pointer, will.topic, Int32(bytes.count), bytes.baseAddress, will.qos.rawValue, will.retain)
            }
            try check(rc, "set last will on \(will.topic)")
        }
    }
}
