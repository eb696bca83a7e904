import KakehashiMQTT
import KakehashiModel

/// Reads the document tree into a ``GatewayConfiguration``, reporting every problem.
struct ConfigurationLoader {
    let reader: ConfigReader
    let baseDirectory: String

    func gateway(_ root: ConfigNode) -> GatewayConfiguration? {
        guard let m = root.mapping(allowed: ["tenant", "gateway", "central", "outbox", "devices", "metrics", "limits", "sources"]) else { return nil }
        var tenant: Tenant?
        if let node = required(m, "tenant", in: root) { tenant = model(node) { (text) throws(ModelError) in try Tenant(text) } }
        var gateway: GatewayID?
        if let node = required(m, "gateway", in: root) { gateway = model(node) { (text) throws(ModelError) in try GatewayID(text) } }
        var uplink: UplinkConfiguration?
        if let node = required(m, "central", in: root) { uplink = central(node, gateway: gateway) }
        var outbox = OutboxConfiguration(path: GatewayConfiguration.resolve("outbox.sqlite", against: baseDirectory))
        if let node = m["outbox"], let value = self.outbox(node) { outbox = value }
        var registry: DeviceRegistry?
        if let node = required(m, "devices", in: root) { registry = devices(node) }
        var metrics: MetricsConfiguration?
        if let node = m["metrics"] { metrics = self.metrics(node) }
        var limits = InputLimits()
        if let node = m["limits"], let value = self.limits(node) { limits = value }
        var sources: [SourceConfiguration]?
        if let node = required(m, "sources", in: root) { sources = self.sources(node, gateway: gateway) }
        guard let tenant, let gateway, let uplink, let registry, let sources else { return nil }
        return GatewayConfiguration(tenant: tenant, gateway: gateway, uplink: uplink, outbox: outbox, registry: registry,
                                    metrics: metrics, sources: sources, limits: limits)
    }

    func required(_ members: [String: ConfigNode], _ key: String, in parent: ConfigNode) -> ConfigNode? {
        guard let node = members[key] else {
            reader.report("is required", key: parent.child(key), mark: parent.mark)
            return nil
        }
        return node
    }

    func model<T>(_ node: ConfigNode, _ make: (String) throws(ModelError) -> T) -> T? {
        guard let text = node.string else { return nil }
        do {
            return try make(text)
        } catch {
            var text = error.description
            if text.hasPrefix("\(error.field): ") { text.removeFirst(error.field.count + 2) }
            node.fail(text)
            return nil
        }
    }

    // MARK: MQTT brokers

    static let brokerKeys = ["host", "port", "client_id", "username", "password", "password_env", "tls", "keep_alive", "protocol", "reconnect_max"]

    func broker(_ members: [String: ConfigNode], node: ConfigNode, defaultClientID: String) -> MQTTConfiguration? {
        let host = required(members, "host", in: node)?.string
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
            if let ca = required(tls, "ca_file", in: tlsNode)?.string {
                var settings = MQTTConfiguration.TLS(caFile: GatewayConfiguration.resolve(ca, against: baseDirectory))
                settings.certificateFile = tls["cert_file"]?.string.map { GatewayConfiguration.resolve($0, against: baseDirectory) }
                settings.keyFile = tls["key_file"]?.string.map { GatewayConfiguration.resolve($0, against: baseDirectory) }
                if (settings.certificateFile == nil) != (settings.keyFile == nil) {
                    tlsNode.fail("cert_file and key_file go together")
                }
                if let version = tls["version"] {
                    if let text = version.string, let value = MQTTConfiguration.TLS.Version(rawValue: text) { settings.version = value }
                    else { version.fail("unknown TLS version (tlsv1.2 or tlsv1.3)") }
                }
                mqtt.tls = settings
            }
        }
        return mqtt
    }

    func central(_ node: ConfigNode, gateway: GatewayID?) -> UplinkConfiguration? {
        guard let m = node.mapping(allowed: Self.brokerKeys + ["batch_size", "in_flight_batches", "status_interval", "shutdown_flush_timeout"]) else { return nil }
        guard var mqtt = broker(m, node: node, defaultClientID: gateway?.rawValue ?? "kakehashi-gateway") else { return nil }
        // Persistent session: acknowledgements owed across a reconnect are not lost.
        mqtt.session = .persistent
        var uplink = UplinkConfiguration(mqtt: mqtt)
        if let size = m["batch_size"]?.int(in: 1...ModelLimits.maxBatchEntries) { uplink.batchSize = size }
        if let window = m["in_flight_batches"]?.int(in: 1...256) { uplink.inFlightBatches = window }
        if let interval = m["status_interval"]?.duration { uplink.statusInterval = max(interval, .seconds(1)) }
        if let timeout = m["shutdown_flush_timeout"]?.duration { uplink.shutdownFlushTimeout = timeout }
        return uplink
    }

    // MARK: Outbox, metrics, limits

    func outbox(_ node: ConfigNode) -> OutboxConfiguration? {
        guard let m = node.mapping(allowed: ["path", "quota", "sync", "commit_interval", "commit_batch", "priorities", "deadletter_limit"]) else { return nil }
        var outbox = OutboxConfiguration(path: GatewayConfiguration.resolve(m["path"]?.string ?? "outbox.sqlite", against: baseDirectory))
        if let quota = m["quota"]?.byteCount {
            if quota < 1 << 20 { m["quota"]?.fail("a quota under 1 MiB leaves no room for an outage") } else { outbox.quotaBytes = quota }
        }
        if let sync = m["sync"] {
            if let text = sync.string, let value = OutboxConfiguration.Sync(rawValue: text) { outbox.sync = value }
            else { sync.fail("sync is full or normal") }
        }
        if let interval = m["commit_interval"]?.duration { outbox.commitInterval = max(interval, .milliseconds(1)) }
        if let batch = m["commit_batch"]?.int(in: 1...100_000) { outbox.commitBatch = batch }
        if let limit = m["deadletter_limit"]?.int(in: 0...10_000_000) { outbox.deadLetterLimit = limit }
        if let node = m["priorities"], let priorities = node.mapping(allowed: DeviceRecord.Kind.allCases.map(\.rawValue) + ["Device"]) {
            for (type, value) in priorities {
                if let priority = value.int(in: 0...100) { outbox.priorities[type] = priority }
            }
        }
        return outbox
    }

    func metrics(_ node: ConfigNode) -> MetricsConfiguration? {
        guard let m = node.mapping(allowed: ["textfile", "interval"]), let file = required(m, "textfile", in: node)?.string else { return nil }
        var metrics = MetricsConfiguration(textfile: GatewayConfiguration.resolve(file, against: baseDirectory))
        if let interval = m["interval"]?.duration { metrics.interval = max(interval, .seconds(1)) }
        return metrics
    }

    func limits(_ node: ConfigNode) -> InputLimits? {
        guard let m = node.mapping(allowed: ["max_payload", "max_future_skew"]) else { return nil }
        var limits = InputLimits()
        if let size = m["max_payload"]?.byteCount { limits.maxPayloadBytes = Int(min(size, 16 << 20)) }
        if let skew = m["max_future_skew"]?.duration { limits.maxFutureSkew = skew }
        return limits
    }

    func devices(_ node: ConfigNode) -> DeviceRegistry? {
        guard let path = node.string else { return nil }
        let file = GatewayConfiguration.resolve(path, against: baseDirectory)
        do {
            return try DeviceRegistry.load(file: file)
        } catch {
            reader.issues.append(contentsOf: error.issues)
            return nil
        }
    }
}
