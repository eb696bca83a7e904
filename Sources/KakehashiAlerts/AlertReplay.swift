import KakehashiModel

/// Replays readings through rules on virtual time: each entity's clock follows its own readings'
/// times, so stale sensors, absent tags and minimum durations are decided as the live hub decides
/// them for the same readings.
///
/// ```swift
/// let events = AlertReplay(rules: rules).run(entities)   // entities in any order
/// ```
public struct AlertReplay: Sendable {
    /// The rules.
    public let rules: [AlertRule]

    /// Creates a replay of `rules`.
    public init(rules: [AlertRule]) { self.rules = rules }

    /// The events of `entities`, evaluated per entity in observation order, then with every
    /// entity's clock moved to `end` when given (what time alone decides until then).
    public func run(_ entities: [NGSIEntity], until end: Timestamp? = nil) -> [AlertEvent] {
        // In observation order (a stable sort), so nothing is late and the history kept stays small.
        let ordered = entities.enumerated().sorted { a, b in
            let x = AlertEngine.newest(a.element), y = AlertEngine.newest(b.element)
            if x != y { return (x?.millisecondsSinceEpoch ?? .min) < (y?.millisecondsSinceEpoch ?? .min) }
            return a.offset < b.offset
        }
        var engine = AlertEngine(rules: rules)
        var events = [AlertEvent]()
        for (_, entity) in ordered { events += engine.observe(entity) }
        if let end { events += engine.advance(to: end) }
        return events
    }

    /// The newest `observedAt` of an entity's attributes.
    public static func newest(_ entity: NGSIEntity) -> Timestamp? { AlertEngine.newest(entity) }
}
