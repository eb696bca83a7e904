import KakehashiConfig

/// The `dashboard` section: the map page the hub serves at `/`.
///
/// ```yaml
/// dashboard:
///   refresh: 15s                       # how often the page re-reads sensor positions and values
///   outlines: /srv/maps/city.geojson   # the offline base map (builtin, the default: Japan's prefectures; none: no outlines)
///   tiles:                             # a tile server of the deployment's own, if it has one
///     url: https://tiles.example.lg.jp/{z}/{x}/{y}.png
///     attribution: 地理院タイル
///     max_zoom: 18
/// ```
public struct DashboardConfiguration: Sendable, Hashable {
    /// Where the base map's outlines come from.
    public enum Outlines: Sendable, Hashable {
        /// The prefecture outlines shipped with the hub.
        case builtIn
        /// A GeoJSON file of the deployment's own.
        case file(String)
        /// No outlines (sensors only, or tiles only).
        case none
    }

    /// An XYZ tile layer drawn under the outlines.
    public struct Tiles: Sendable, Hashable {
        /// The URL template with `{z}`, `{x}`, `{y}` (and optionally `{s}` is not supported: one host).
        public var url: String
        /// Credit shown on the map.
        public var attribution: String
        /// Deepest zoom the server has.
        public var maxZoom: Int

        /// Creates a tile layer.
        public init(url: String, attribution: String = "", maxZoom: Int = 18) {
            self.url = url
            self.attribution = attribution
            self.maxZoom = maxZoom
        }

        /// The tile server's origin (`https://host:port`), for the page's content security policy.
        public var origin: String? {
            guard let scheme = url.range(of: "://") else { return nil }
            let rest = url[scheme.upperBound...]
            let host = rest.prefix { $0 != "/" && $0 != "?" }
            return host.isEmpty ? nil : String(url[..<scheme.upperBound]) + host
        }
    }

    /// Whether `/` serves the dashboard (default true).
    public var enabled = true
    /// A folder whose files replace the built-in page (for customised deployments); nil uses the built-in one.
    public var assets: String?
    /// The base map outlines.
    public var outlines = Outlines.builtIn
    /// A tile layer, when the deployment has a tile server (no tiles by default: nothing leaves the hub).
    public var tiles: Tiles?
    /// How often the page re-reads the map (positions and latest values); alerts arrive live regardless.
    public var refresh: Duration = .seconds(15)

    /// The defaults.
    public init() {}
}

extension HubConfigurationLoader {
    func dashboard(_ node: ConfigNode) -> DashboardConfiguration? {
        guard let m = node.mapping(allowed: ["enabled", "assets", "outlines", "tiles", "refresh"]) else { return nil }
        var dashboard = DashboardConfiguration()
        if let flag = m["enabled"]?.bool { dashboard.enabled = flag }
        if let path = m["assets"]?.string { dashboard.assets = ConfigDocument.resolve(path, against: baseDirectory) }
        if let node = m["outlines"], let text = node.string {
            switch text {
            case "none": dashboard.outlines = .none
            case "builtin": dashboard.outlines = .builtIn
            default:
                let file = ConfigDocument.resolve(text, against: baseDirectory)
                node.checkReadableFile(file, what: "the outlines file")
                dashboard.outlines = .file(file)
            }
        }
        if let node = m["tiles"], let members = node.mapping(allowed: ["url", "attribution", "max_zoom"]) {
            if let url = node.required(members, "url")?.string {
                var tiles = DashboardConfiguration.Tiles(url: url)
                if !["{z}", "{x}", "{y}"].allSatisfy(url.contains) {
                    members["url"]?.fail("a tile URL has {z}, {x} and {y} in it")
                } else if !(url.hasPrefix("http://") || url.hasPrefix("https://")) || tiles.origin == nil {
                    members["url"]?.fail("a tile URL starts with http:// or https:// and a host")
                }
                if let text = members["attribution"]?.string { tiles.attribution = text }
                if let zoom = members["max_zoom"]?.int(in: 0...22) { tiles.maxZoom = zoom }
                dashboard.tiles = tiles
            }
        }
        if let node = m["refresh"], let interval = node.duration {
            if interval < .seconds(1) || interval > .seconds(3600) { node.fail("refresh is between 1s and 1h") } else { dashboard.refresh = interval }
        }
        return dashboard
    }
}
