import Foundation
import KakehashiBrokerConfig
import KakehashiConfig
import KakehashiMQTT
import KakehashiModel

extension HubConfiguration {
    /// Reads and validates `file`; the error lists every problem with its line and key. With
    /// `secrets: .deferred` an unset `*_env` variable goes to `warnings` instead (commands that
    /// only read or check).
    public static func load(
        file: String,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        secrets: SecretPolicy = .required,
        warnings: (_ warnings: [ConfigurationIssue]) -> Void = { _ in }
    ) throws(ConfigurationError) -> HubConfiguration {
        try ConfigDocument.load(file: file, environment: environment, secrets: secrets, warnings: warnings) { root, base in
            HubConfigurationLoader(baseDirectory: base).hub(root)
        }
    }

    /// Validates configuration text; relative paths resolve against `baseDirectory`.
    public static func parse(
        yaml: String,
        file: String,
        baseDirectory: String,
        environment: [String: String] = [:]
    ) throws(ConfigurationError) -> HubConfiguration {
        try ConfigDocument.parse(yaml: yaml, file: file, environment: environment) { root in
            HubConfigurationLoader(baseDirectory: baseDirectory).hub(root)
        }
    }
}

/// Reads the document tree into a ``HubConfiguration``, reporting every problem.
struct HubConfigurationLoader {
    let baseDirectory: String

    func hub(_ root: ConfigNode) -> HubConfiguration? {
        guard
            let m = root.mapping(allowed: [
                "http", "storage", "broker", "tenants", "default_tenant", "retention", "limits", "ingest", "alerts", "dashboard", "access",
                "federation", "jsonld", "subscriptions", "instance",
            ])
        else { return nil }
        var http = HubConfiguration.HTTP()
        if let node = m["http"], let members = node.mapping(allowed: ["host", "port", "idle_timeout"]) {
            if let host = members["host"]?.string { http.host = host }
            if let port = members["port"]?.int(in: 0...65535) { http.port = port }
            if let node = members["idle_timeout"], let timeout = node.duration {
                if timeout < .seconds(1) || timeout > .seconds(3600) {
                    node.fail("idle_timeout is between 1s and 1h")
                } else {
                    http.idleTimeout = timeout
                }
            }
        }
        var path: String?
        var options = StorageOptions()
        var separation = HubConfiguration.StorageSeparation.shared
        var kind = HubConfiguration.StorageKind.sqlite
        if let node = root.required(m, "storage"),
            let members = node.mapping(allowed: [
                "path", "sync", "deadletter_limit", "readers", "cache", "separation", "kind", "url", "password_env", "pool_size", "tls",
            ])
        {
            let postgresKeys = ["url", "password_env", "pool_size", "tls"]
            switch members["kind"]?.string ?? "sqlite" {
            case "sqlite":
                for key in postgresKeys where members[key] != nil { members[key]?.fail("\(key) is for kind: postgres") }
            case "postgres":
                if let url = node.required(members, "url")?.string {
                    if !(url.hasPrefix("postgres://") || url.hasPrefix("postgresql://")) || URLComponents(string: url)?.host?.isEmpty ?? true {
                        members["url"]?.fail("url is postgres://user@host:port/database")
                    } else if URLComponents(string: url)?.password != nil {
                        members["url"]?.fail("url holds a password: put it in the environment variable password_env names")
                    }
                    var postgres = HubConfiguration.PostgresStorage(url: url)
                    if members["password_env"] != nil {
                        postgres.password = ConfigNode.secret(members, "password", reader: node.reader, path: node.path)
                    }
                    if let size = members["pool_size"]?.int(in: 1...200) { postgres.poolSize = size }
                    if let tls = members["tls"]?.bool { postgres.tls = tls }
                    kind = .postgres(postgres)
                }
                if members["separation"]?.string == "per_tenant" {
                    members["separation"]?.fail("separation per_tenant is for kind: sqlite (a schema per tenant on PostgreSQL is not built yet)")
                }
            default:
                members["kind"]?.fail("kind is sqlite (the default) or postgres")
            }
            path = node.required(members, "path")?.string.map { ConfigDocument.resolve($0, against: baseDirectory) }
            if let path { members["path"]?.checkWritableFile(path, what: "the database") }
            if let sync = members["sync"] {
                if let text = sync.string, let value = StorageSync(rawValue: text) {
                    options.sync = value
                } else {
                    sync.fail("sync is full or normal")
                }
            }
            if let limit = members["deadletter_limit"]?.int(in: 0...10_000_000) { options.deadLetterLimit = limit }
            if let node = members["separation"] {
                if let text = node.string, let value = HubConfiguration.StorageSeparation(rawValue: text) {
                    separation = value
                } else {
                    node.fail("separation is shared (one database, rows tagged by tenant) or per_tenant (one SQLite file per tenant)")
                }
            }
            if let readers = members["readers"]?.int(in: 1...64) { options.readers = readers }
            if let node = members["cache"], let size = node.byteCount {
                if size < 1 << 20 || size > 16 << 30 { node.fail("cache is between 1MiB and 16GiB") } else { options.writerCacheBytes = Int(size) }
            }
        }
        var broker: KakehashiMQTTConfiguration?
        if let node = m["broker"], let members = node.mapping(allowed: ConfigNode.brokerKeys) {
            broker = node.broker(members, baseDirectory: baseDirectory, defaultClientID: "kakehashi-hub")
        }
        var tenants = [Tenant: HubConfiguration.TenantSettings]()
        if let node = m["tenants"], let table = node.table() {
            for (name, tenantNode) in table {
                guard let tenant = validTenant(name, tenantNode) else { continue }
                var settings = HubConfiguration.TenantSettings()
                if tenantNode.node.mapping != nil, let members = tenantNode.mapping(allowed: ["gateways"]), let list = members["gateways"]?.sequence()
                {
                    for item in list {
                        if let gateway = item.model({ (text) throws(ModelError) in try GatewayID(text) }) {
                            if !settings.gateways.insert(gateway).inserted { item.fail("gateway \(gateway) is listed twice") }
                        }
                    }
                } else if tenantNode.node.mapping == nil, !["", "~", "null"].contains(tenantNode.node.scalar?.string ?? "x") {
                    tenantNode.fail("expected a mapping (gateways: [...]) or nothing")
                }
                tenants[tenant] = settings
            }
        }
        var defaultTenant: Tenant?
        var instance: String?
        if let node = m["instance"] {
            if let name = node.string, !name.isEmpty, name.count <= 40,
                name.unicodeScalars.allSatisfy({
                    ($0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil)) || $0 == "-" || $0 == "_"
                })
            {
                instance = name
            } else {
                node.fail("instance is a name of up to 40 letters, digits, - and _ (each hub sharing a database and broker has its own)")
            }
        }
        if let node = m["default_tenant"], let tenant = node.model({ (text) throws(ModelError) in try Tenant(text) }) {
            if tenants[tenant] == nil && !tenants.isEmpty { node.fail("\(tenant) is not one of the tenants") } else { defaultTenant = tenant }
        }
        var retention = RetentionPolicy()
        var interval: Duration = .seconds(3600)
        if let node = m["retention"] { (retention, interval) = self.retention(node, tenants: tenants) ?? (retention, interval) }
        var limits = HubConfiguration.Limits()
        if let node = m["limits"],
            let members = node.mapping(allowed: [
                "max_body", "default_page_size", "max_page_size", "max_temporal_instances", "max_upsert_entities",
                "requests_per_second", "request_burst", "feeds_per_key",
                "max_future_skew", "max_reading_age",
            ])
        {
            if let node = members["max_future_skew"], let skew = node.duration {
                if skew < .zero || skew > .seconds(7 * 86_400) {
                    node.fail("max_future_skew is between 0s and 7d")
                } else {
                    limits.maxFutureSkew = skew
                }
            }
            if let node = members["max_reading_age"], let age = node.duration {
                if age <= .zero { node.fail("max_reading_age is more than 0s") } else { limits.maxReadingAge = age }
            }
            if let size = members["max_body"]?.byteCount { limits.maxBodyBytes = Int(min(max(size, 1024), 256 << 20)) }
            if let size = members["default_page_size"]?.int(in: 1...100_000) { limits.defaultPageSize = size }
            if let size = members["max_page_size"]?.int(in: 1...100_000) { limits.maxPageSize = size }
            if let count = members["max_temporal_instances"]?.int(in: 1...10_000_000) { limits.maxTemporalInstances = count }
            if let count = members["max_upsert_entities"]?.int(in: 1...100_000) { limits.maxUpsertEntities = count }
            if let rate = members["requests_per_second"]?.int(in: 0...1_000_000) { limits.requestsPerSecond = rate }
            if let burst = members["request_burst"]?.int(in: 1...1_000_000) { limits.requestBurst = burst }
            if let feeds = members["feeds_per_key"]?.int(in: 1...10_000) { limits.feedsPerKey = feeds }
            if limits.defaultPageSize > limits.maxPageSize { node.fail("default_page_size is larger than max_page_size") }
        }
        var requireKeys = true
        var brokerFiles: (password: String?, acl: String?) = (nil, nil)
        if let node = m["access"], let members = node.mapping(allowed: ["require_keys", "broker_password_file", "broker_acl_file"]) {
            if let flag = members["require_keys"] {
                if let value = flag.bool { requireKeys = value } else { flag.fail("require_keys is true or false") }
            }
            brokerFiles.password = members["broker_password_file"]?.string.map { ConfigDocument.resolve($0, against: baseDirectory) }
            brokerFiles.acl = members["broker_acl_file"]?.string.map { ConfigDocument.resolve($0, against: baseDirectory) }
            if let file = brokerFiles.password { members["broker_password_file"]?.checkWritableFile(file, what: "the broker password file") }
            if let file = brokerFiles.acl { members["broker_acl_file"]?.checkWritableFile(file, what: "the broker ACL file") }
            if (brokerFiles.password == nil) != (brokerFiles.acl == nil) {
                node.fail("give both broker_password_file and broker_acl_file, or neither")
            }
        }
        var consumers = HubConfiguration.defaultIngestConsumers
        if let node = m["ingest"], let members = node.mapping(allowed: ["consumers"]) {
            if let count = members["consumers"]?.int(in: 1...8) { consumers = count }
            if broker == nil { node.fail("ingest needs a broker section") }
        }
        var alerts = AlertsConfiguration()
        if let node = m["alerts"], let parsed = self.alerts(node, tenants: tenants) { alerts = parsed }
        var dashboard = DashboardConfiguration()
        if let node = m["dashboard"], let parsed = self.dashboard(node) { dashboard = parsed }
        let federation = m["federation"].map { self.federation($0, tenants: tenants) } ?? []
        let jsonld = m["jsonld"].map { self.jsonld($0) } ?? JSONLDConfiguration()
        var allowedEndpoints = ["*"]
        var notifications = Notifier.Settings()
        if let node = m["subscriptions"],
            let members = node.mapping(allowed: ["allowed_endpoints", "queue_limit", "timeout", "retry_max_interval"])
        {
            if let list = members["allowed_endpoints"]?.sequence() {
                allowedEndpoints = list.compactMap { item in
                    guard let text = item.string, !text.isEmpty, !text.contains("/") else {
                        item.fail("an allowed endpoint is a host (hooks.city.example), *.domain, host:port, or * for any public host")
                        return nil
                    }
                    return text
                }
            }
            if let limit = members["queue_limit"]?.int(in: 1...1_000_000) { notifications.queueLimit = limit }
            for (key, range) in [("timeout", 1...300), ("retry_max_interval", 1...3600)] {
                guard let node = members[key], let value = node.duration else { continue }
                guard value >= .seconds(range.lowerBound), value <= .seconds(range.upperBound) else {
                    node.fail("\(key) is between \(range.lowerBound)s and \(range.upperBound)s")
                    continue
                }
                if key == "timeout" { notifications.timeout = value } else { notifications.maxBackoff = value }
            }
        }
        guard let path else { return nil }
        var configuration = HubConfiguration(storagePath: path, tenants: tenants, broker: broker)
        configuration.http = http
        configuration.storage = options
        configuration.storageSeparation = separation
        configuration.storageKind = kind
        configuration.defaultTenant = defaultTenant
        configuration.instance = instance
        configuration.retention = retention
        configuration.retentionInterval = interval
        configuration.limits = limits
        configuration.ingestConsumers = consumers
        configuration.alerts = alerts
        configuration.dashboard = dashboard
        configuration.requireKeys = requireKeys
        configuration.federation = federation
        configuration.jsonld = jsonld
        configuration.allowedEndpoints = allowedEndpoints
        configuration.notifications = notifications
        if let password = brokerFiles.password, let acl = brokerFiles.acl {
            configuration.brokerAccessFiles = BrokerAccessFiles(
                passwordFile: password,
                aclFile: acl,
                hubUser: broker?.credentials?.username ?? "kakehashi-hub"
            )
        }
        return configuration
    }

    private func validTenant(_ name: String, _ node: ConfigNode) -> Tenant? {
        do { return try Tenant(name) } catch {
            var text = error.description
            if text.hasPrefix("\(error.field): ") { text.removeFirst(error.field.count + 2) }
            node.fail(text)
            return nil
        }
    }

    private func retention(_ node: ConfigNode, tenants: [Tenant: HubConfiguration.TenantSettings]) -> (RetentionPolicy, Duration)? {
        guard let m = node.mapping(allowed: ["default", "rules", "interval"]) else { return nil }
        var policy = RetentionPolicy()
        if let defaults = m["default"], let rule = rule(defaults, allowed: []) { policy.defaultRule = rule.0 }
        if let list = m["rules"]?.sequence() {
            for item in list {
                guard let (rule, members) = rule(item, allowed: ["tenant", "type"]) else { continue }
                let tenant = members["tenant"]?.model { (text) throws(ModelError) in try Tenant(text) }
                let type = members["type"]?.string
                if tenant == nil && type == nil { item.fail("a rule names a tenant, a type or both"); continue }
                if let tenant, tenants[tenant] == nil { members["tenant"]?.fail("\(tenant) is not one of the tenants") }
                policy.set(rule, tenant: tenant, type: type)
            }
        }
        let interval = m["interval"]?.duration.map { max($0, .seconds(1)) } ?? .seconds(3600)
        return (policy, interval)
    }

    private func rule(_ node: ConfigNode, allowed: [String]) -> (RetentionPolicy.Rule, [String: ConfigNode])? {
        guard let m = node.mapping(allowed: allowed + ["raw", "minute", "hour"]) else { return nil }
        func age(_ key: String) -> Int64? {
            guard let member = m[key] else { return nil }
            if member.string == "forever" { return nil }
            guard let duration = member.duration else { return nil }
            let ms = duration.milliseconds
            if ms < 60_000 { member.fail("keep data at least a minute (or write forever)"); return nil }
            return ms
        }
        let rule = RetentionPolicy.Rule(raw: age("raw"), minute: age("minute"), hour: age("hour"))
        return (rule, m)
    }
}

typealias KakehashiMQTTConfiguration = KakehashiMQTT.MQTTConfiguration

extension HubConfigurationLoader {
    /// `jsonld: { contexts: { <url>: <file> }, fetch_timeout: 5s }`: each file read and checked now.
    func jsonld(_ node: ConfigNode) -> JSONLDConfiguration {
        var settings = JSONLDConfiguration()
        guard let members = node.mapping(allowed: ["contexts", "fetch_timeout"]) else { return settings }
        if let timeout = members["fetch_timeout"], let value = timeout.duration {
            if value < .milliseconds(100) || value > .seconds(60) {
                timeout.fail("fetch_timeout is between 100ms and 60s")
            } else {
                settings.fetchTimeout = value
            }
        }
        for (url, file) in members["contexts"]?.table() ?? [] {
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                file.fail("\(url) is not an http(s) URL: name each context by the URL clients give")
                continue
            }
            guard let name = file.string else { continue }
            let path = ConfigDocument.resolve(name, against: baseDirectory)
            file.checkReadableFile(path, what: "the context file")
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            do {
                let document = try JSONValue(parsing: Array(data), field: path)
                _ = try JSONLDContext([JSONLDContext.contextOf(document: document)], documents: settings.contexts)
                settings.contexts[url] = document
            } catch let error as JSONLDError where error.url != nil {
                // It names another context: fetched (or preloaded) when first used.
                settings.contexts[url] = (try? JSONValue(parsing: Array(data), field: path)) ?? .null
            } catch let error as ModelError {
                file.fail("the context file \(path) is not JSON: \(error)")
            } catch {
                file.fail("the context file \(path) is not a usable JSON-LD context: \(error)")
            }
        }
        return settings
    }
}
