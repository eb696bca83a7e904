import KakehashiModel

/// An Atom feed (RFC 4287) listing a tenant's active alerts, each entry linking to its CAP
/// message: the way public alert hubs index CAP.
public struct AtomIndex: Sendable {
    /// One active alert's current message.
    public struct Entry: Sendable {
        /// The CAP message.
        public var message: CAPMessage
        /// Where its CAP XML is served (`/feeds/alerts/7.cap`).
        public var link: String
        /// Creates an entry.
        public init(message: CAPMessage, link: String) {
            self.message = message
            self.link = link
        }
    }

    let tenant: Tenant
    let selfLink: String
    let entries: [Entry]
    let updated: Timestamp
    let offsetSeconds: Int

    /// - Parameters:
    ///   - updated: the newest change (or now, when nothing is active).
    public init(tenant: Tenant, selfLink: String, entries: [Entry], updated: Timestamp, offsetSeconds: Int) {
        self.tenant = tenant
        self.selfLink = selfLink
        self.entries = entries
        self.updated = updated
        self.offsetSeconds = offsetSeconds
    }

    /// The XML document.
    public var xml: String {
        let e = CAPMessage.escape
        var out = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
        out += #"<feed xmlns="http://www.w3.org/2005/Atom">"# + "\n"
        out += "  <id>urn:kakehashi:\(e(tenant.name)):alerts</id>\n"
        out += "  <title>Kakehashi alerts: \(e(tenant.name))</title>\n"
        out += "  <updated>\(CAPMessage.time(updated, offsetSeconds: offsetSeconds))</updated>\n"
        out += "  <author><name>Kakehashi \(e(tenant.name))</name></author>\n"
        out += "  <link rel=\"self\" href=\"\(e(selfLink))\"/>\n"
        for entry in entries {
            let message = entry.message
            out += "  <entry>\n"
            out += "    <id>\(e(message.identifier))</id>\n"
            out += "    <title>\(e(message.headline(japanese: false)))</title>\n"
            out += "    <updated>\(message.sent)</updated>\n"
            out += "    <link rel=\"alternate\" type=\"application/cap+xml\" href=\"\(e(entry.link))\"/>\n"
            out += "    <summary>\(e(message.headline(japanese: true)))</summary>\n"
            out += "  </entry>\n"
        }
        out += "</feed>\n"
        return out
    }
}
