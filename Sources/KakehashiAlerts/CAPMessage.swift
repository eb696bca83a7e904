import KakehashiModel

/// An alert as an OASIS CAP 1.2 message (`urn:oasis:names:tc:emergency:cap:1.2`), with one
/// `info` block in Japanese and one in English, and a circle around the entity as its area.
///
/// Each change of an alert decided by the engine is one CAP message: the raise is `Alert`, a
/// change of stage `Update`, the clear `Cancel`; later messages reference the earlier ones.
///
/// ```swift
/// let xml = CAPMessage(alert: record, changes: history, rule: rule, sender: "kakehashi@kurume",
///                      areaDescription: "gauge 3", offsetSeconds: 9 * 3600).xml
/// ```
public struct CAPMessage: Sendable {
    /// CAP `category` values.
    public enum Category: String, Sendable, Hashable, CaseIterable {
        case geo = "Geo"
        case met = "Met"
        case safety = "Safety"
        case security = "Security"
        case rescue = "Rescue"
        case fire = "Fire"
        case health = "Health"
        case env = "Env"
        case transport = "Transport"
        case infra = "Infra"
        case cbrne = "CBRNE"
        case other = "Other"
    }

    /// One earlier or current message of the alert: its event id and time.
    public struct Change: Sendable, Hashable {
        /// The event id.
        public var id: Int64
        /// When the event happened.
        public var at: Timestamp
        /// Creates a change.
        public init(id: Int64, at: Timestamp) {
            self.id = id
            self.at = at
        }
    }

    let alert: AlertRecord
    let changes: [Change]
    let rule: AlertRule?
    let sender: String
    let areaDescription: String
    let offsetSeconds: Int

    /// - Parameters:
    ///   - alert: the alert, as it is now.
    ///   - changes: its engine events so far, oldest first (the last one is this message).
    ///   - rule: its rule (texts, category, radius); nil when the rule is no longer configured.
    ///   - sender: CAP `sender` (no spaces or commas).
    ///   - areaDescription: the place, for people (`gauge 3`).
    ///   - offsetSeconds: the zone offset written in times (`+09:00` is 32,400).
    public init(alert: AlertRecord, changes: [Change], rule: AlertRule?, sender: String, areaDescription: String, offsetSeconds: Int) {
        self.alert = alert
        self.changes = changes.isEmpty ? [Change(id: alert.lastChange, at: alert.updatedAt)] : changes
        self.rule = rule
        self.sender = Self.token(sender)
        self.areaDescription = areaDescription
        self.offsetSeconds = offsetSeconds
    }

    /// The message's `identifier`: unique per tenant and event.
    public var identifier: String { Self.identifier(tenant: alert.tenant, event: changes.last!.id) }

    /// `urn:kakehashi:<tenant>:alert-event:<id>`.
    public static func identifier(tenant: Tenant, event: Int64) -> String { "urn:kakehashi:\(tenant.name):alert-event:\(event)" }

    /// `sent`: the time of the change, with the zone offset.
    public var sent: String { Self.time(changes.last!.at, offsetSeconds: offsetSeconds) }

    /// CAP `msgType`.
    public var messageType: String {
        switch alert.lastChangeKind {
        case .raised: "Alert"
        case .cleared: "Cancel"
        case .escalated, .deescalated, .acknowledged: "Update"
        }
    }

    /// CAP `severity` of an alert severity.
    public static func severity(_ severity: Alert.Severity?) -> String {
        switch severity {
        case .critical: "Extreme"
        case .high: "Severe"
        case .medium: "Moderate"
        case .low, .informational: "Minor"
        case nil: "Unknown"
        }
    }

    /// The XML document.
    public var xml: String {
        var out = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
        out += #"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">"# + "\n"
        element(&out, "identifier", identifier, indent: 1)
        element(&out, "sender", sender, indent: 1)
        element(&out, "sent", sent, indent: 1)
        element(&out, "status", "Actual", indent: 1)
        element(&out, "msgType", messageType, indent: 1)
        element(&out, "scope", "Public", indent: 1)
        if changes.count > 1 {
            let earlier = changes.dropLast().map {
                "\(sender),\(Self.identifier(tenant: alert.tenant, event: $0.id)),\(Self.time($0.at, offsetSeconds: offsetSeconds))"
            }
            element(&out, "references", earlier.joined(separator: " "), indent: 1)
        }
        info(&out, japanese: true)
        info(&out, japanese: false)
        out += "</alert>\n"
        return out
    }

    /// The event name in one language.
    public func event(japanese: Bool) -> String {
        japanese ? (rule?.text.eventJapanese ?? alert.rule) : (rule?.text.event ?? alert.rule)
    }

    /// The headline in one language (`River at flood-start level (flood): gauge 3`).
    public func headline(japanese: Bool) -> String {
        let event = self.event(japanese: japanese)
        let stage = alert.stageName.map { japanese ? "（\($0)）" : " (\($0))" } ?? ""
        if !alert.isActive { return japanese ? "\(event)解除: \(areaDescription)" : "\(event) cleared: \(areaDescription)" }
        return "\(event)\(stage): \(areaDescription)"
    }

    private func info(_ out: inout String, japanese: Bool) {
        let cleared = !alert.isActive
        let event = self.event(japanese: japanese)
        let headline = self.headline(japanese: japanese)
        let unit = rule?.publishing.unit ?? ""
        func number(_ value: Double) -> String {
            let rounded = (value * 1000).rounded() / 1000
            return (rounded == rounded.rounded() ? String(Int64(rounded)) : String(rounded)) + (unit.isEmpty ? "" : " \(unit)")
        }
        let when = Self.time(alert.updatedAt, offsetSeconds: offsetSeconds)
        var description: String
        if japanese {
            description = "\(areaDescription)（\(alert.entity.rawValue)）"
            if let value = alert.value { description += "の値 \(number(value))" }
            if let level = alert.level { description += "（基準 \(number(level))）" }
            description += cleared ? "。\(when) に解除。" : "。\(when) 観測。"
            if alert.stale, let last = alert.lastReadingAt {
                description += "\(Self.time(last, offsetSeconds: offsetSeconds)) 以降、観測値が届いていません。"
            }
        } else {
            description = "\(areaDescription) (\(alert.entity.rawValue))"
            if let value = alert.value { description += " read \(number(value))" }
            if let level = alert.level { description += " against a level of \(number(level))" }
            description += cleared ? "; cleared at \(when)." : " at \(when)."
            if alert.stale, let last = alert.lastReadingAt {
                description += " No reading since \(Self.time(last, offsetSeconds: offsetSeconds))."
            }
        }
        out += "  <info>\n"
        element(&out, "language", japanese ? "ja-JP" : "en-US", indent: 2)
        element(&out, "category", (rule?.publishing.category ?? .met).rawValue, indent: 2)
        element(&out, "event", event, indent: 2)
        element(&out, "urgency", cleared ? "Past" : "Immediate", indent: 2)
        element(&out, "severity", Self.severity(alert.severity), indent: 2)
        element(&out, "certainty", "Observed", indent: 2)
        element(&out, "senderName", "Kakehashi \(alert.tenant.name)", indent: 2)
        element(&out, "headline", headline, indent: 2)
        element(&out, "description", description, indent: 2)
        out += "    <parameter>\n"
        element(&out, "valueName", "kakehashiAlertId", indent: 3)
        element(&out, "value", String(alert.id), indent: 3)
        out += "    </parameter>\n"
        if alert.stale {
            out += "    <parameter>\n"
            element(&out, "valueName", "stale", indent: 3)
            element(&out, "value", "true", indent: 3)
            out += "    </parameter>\n"
        }
        if let last = alert.lastReadingAt {
            out += "    <parameter>\n"
            element(&out, "valueName", "lastReadingAt", indent: 3)
            element(&out, "value", Self.time(last, offsetSeconds: offsetSeconds), indent: 3)
            out += "    </parameter>\n"
        }
        out += "    <area>\n"
        element(&out, "areaDesc", areaDescription, indent: 3)
        if let location = alert.location {
            let radius = max(0, rule?.publishing.radiusKilometres ?? 1)
            element(&out, "circle", "\(location.latitude),\(location.longitude) \(radius)", indent: 3)
        }
        out += "    </area>\n"
        out += "  </info>\n"
    }

    private func element(_ out: inout String, _ name: String, _ text: String, indent: Int) {
        out += String(repeating: "  ", count: indent) + "<\(name)>" + Self.escape(text) + "</\(name)>\n"
    }

    /// `2026-06-02T09:10:00+09:00`: seconds, a numeric zone offset (CAP forbids `Z`).
    public static func time(_ at: Timestamp, offsetSeconds: Int) -> String {
        at.iso8601(offsetSeconds: offsetSeconds)
    }

    /// XML character data with `&`, `<`, `>`, quotes escaped and control characters dropped.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default: if scalar.value >= 0x20 { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }

    /// CAP forbids spaces, commas and `<`/`&` in identifiers and senders.
    static func token(_ text: String) -> String {
        String(text.unicodeScalars.map { " ,<&".unicodeScalars.contains($0) || $0.value < 0x21 ? "_" : Character($0) })
    }
}
