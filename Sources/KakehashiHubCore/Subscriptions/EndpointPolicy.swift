import Foundation

/// Which notification endpoints a subscription may name (`subscriptions.allowed_endpoints`), so
/// that an API key cannot make the hub call into the city's internal network: loopback, private,
/// link-local and unspecified addresses (and `localhost`) are refused unless a pattern names them;
/// with patterns given, only hosts they match are allowed.
///
/// A pattern is a host (`hooks.city.example.lg.jp`, `203.0.113.7`), a wildcard for its subdomains
/// (`*.city.example.lg.jp`), optionally with a port (`hooks.example:8443`), or `*` for any public host.
public struct EndpointPolicy: Sendable, Hashable {
    public var patterns: [String]

    public init(patterns: [String] = ["*"]) { self.patterns = patterns.map { $0.lowercased() } }

    /// Why `uri` may not be notified, or nil when it may.
    public func refusal(_ uri: String) -> String? {
        guard let components = URLComponents(string: uri), let host = components.host?.lowercased(), !host.isEmpty else {
            return "\(uri.prefix(80)) has no host"
        }
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        let scheme = components.scheme?.lowercased() ?? ""
        let port = components.port ?? ["http": 80, "https": 443, "mqtt": 1883, "mqtts": 8883][scheme] ?? 0
        let explicit = patterns.contains { $0 != "*" && Self.matches($0, host: bare, port: port) }
        if let kind = Self.internalKind(bare), !explicit {
            return "\(bare) is a \(kind) address: the hub does not notify it unless subscriptions.allowed_endpoints names it"
        }
        if explicit || patterns.contains("*") { return nil }
        return "\(bare) is not in subscriptions.allowed_endpoints"
    }

    static func matches(_ pattern: String, host: String, port: Int) -> Bool {
        var hostPattern = pattern
        if let colon = pattern.lastIndex(of: ":"), !pattern.hasPrefix("["), pattern.filter({ $0 == ":" }).count == 1 {
            guard Int(pattern[pattern.index(after: colon)...]) == port else { return false }
            hostPattern = String(pattern[..<colon])
        }
        hostPattern = hostPattern.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if hostPattern.hasPrefix("*.") { return host.hasSuffix(String(hostPattern.dropFirst())) }
        return host == hostPattern
    }

    /// "loopback", "private", "link-local" or "unspecified" for such an address (or `localhost`).
    public static func internalKind(_ host: String) -> String? {
        if host == "localhost" || host.hasSuffix(".localhost") { return "loopback" }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            let a = UInt32(bigEndian: v4.s_addr)
            let (b0, b1) = (a >> 24, (a >> 16) & 0xFF)
            switch (b0, b1) {
            case (127, _): return "loopback"
            case (10, _), (172, 16...31), (192, 168), (100, 64...127): return "private"
            case (169, 254): return "link-local"
            case (0, _): return "unspecified"
            default: return nil
            }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            let bytes = withUnsafeBytes(of: v6) { Array($0) }
            if bytes.allSatisfy({ $0 == 0 }) { return "unspecified" }
            if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return "loopback" }
            if bytes[0] & 0xFE == 0xFC { return "private" }
            if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return "link-local" }
            // An IPv4-mapped address: as its IPv4 one.
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                return internalKind(bytes[12..<16].map(String.init).joined(separator: "."))
            }
        }
        return nil
    }
}
