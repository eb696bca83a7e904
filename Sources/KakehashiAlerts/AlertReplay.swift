import KakehashiModel

/// Replays readings through rules on virtual time: the clock follows the readings' own times, so
/// stale sensors, absent tags and minimum durations are decided as they would have been live.
///
/// ```swift
/// let events = AlertReplay(rules: rules).run(entities)   // entities in observation order
/// ```
public struct AlertReplay: Sendable {
    /// The rules.
    public let rules: [AlertRule]

    /// Creates a replay of `rules`.
    public init(rules: [AlertRule]) { self.rules = rules }

    /// The events of `entities` (in observation order), with the clock moved to each reading's
    /// newest time before it is taken, and finally to `end` when given.
    public func run(_ entities: [NGSIEntity], until end: Timestamp? = nil) -> [AlertEvent] {
        var engine = AlertEngine(rules: rules)
        var events = [AlertEvent]()
        var clock: Timestamp?
        for entity in entities {
            if let at = Self.newest(entity), clock.map({ at > $0 }) ?? true {
                clock = at
                events += engine.advance(to: at)
            }
            events += engine.observe(entity)
        }
        if let end, clock.map({ end > $0 }) ?? true { events += engine.advance(to: end) }
        return events
    }

    /// The newest `observedAt` of an entity's attributes.
    public static func newest(_ entity: NGSIEntity) -> Timestamp? {
        entity.attributes.values.compactMap(\.observedAt).max()
    }
}
