import KakehashiConfig
import KakehashiMQTT

// The one place where configuration files meet the MQTT client: a broker section read into an
// `MQTTConfiguration`. `KakehashiConfig` knows nothing of MQTT; gateway and hub import this.

extension ConfigNode {
    /// The keys of a broker section.
    public static let brokerKeys = [
        "host", "port", "client_id", "username", "password", "password_env", "tls", "keep_alive", "protocol", "reconnect_max",
    ]

    /// Reads a broker section (host, port, client_id, credentials, TLS, keep_alive, protocol,
    /// reconnect_max) whose members are `members`; files resolve against `baseDirectory`.
    public func broker(_ members: [String: ConfigNode], baseDirectory: String, defaultClientID: String) -> MQTTConfiguration? {
        let node = self
        let host = node.required(members, "host")?.string
        let port = members["port"]?.int(in: 1...65535) ?? (members["tls"] == nil ? 1883 : 8883)
        let clientID = members["client_id"]?.string ?? defaultClientID
        guard let host else { return nil }
        var mqtt = MQTTConfiguration(host: host, port: port, clientID: clientID)
        if let username = members["username"]?.string {
            mqtt.credentials = .init(username: username, password: ConfigNode.secret(members, "password", reader: reader, path: node.path))
        } else if members["password"] != nil || members["password_env"] != nil {
            reader.report("a password needs a username", key: node.child("username"), mark: node.mark)
        }
        if let longest = members["reconnect_max"]?.duration {
            mqtt.reconnect = Backoff(initial: min(.milliseconds(250), longest), maximum: max(longest, .milliseconds(100)))
        }
        if let keepAlive = members["keep_alive"]?.duration { mqtt.keepAlive = max(5, Int(keepAlive.components.seconds)) }
        if let version = members["protocol"] {
            switch version.string {
            case "5", "v5": mqtt.protocolVersion = .v5
            case "3.1.1", "v311": mqtt.protocolVersion = .v311
            case let other?: version.fail("unknown MQTT protocol '\(other)' (5 or 3.1.1)")
            case nil: break
            }
        }
        if let tlsNode = members["tls"], let tls = tlsNode.mapping(allowed: ["ca_file", "cert_file", "key_file", "version"]) {
            if let ca = tlsNode.required(tls, "ca_file")?.string {
                var settings = MQTTConfiguration.TLS(caFile: ConfigDocument.resolve(ca, against: baseDirectory))
                settings.certificateFile = tls["cert_file"]?.string.map { ConfigDocument.resolve($0, against: baseDirectory) }
                settings.keyFile = tls["key_file"]?.string.map { ConfigDocument.resolve($0, against: baseDirectory) }
                if (settings.certificateFile == nil) != (settings.keyFile == nil) {
                    tlsNode.fail("cert_file and key_file go together")
                }
                if let version = tls["version"] {
                    if let text = version.string, let value = MQTTConfiguration.TLS.Version(rawValue: text) {
                        settings.version = value
                    } else {
                        version.fail("unknown TLS version (tlsv1.2 or tlsv1.3)")
                    }
                }
                tls["ca_file"]?.checkReadableFile(settings.caFile, what: "the CA file")
                if let file = settings.certificateFile { tls["cert_file"]?.checkReadableFile(file, what: "the certificate") }
                if let file = settings.keyFile { tls["key_file"]?.checkReadableFile(file, what: "the key") }
                mqtt.tls = settings
            }
        }
        return mqtt
    }
}
