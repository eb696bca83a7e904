import KakehashiModel

/// Evaluates alert rules on entity fragments as they arrive and on the clock.
///
/// Pure and deterministic: the same fragments and the same `advance(to:)` calls give the same
/// events in the same order. It keeps, per entity, the latest numeric attributes (so a stage level
/// can be an attribute of the entity itself, sent once) and location, and per (rule, entity) the
/// alert's state. A reading older than the last one a rule evaluated for that entity does not
/// change the alert (late data never rewinds it).
///
/// ```swift
/// var engine = AlertEngine(rules: rules)
/// for entity in batch { events += engine.observe(entity) }
/// events += engine.advance(to: now)   // staleness and minimum durations, on the clock
/// ```
public struct AlertEngine: Sendable {
    /// The rules, in the order they are evaluated.
    public let rules: [AlertRule]

    private struct Key: Hashable, Comparable {
        let rule: Int
        let entity: EntityID
        static func < (a: Key, b: Key) -> Bool { (a.rule, a.entity.rawValue) < (b.rule, b.entity.rawValue) }
    }

    private struct State: Sendable {
        var machine: StageMachine
        /// Time of the last reading evaluated.
        var lastAt: Timestamp?
        /// Last value (level, change) evaluated, re-used on the clock.
        var lastValue: Double?
        /// Rate of change: recent (time, value), oldest first.
        var samples: [(t: Int64, v: Double)] = []
        /// Stale/absence: the newest reading time / since when absent.
        var since: Timestamp?
        var active = false
    }

    private struct Known: Sendable {
        var numbers: [String: Double] = [:]
        var location: GeoPoint?
    }

    private var states: [Key: State] = [:]
    /// `states`' keys in evaluation order (rebuilt when a key is added; keys are never removed).
    private var orderedKeys: [Key] = []
    private var known: [EntityID: Known] = [:]
    private var rulesByType: [String: [Int]] = [:]

    /// Creates an engine with no alert active.
    public init(rules: [AlertRule]) {
        self.rules = rules
        for (index, rule) in rules.enumerated() { rulesByType[rule.entityType, default: []].append(index) }
    }

    /// The active alerts: the latest event of each alert not cleared, by rule then entity.
    public private(set) var active: [String: AlertEvent] = [:]

    /// Puts the engine back in the state `active` describes (the latest event of each active
    /// alert, as stored), after a restart: those alerts continue instead of being raised again.
    /// Events of unknown rules are ignored.
    public mutating func restore(_ active: [AlertEvent]) {
        let index = Dictionary(rules.enumerated().map { ($0.element.id + "\u{0}" + $0.element.tenant.name, $0.offset) }) { first, _ in first }
        for event in active where event.kind != .cleared && event.stage > 0 {
            guard let ruleIndex = index[event.rule + "\u{0}" + event.entity.tenant.name] else { continue }
            let rule = rules[ruleIndex]
            let key = Key(rule: ruleIndex, entity: event.entity)
            var state: State
            switch rule.kind {
            case .threshold(let threshold):
                state = State(machine: StageMachine(stages: threshold.stages.count, current: event.stage))
            case .rateOfChange:
                state = State(machine: StageMachine(stages: 1, current: 1))
            case .stale, .absence:
                state = State(machine: StageMachine(stages: 1))
                state.active = true
                state.since = event.at
            }
            states[key] = state
            if let location = event.location { known[event.entity, default: Known()].location = location }
            self.active[rule.id + "\u{0}" + event.entity.rawValue] = event
        }
    }

    /// Takes one entity fragment (a reading) and returns the events it causes.
    public mutating func observe(_ entity: NGSIEntity) -> [AlertEvent] {
        let id = entity.id
        var facts = known[id] ?? Known()
        var newest: Timestamp?
        for (name, attribute) in entity.attributes {
            switch attribute {
            case .property(let property):
                if case .number(let number) = property.value { facts.numbers[name] = number }
                if let observedAt = property.observedAt { newest = max(newest ?? observedAt, observedAt) }
            case .geoProperty(let point, let observedAt):
                facts.location = point
                if let observedAt { newest = max(newest ?? observedAt, observedAt) }
            case .relationship(_, let observedAt):
                if let observedAt { newest = max(newest ?? observedAt, observedAt) }
            }
        }
        known[id] = facts
        var events = [AlertEvent]()
        for index in rulesByType[id.type] ?? [] {
            let rule = rules[index]
            guard rule.watches(id, location: facts.location) else { continue }
            let key = Key(rule: index, entity: id)
            switch rule.kind {
            case .threshold(let threshold):
                guard let (value, at) = Self.reading(entity, rule.attribute) else { continue }
                let levels = threshold.stages.map { Self.level($0.level, facts) }
                evaluateThreshold(key, rule, threshold, value: value, at: at, levels: levels, location: facts.location, into: &events)
            case .rateOfChange(let rate):
                guard let (value, at) = Self.reading(entity, rule.attribute) else { continue }
                evaluateRate(key, rule, rate, value: value, at: at, location: facts.location, into: &events)
            case .stale:
                guard let newest else { continue }
                var state = states[key] ?? State(machine: StageMachine(stages: 1))
                if let since = state.since, newest <= since { continue }
                state.since = newest
                if state.active {
                    state.active = false
                    emit(.cleared, key, rule, stage: 0, name: nil, severity: nil, value: nil, level: nil, at: newest, location: facts.location, into: &events)
                }
                states[key] = state
            case .absence(let after, let severity):
                guard case .property(let property)? = entity.attributes[rule.attribute], let at = property.observedAt,
                      let present = Self.presence(property.value) else { continue }
                var state = states[key] ?? State(machine: StageMachine(stages: 1))
                if let last = state.lastAt, at < last { continue }
                state.lastAt = at
                if present {
                    state.since = nil
                    if state.active {
                        state.active = false
                        emit(.cleared, key, rule, stage: 0, name: nil, severity: nil, value: nil, level: nil, at: at, location: facts.location, into: &events)
                    }
                } else {
                    if state.since == nil { state.since = at }
                    if !state.active, let since = state.since, at.millisecondsSinceEpoch - since.millisecondsSinceEpoch >= after {
                        state.active = true
                        emit(.raised, key, rule, stage: 1, name: "absent", severity: severity, value: nil, level: nil, at: at, location: facts.location, into: &events)
                    }
                }
                states[key] = state
            }
        }
        return events
    }

    /// Moves the clock to `now`: stale sensors, tags absent long enough, and stages whose
    /// minimum duration has now passed with the last value. Events are ordered by rule, then
    /// entity id.
    public mutating func advance(to now: Timestamp) -> [AlertEvent] {
        var events = [AlertEvent]()
        if orderedKeys.count != states.count { orderedKeys = states.keys.sorted() }
        for key in orderedKeys {
            let rule = rules[key.rule]
            switch rule.kind {
            case .threshold(let threshold):
                guard let state = states[key], state.machine.hasPendingTimer, let value = state.lastValue, let facts = known[key.entity],
                      let last = state.lastAt, now > last else { continue }
                let location = known[key.entity]?.location
                let levels = threshold.stages.map { Self.level($0.level, facts) }
                evaluateThreshold(key, rule, threshold, value: value, at: now, levels: levels, location: location, into: &events, fromClock: true)
            case .rateOfChange(let rate):
                // Without new readings the change can only shrink: the clock matters to an active alert only.
                guard let state = states[key], state.machine.current > 0, let value = state.lastValue, let last = state.lastAt, now > last else { continue }
                let location = known[key.entity]?.location
                evaluateRate(key, rule, rate, value: value, at: now, location: location, into: &events, fromClock: true)
            case .stale(let after, let severity), .absence(let after, let severity):
                guard var state = states[key], !state.active, let since = state.since,
                      now.millisecondsSinceEpoch - since.millisecondsSinceEpoch >= after else { continue }
                let location = known[key.entity]?.location
                state.active = true
                states[key] = state
                // Dated when the sensor went silent (or the tag away) for long enough, whatever the tick rate.
                let name: String
                if case .stale = rule.kind { name = "stale" } else { name = "absent" }
                emit(.raised, key, rule, stage: 1, name: name, severity: severity, value: nil, level: nil,
                     at: since.advanced(byMilliseconds: after), location: location, into: &events)
            }
        }
        return events
    }

    // MARK: Evaluation

    private mutating func evaluateThreshold(_ key: Key, _ rule: AlertRule, _ threshold: Threshold, value: Double, at: Timestamp,
                                            levels: [Double?], location: GeoPoint?, into events: inout [AlertEvent], fromClock: Bool = false) {
        var state = states[key] ?? State(machine: StageMachine(stages: threshold.stages.count))
        if let last = state.lastAt, at < last { return }
        if !fromClock {
            state.lastAt = at
            state.lastValue = value
        }
        if let change = state.machine.evaluate(value: value, at: at, levels: levels, direction: threshold.direction,
                                               hysteresis: threshold.hysteresis, raiseAfter: threshold.raiseAfter, clearAfter: threshold.clearAfter) {
            let kind: AlertEvent.Kind = change.from == 0 ? .raised : change.to == 0 ? .cleared : change.to > change.from ? .escalated : .deescalated
            let stage = change.to > 0 ? threshold.stages[change.to - 1] : nil
            let level = change.to > 0 ? levels[change.to - 1] : levels[change.from - 1]
            emit(kind, key, rule, stage: change.to, name: stage?.name, severity: stage?.severity, value: value, level: level,
                 at: at, location: location, into: &events)
        }
        states[key] = state
    }

    private mutating func evaluateRate(_ key: Key, _ rule: AlertRule, _ rate: RateOfChange, value: Double, at: Timestamp,
                                       location: GeoPoint?, into events: inout [AlertEvent], fromClock: Bool = false) {
        var state = states[key] ?? State(machine: StageMachine(stages: 1))
        if let last = state.lastAt, at < last { return }
        let t = at.millisecondsSinceEpoch
        if !fromClock {
            state.lastAt = at
            state.lastValue = value
            state.samples.append((t, value))
        }
        state.samples.removeAll { t - $0.t > rate.window }
        // The change against the lowest (rise) or highest (fall) value within the window.
        let change: Double
        if rate.change >= 0 {
            change = value - (state.samples.lazy.map(\.v).min() ?? value)
        } else {
            change = value - (state.samples.lazy.map(\.v).max() ?? value)
        }
        let signed = rate.change >= 0 ? change : -change
        if let step = state.machine.evaluate(value: signed, at: at, levels: [abs(rate.change)], direction: .above,
                                             hysteresis: 0, raiseAfter: 0, clearAfter: rate.clearAfter) {
            emit(step.to > 0 ? .raised : .cleared, key, rule, stage: step.to, name: step.to > 0 ? (rate.change >= 0 ? "rising" : "falling") : nil,
                 severity: step.to > 0 ? rate.severity : nil, value: change, level: rate.change, at: at, location: location, into: &events)
        }
        states[key] = state
    }

    private mutating func emit(_ kind: AlertEvent.Kind, _ key: Key, _ rule: AlertRule, stage: Int, name: String?, severity: Alert.Severity?,
                               value: Double?, level: Double?, at: Timestamp, location: GeoPoint?, into events: inout [AlertEvent]) {
        let event = AlertEvent(kind: kind, rule: rule.id, entity: key.entity, stage: stage, stageName: name, severity: severity,
                               value: value, level: level, at: at, location: location)
        let activeKey = rule.id + "\u{0}" + key.entity.rawValue
        if kind == .cleared { active[activeKey] = nil } else { active[activeKey] = event }
        events.append(event)
    }

    // MARK: Reading the fragment

    private static func reading(_ entity: NGSIEntity, _ attribute: String) -> (Double, Timestamp)? {
        guard case .property(let property)? = entity.attributes[attribute], case .number(let value) = property.value,
              let at = property.observedAt else { return nil }
        return (value, at)
    }

    private static func level(_ level: Threshold.Level, _ facts: Known) -> Double? {
        switch level {
        case .constant(let value): value
        case .attribute(let name): facts.numbers[name]
        }
    }

    private static func presence(_ value: PropertyValue) -> Bool? {
        switch value {
        case .boolean(let flag): flag
        case .text(let text): text == "present" ? true : text == "absent" ? false : nil
        default: nil
        }
    }
}
