import Foundation
import KakehashiBrokerConfig
import KakehashiConfig
import KakehashiMQTT
import KakehashiModel
import Yams

/// Reads the document tree into a ``GatewayConfiguration``, reporting every problem.
struct ConfigurationLoader {
    let reader: ConfigReader
    let baseDirectory: String

    /// Where relative paths of files the gateway writes (outbox, metrics textfile, named pipe)
    /// resolve: the state directory systemd gives the service (`STATE_DIRECTORY`, from the unit's
    /// `StateDirectory=`), else the configuration file's folder. Files it reads (registry,
    /// captures, TLS) always resolve against the configuration file's folder.
    var stateDirectory: String {
        if let given = reader.environment["STATE_DIRECTORY"]?.split(separator: ":").first, !given.isEmpty { return String(given) }
        return baseDirectory
    }

    func gateway(_ root: ConfigNode) -> GatewayConfiguration? {
        guard let m = root.mapping(allowed: ["tenant", "gateway", "central", "outbox", "devices", "metrics", "limits", "sources"]) else { return nil }
        var tenant: Tenant?
        if let node = root.required(m, "tenant") { tenant = node.model { (text) throws(ModelError) in try Tenant(text) } }
        var gateway: GatewayID?
        if let node = root.required(m, "gateway") { gateway = node.model { (text) throws(ModelError) in try GatewayID(text) } }
        var uplink: UplinkConfiguration?
        if let node = root.required(m, "central") { uplink = central(node, gateway: gateway, tenant: tenant) }
        var outbox = OutboxConfiguration(path: ConfigDocument.resolve("outbox.sqlite", against: stateDirectory))
        if let node = m["outbox"], let value = self.outbox(node) { outbox = value }
        (m["outbox"] ?? root).checkWritableFile(outbox.path, what: "the outbox")
        var registry: DeviceRegistry?
        if let node = root.required(m, "devices") { registry = devices(node) }
        var metrics: MetricsConfiguration?
        if let node = m["metrics"] { metrics = self.metrics(node) }
        var limits = InputLimits()
        if let node = m["limits"], let value = self.limits(node) { limits = value }
        var sources: [SourceConfiguration]?
        if let node = root.required(m, "sources") { sources = self.sources(node, gateway: gateway) }
        guard let tenant, let gateway, let uplink, let registry, let sources else { return nil }
        return GatewayConfiguration(
            tenant: tenant,
            gateway: gateway,
            uplink: uplink,
            outbox: outbox,
            registry: registry,
            metrics: metrics,
            sources: sources,
            limits: limits
        )
    }

    func central(_ node: ConfigNode, gateway: GatewayID?, tenant: Tenant?) -> UplinkConfiguration? {
        if let kind = node.node.mapping?.first(where: { $0.key.string == "kind" })?.value.string, kind != "mqtt" {
            guard kind == "ngsi-ld" else {
                node.fail("central.kind is mqtt (the central broker; the default) or ngsi-ld (an NGSI-LD broker over HTTP), not \(kind)")
                return nil
            }
            return ngsiLD(node, tenant: tenant)
        }
        guard
            let m = node.mapping(
                allowed: ConfigNode.brokerKeys + [
                    "kind", "batch_size", "in_flight_batches", "status_interval", "shutdown_flush_timeout",
                    "confirmation", "confirm_timeout", "unconfirmed_batches",
                ]
            )
        else { return nil }
        guard var mqtt = node.broker(m, baseDirectory: baseDirectory, defaultClientID: gateway?.rawValue ?? "kakehashi-gateway") else { return nil }
        // Persistent session: acknowledgements owed across a reconnect are not lost.
        mqtt.session = .persistent
        var uplink = UplinkConfiguration(mqtt: mqtt)
        if let size = m["batch_size"]?.int(in: 1...ModelLimits.maxBatchEntries) { uplink.batchSize = size }
        if let window = m["in_flight_batches"]?.int(in: 1...256) { uplink.inFlightBatches = window }
        if let interval = m["status_interval"]?.duration { uplink.statusInterval = max(interval, .seconds(1)) }
        if let timeout = m["shutdown_flush_timeout"]?.duration { uplink.shutdownFlushTimeout = timeout }
        if let node = m["confirmation"] {
            if let text = node.string, let value = UplinkConfiguration.Confirmation(rawValue: text) {
                uplink.confirmation = value
            } else {
                node.fail(
                    "confirmation is hub (the hub confirms what it stored; the default) or broker (the broker's PUBACK, for a hub that sends "
                        + "no confirmations)"
                )
            }
        }
        if let timeout = m["confirm_timeout"]?.duration {
            if timeout < .seconds(1) {
                m["confirm_timeout"]?.fail("a confirm_timeout under 1s resends batches the hub is still storing")
            } else {
                uplink.confirmTimeout = timeout
            }
        }
        if let window = m["unconfirmed_batches"]?.int(in: 1...4096) { uplink.unconfirmedBatches = window }
        return uplink
    }

    /// `central` with `kind: ngsi-ld`: an NGSI-LD broker's URL, tenant, token and headers.
    func ngsiLD(_ node: ConfigNode, tenant: Tenant?) -> UplinkConfiguration? {
        guard
            let m = node.mapping(allowed: [
                "kind", "url", "tenant", "token", "token_env", "headers", "timeout", "retry_max", "batch_size", "shutdown_flush_timeout", "ca_file",
            ])
        else { return nil }
        guard let url = node.required(m, "url")?.string else { return nil }
        guard let parsed = URL(string: url), parsed.scheme == "http" || parsed.scheme == "https", parsed.host != nil, parsed.query == nil else {
            m["url"]?.fail("url is the NGSI-LD broker's base URL, http(s)://host[:port][/prefix] (the hub adds /ngsi-ld/v1/…), not '\(url)'")
            return nil
        }
        var settings = NGSILDUplinkConfiguration(url: url)
        if parsed.scheme == "http", let host = parsed.host, host != "127.0.0.1", host != "localhost", host != "::1" {
            reader.warn(
                "url \(url) is plain HTTP: readings and the token cross the network unencrypted",
                key: node.child("url"),
                mark: m["url"]?.mark
            )
        }
        settings.tenant = m["tenant"].map { $0.string ?? "" } ?? tenant?.name
        if settings.tenant == "" { settings.tenant = nil }
        settings.token = ConfigNode.secret(m, "token", reader: reader, path: node.path)
        if let headers = m["headers"]?.table() {
            for (name, value) in headers {
                guard let text = value.string else { continue }
                if ["content-type", "content-length", "host"].contains(name.lowercased()) {
                    value.fail("\(name) is set by the gateway")
                } else {
                    settings.headers[name] = text
                }
            }
        }
        if let timeout = m["timeout"]?.duration {
            if timeout < .seconds(1) {
                m["timeout"]?.fail("a timeout under 1s fails requests a busy broker would answer")
            } else {
                settings.timeout = timeout
            }
        }
        if let longest = m["retry_max"]?.duration { settings.retryMax = max(longest, .seconds(1)) }
        if let node = m["ca_file"], let name = node.string {
            let path = ConfigDocument.resolve(name, against: baseDirectory)
            node.checkReadableFile(path, what: "the CA file")
            settings.caFile = path
        }
        var uplink = UplinkConfiguration(ngsiLD: settings)
        if let size = m["batch_size"]?.int(in: 1...ModelLimits.maxBatchEntries) { uplink.batchSize = size }
        if let timeout = m["shutdown_flush_timeout"]?.duration { uplink.shutdownFlushTimeout = timeout }
        return uplink
    }

    // MARK: Outbox, metrics, limits

    func outbox(_ node: ConfigNode) -> OutboxConfiguration? {
        guard
            let m = node.mapping(allowed: ["path", "quota", "sync", "commit_interval", "commit_batch", "priorities", "deadletter_limit", "min_free"])
        else { return nil }
        var outbox = OutboxConfiguration(path: ConfigDocument.resolve(m["path"]?.string ?? "outbox.sqlite", against: stateDirectory))
        if let quota = m["quota"]?.byteCount {
            if quota < 1 << 20 { m["quota"]?.fail("a quota under 1 MiB leaves no room for an outage") } else { outbox.quotaBytes = quota }
        }
        if let sync = m["sync"] {
            if let text = sync.string, let value = OutboxConfiguration.Sync(rawValue: text) {
                outbox.sync = value
            } else {
                sync.fail("sync is full or normal")
            }
        }
        if let interval = m["commit_interval"]?.duration { outbox.commitInterval = max(interval, .milliseconds(1)) }
        if let batch = m["commit_batch"]?.int(in: 1...100_000) { outbox.commitBatch = batch }
        if let limit = m["deadletter_limit"]?.int(in: 0...10_000_000) { outbox.deadLetterLimit = limit }
        if let free = m["min_free"]?.byteCount { outbox.minFreeBytes = free }
        if let node = m["priorities"], let priorities = node.mapping(allowed: DeviceRecord.Kind.allCases.map(\.rawValue) + ["Device"]) {
            for (type, value) in priorities {
                if let priority = value.int(in: 0...100) { outbox.priorities[type] = priority }
            }
        }
        return outbox
    }

    func metrics(_ node: ConfigNode) -> MetricsConfiguration? {
        guard let m = node.mapping(allowed: ["textfile", "interval"]), let file = node.required(m, "textfile")?.string else { return nil }
        var metrics = MetricsConfiguration(textfile: ConfigDocument.resolve(file, against: stateDirectory))
        m["textfile"]?.checkWritableFile(metrics.textfile, what: "the metrics textfile")
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
        let file = ConfigDocument.resolve(path, against: baseDirectory)
        do {
            return try DeviceRegistry.load(file: file)
        } catch {
            reader.report(contentsOf: error.issues)
            return nil
        }
    }
}
