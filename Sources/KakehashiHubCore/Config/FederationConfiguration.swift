import KakehashiConfig
import KakehashiModel

/// A link to another hub (`federation:`): this hub mirrors what the peer's key may read of its
/// tenant (the entities of `types`, with their whole history) into a local tenant of the same
/// name, and shares it with `share_with` like any other tenant's data (marked `sharedBy`).
///
/// ```yaml
/// federation:
///   - name: kurume-hub
///     url: https://hub.kurume.example      # the peer hub
///     key_env: KAKEHASHI_FEDERATION_KURUME # a reader key the peer issued for its tenant
///     tenant: kurume                       # the peer's tenant (the key's)
///     types: [WaterObserved]
///     share_with: [omuta]                  # local tenants that see it
///     interval: 10s
/// ```
public struct FederationLinkConfiguration: Sendable, Hashable {
    public var name: String
    /// The peer's base URL (`http://` or `https://`).
    public var url: String
    /// The key the peer issued (a `reader` of `tenant`).
    public var key: String
    /// The peer's tenant, mirrored here under the same name.
    public var tenant: Tenant
    /// Entity types mirrored.
    public var types: [String]
    /// Local tenants the mirror is shared with (full precision).
    public var shareWith: [Tenant]
    /// How often the link asks the peer for what is new.
    public var interval: Duration = .seconds(10)

    public init(name: String, url: String, key: String, tenant: Tenant, types: [String], shareWith: [Tenant]) {
        self.name = name
        self.url = url
        self.key = key
        self.tenant = tenant
        self.types = types
        self.shareWith = shareWith
    }
}

extension HubConfigurationLoader {
    func federation(_ node: ConfigNode, tenants: [Tenant: HubConfiguration.TenantSettings]) -> [FederationLinkConfiguration] {
        guard let items = node.sequence() else { return [] }
        var links = [FederationLinkConfiguration]()
        var names = Set<String>()
        for item in items {
            guard let m = item.mapping(allowed: ["name", "url", "key", "key_env", "tenant", "types", "share_with", "interval"]) else { continue }
            guard let name = item.required(m, "name")?.string, let url = item.required(m, "url")?.string,
                let tenantNode = item.required(m, "tenant"),
                let tenant = tenantNode.model({ (text) throws(ModelError) in try Tenant(text) })
            else { continue }
            if !names.insert(name).inserted { m["name"]?.fail("another link is named \(name)") }
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                m["url"]?.fail("the peer's URL starts with https:// (or http:// on a private network)")
                continue
            }
            if tenants[tenant] != nil { tenantNode.fail("\(tenant) is a tenant of this hub: a mirrored tenant must not be one") }
            guard let key = ConfigNode.secret(m, "key", reader: item.reader, path: item.path) else {
                item.fail("give key or key_env: a key the peer hub issued")
                continue
            }
            let types = (m["types"]?.sequence() ?? []).compactMap(\.string)
            if types.isEmpty { item.fail("name the entity types to mirror (types: [WaterObserved])") }
            var shareWith = [Tenant]()
            for entry in m["share_with"]?.sequence() ?? [] {
                if let local = entry.model({ (text) throws(ModelError) in try Tenant(text) }) { shareWith.append(local) }
            }
            var link = FederationLinkConfiguration(
                name: name,
                url: url.hasSuffix("/") ? String(url.dropLast()) : url,
                key: key,
                tenant: tenant,
                types: types,
                shareWith: shareWith
            )
            if let node = m["interval"], let interval = node.duration {
                if interval < .milliseconds(100) || interval > .seconds(86_400) {
                    node.fail("interval is between 100ms and 1d")
                } else {
                    link.interval = interval
                }
            }
            links.append(link)
        }
        return links
    }
}
