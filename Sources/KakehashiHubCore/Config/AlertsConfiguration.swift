import KakehashiAlerts
import KakehashiConfig
import KakehashiModel

/// The `alerts` section: rules per tenant and how their alerts are published.
public struct AlertsConfiguration: Sendable {
    /// The rules of every tenant, in file order.
    public var rules: [AlertRule] = []
    /// CAP `sender` per tenant; the default is `kakehashi-hub@<tenant>`.
    public var senders: [Tenant: String] = [:]
    /// The zone offset written in CAP and Atom times (default +09:00).
    public var offsetSeconds = 9 * 3600
    /// How often stale sensors, absent tags and minimum durations are checked (default 5 s).
    public var clockInterval: Duration = .seconds(5)
    /// Publish each event to `kakehashi/v1/<tenant>/alerts` on the broker (default true when a
    /// broker is configured).
    public var publishMQTT = true
    /// How long a sensor's readings may still be on their way: the wall clock moves a silent
    /// entity's own clock on only past this (default 60 s), so a reading that arrives within it
    /// is never late for a decision taken on the clock.
    public var clockGrace: Duration = .seconds(60)
    /// How far back (sensor time) a late reading is still evaluated where it belongs (default 6 h).
    public var lateWindow: Duration = .seconds(6 * 3600)
    /// How long the rules wait for a gateway's missing batch (a gap in its sequence numbers, or
    /// the first batch since the hub started) before evaluating the batches after it (default 5 s).
    public var reorderWait: Duration = .seconds(5)
    /// Over PostgreSQL, how long a hub's lease on a partition of the rules lasts without
    /// renewal (renewed every third of it): a hub that dies has its partitions taken by the
    /// others within this and a third (default 9 s, so within 12 s).
    public var leaseTTL: Duration = .seconds(9)

    /// No rules.
    public init() {}

    /// The CAP sender of `tenant`.
    public func sender(_ tenant: Tenant) -> String { senders[tenant] ?? "kakehashi-hub@\(tenant.name)" }

    /// The rule named `id` of `tenant`.
    public func rule(_ id: String, tenant: Tenant) -> AlertRule? { rules.first { $0.id == id && $0.tenant == tenant } }
}

extension HubConfigurationLoader {
    static let alertKeys = [
        "rules", "senders", "zone_offset", "clock_interval", "publish_mqtt", "clock_grace", "late_window", "reorder_wait", "lease_ttl",
    ]

    func alerts(_ node: ConfigNode, tenants: [Tenant: HubConfiguration.TenantSettings]) -> AlertsConfiguration? {
        guard let m = node.mapping(allowed: Self.alertKeys) else { return nil }
        var alerts = AlertsConfiguration()
        if let node = m["zone_offset"], let text = node.string {
            if let seconds = Self.offset(text) { alerts.offsetSeconds = seconds } else { node.fail("'\(text)' is not a zone offset like +09:00") }
        }
        if let node = m["clock_interval"], let interval = node.duration {
            if interval < .milliseconds(100) || interval > .seconds(3600) {
                node.fail("clock_interval is between 100ms and 1h")
            } else {
                alerts.clockInterval = interval
            }
        }
        if let flag = m["publish_mqtt"]?.bool { alerts.publishMQTT = flag }
        if let node = m["clock_grace"], let grace = node.duration {
            if grace < .zero || grace > .seconds(86_400) { node.fail("clock_grace is between 0s and 24h") } else { alerts.clockGrace = grace }
        }
        if let node = m["late_window"], let window = node.duration {
            if window < .zero || window > .seconds(7 * 86_400) { node.fail("late_window is between 0s and 7d") } else { alerts.lateWindow = window }
        }
        if let node = m["reorder_wait"], let wait = node.duration {
            if wait < .zero || wait > .seconds(60) { node.fail("reorder_wait is between 0s and 60s") } else { alerts.reorderWait = wait }
        }
        if let node = m["lease_ttl"], let ttl = node.duration {
            if ttl < .seconds(3) || ttl > .seconds(300) { node.fail("lease_ttl is between 3s and 5m") } else { alerts.leaseTTL = ttl }
        }
        if let node = m["senders"], let table = node.table() {
            for (name, value) in table {
                guard let tenant = value.model({ _ throws(ModelError) in try Tenant(name) }) else { continue }
                if tenants[tenant] == nil { value.fail("\(tenant) is not one of the tenants") }
                if let sender = value.string {
                    let forbidden: Set<Character> = [" ", ",", "<", "&"]
                    if sender.isEmpty || sender.contains(where: forbidden.contains) {
                        value.fail("a CAP sender has no spaces, commas, < or &")
                    } else {
                        alerts.senders[tenant] = sender
                    }
                }
            }
        }
        var seen = Set<String>()
        for item in m["rules"]?.sequence() ?? [] {
            guard let rule = alertRule(item, tenants: tenants) else { continue }
            if !seen.insert(rule.tenant.name + "\u{0}" + rule.id).inserted { item.fail("rule \(rule.id) of \(rule.tenant) is defined twice") }
            alerts.rules.append(rule)
        }
        return alerts
    }

    /// `+09:00`, `-05:30`, `Z` (``UTCOffset``).
    static func offset(_ text: String) -> Int? { UTCOffset.seconds(text) }

    private static let kinds = ["threshold", "rate", "stale", "absent"]

    func alertRule(_ node: ConfigNode, tenants: [Tenant: HubConfiguration.TenantSettings]) -> AlertRule? {
        guard let m = node.mapping(allowed: ["id", "tenant", "type", "attribute", "ids", "area", "event", "cap"] + Self.kinds) else { return nil }
        let id = node.required(m, "id")?.string
        if let id, id.isEmpty || id.count > 64 || id.contains(where: { $0.isWhitespace || $0 == "/" }) {
            m["id"]?.fail("a rule id is 1 to 64 characters without spaces or /")
        }
        let tenant = node.required(m, "tenant")?.model { (text) throws(ModelError) in try Tenant(text) }
        if let tenant, tenants[tenant] == nil { m["tenant"]?.fail("\(tenant) is not one of the tenants") }
        let type = node.required(m, "type")?.string
        let kindKeys = Self.kinds.filter { m[$0] != nil }
        if kindKeys.count != 1 { node.fail("a rule has exactly one of threshold, rate, stale or absent"); return nil }
        let kindKey = kindKeys[0]
        let attribute = kindKey == "stale" ? m["attribute"]?.string ?? "*" : node.required(m, "attribute")?.string
        var ids: Set<EntityID>?
        if let list = m["ids"]?.sequence() {
            var set = Set<EntityID>()
            for item in list {
                // Any URI: the rule's tenant and type are the entity's.
                guard let tenant, let type else { continue }
                if let entity = item.model({ (text) throws(ModelError) in try EntityID(uri: text, type: type, tenant: tenant) }) {
                    set.insert(entity)
                }
            }
            ids = set
        }
        var area: GeoBox?
        if let node = m["area"], let box = node.mapping(allowed: ["south", "west", "north", "east"]) {
            if let south = node.required(box, "south")?.double, let west = node.required(box, "west")?.double,
                let north = node.required(box, "north")?.double, let east = node.required(box, "east")?.double
            {
                if south > north || west > east || abs(south) > 90 || abs(north) > 90 || abs(west) > 180 || abs(east) > 180 {
                    node.fail("the area is south ≤ north within ±90 and west ≤ east within ±180")
                } else {
                    area = GeoBox(south: south, west: west, north: north, east: east)
                }
            }
        }
        var text: AlertRule.Text?
        if let node = m["event"], let members = node.mapping(allowed: ["en", "ja"]) {
            let en = node.required(members, "en")?.string
            let ja = members["ja"]?.string ?? en
            if let en, let ja { text = AlertRule.Text(event: en, eventJapanese: ja) }
        }
        var publishing = AlertRule.Publishing()
        if let node = m["cap"], let members = node.mapping(allowed: ["category", "radius_km", "unit"]) {
            if let value = members["category"], let name = value.string {
                if let category = CAPMessage.Category(rawValue: name) {
                    publishing.category = category
                } else {
                    value.fail("'\(name)' is not a CAP category (\(CAPMessage.Category.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
            }
            if let value = members["radius_km"], let radius = value.double {
                if radius < 0 || radius > 1000 { value.fail("radius_km is between 0 and 1000") } else { publishing.radiusKilometres = radius }
            }
            if let unit = members["unit"]?.string { publishing.unit = unit }
        }
        guard let kindNode = m[kindKey], let kind = self.kind(kindKey, kindNode) else { return nil }
        guard let id, let tenant, let type, let attribute else { return nil }
        return AlertRule(
            id: id,
            tenant: tenant,
            entityType: type,
            attribute: attribute,
            entityIDs: ids,
            area: area,
            kind: kind,
            text: text,
            publishing: publishing
        )
    }

    private func kind(_ key: String, _ node: ConfigNode) -> AlertRule.Kind? {
        func milliseconds(_ node: ConfigNode?) -> Int64? {
            guard let duration = node?.duration else { return nil }
            return duration.milliseconds
        }
        func severity(_ node: ConfigNode?) -> Alert.Severity? {
            guard let node, let text = node.string else { return nil }
            guard let value = Alert.Severity(rawValue: text) else {
                node.fail("'\(text)' is not a severity (\(Alert.Severity.allCases.map(\.rawValue).joined(separator: ", ")))")
                return nil
            }
            return value
        }
        switch key {
        case "threshold":
            guard let m = node.mapping(allowed: ["direction", "stages", "hysteresis", "raise_after", "clear_after"]) else { return nil }
            var direction = Threshold.Direction.above
            if let value = m["direction"], let text = value.string {
                if let parsed = Threshold.Direction(rawValue: text) { direction = parsed } else { value.fail("direction is above or below") }
            }
            var stages = [Threshold.Stage]()
            var failed = false
            for item in node.required(m, "stages")?.sequence() ?? [] {
                guard let s = item.mapping(allowed: ["name", "level", "severity"]), let name = item.required(s, "name")?.string,
                    let levelText = item.required(s, "level")?.string, let value = severity(item.required(s, "severity"))
                else { failed = true; continue }
                let level: Threshold.Level = Double(levelText).map { .constant($0) } ?? .attribute(levelText)
                if case .constant(let number) = level, !number.isFinite { s["level"]?.fail("the level is finite"); failed = true }
                stages.append(Threshold.Stage(name: name, level: level, severity: value))
            }
            if stages.isEmpty && !failed { m["stages"]?.fail("list at least one stage, least severe first") }
            let hysteresis = m["hysteresis"]?.double ?? 0
            if hysteresis < 0 { m["hysteresis"]?.fail("hysteresis is not negative") }
            guard !failed, !stages.isEmpty else { return nil }
            return .threshold(
                Threshold(
                    direction: direction,
                    stages: stages,
                    hysteresis: hysteresis,
                    raiseAfter: milliseconds(m["raise_after"]) ?? 0,
                    clearAfter: milliseconds(m["clear_after"]) ?? 0
                )
            )
        case "rate":
            guard let m = node.mapping(allowed: ["window", "change", "severity", "clear_after"]) else { return nil }
            guard let window = milliseconds(node.required(m, "window")), let change = node.required(m, "change")?.double,
                let value = severity(node.required(m, "severity"))
            else { return nil }
            if window <= 0 { m["window"]?.fail("the window is longer than 0"); return nil }
            if change == 0 { m["change"]?.fail("the change is a rise (positive) or a fall (negative), not 0"); return nil }
            return .rateOfChange(RateOfChange(window: window, change: change, severity: value, clearAfter: milliseconds(m["clear_after"]) ?? 0))
        default:
            guard let m = node.mapping(allowed: ["after", "severity"]) else { return nil }
            guard let after = milliseconds(node.required(m, "after")), let value = severity(node.required(m, "severity")) else { return nil }
            return key == "stale" ? .stale(after: after, severity: value) : .absence(after: after, severity: value)
        }
    }
}
