import KakehashiModel

/// Evaluates alert rules on entity fragments (readings), each entity on its own event time.
///
/// Pure and deterministic. Every entity has its own clock: the `observedAt` of its readings. Its
/// readings are evaluated in `observedAt` order whatever order they arrive in, and minimum
/// durations, `clear_after` and staleness end at the exact instant the condition has held long
/// enough (the level crossing plus the duration), decided when the entity's clock passes that
/// instant: by one of its own later readings, or by ``advance(wall:grace:)`` (live: the wall clock
/// moves a silent entity on) or ``advance(to:)`` (virtual time). So the same readings give the same
/// events however they are batched, interleaved with other entities' readings, or replayed.
///
/// A reading older than one already evaluated for its entity (late) is placed where it belongs
/// among the readings kept for the entity (those of the last ``lateWindow`` ms, at most
/// ``historyLimit``) and the entity's readings from there on are evaluated again. The events that
/// history gives and that were not given yet are returned, marked late: a late reading above a
/// level raises its alert (and, when later readings already show the value back for
/// `clear_after`, clears it too), both dated by the sensor's time. Events already given are never
/// taken back: when the late reading contradicts one (a clear that should not have happened), the
/// alert is brought to the stage the whole history gives, by one late event. A reading older than
/// everything kept is counted in ``tooLate`` and not evaluated.
///
/// ```swift
/// var engine = AlertEngine(rules: rules)
/// for entity in batch { events += engine.observe(entity, arrivedAt: now) }
/// events += engine.advance(wall: now, grace: 60_000)   // silent entities, on the wall clock
/// ```
public struct AlertEngine: Sendable {
    /// The rules, in the order they are evaluated.
    public let rules: [AlertRule]
    /// How far back (ms, event time) a late reading is still placed among an entity's readings.
    public let lateWindow: Int64
    /// The most readings kept per entity for late ones.
    public let historyLimit: Int

    /// The active alerts: the latest event of each alert not cleared, keyed by rule id, NUL, entity id.
    public private(set) var active: [String: AlertEvent] = [:]
    /// Readings that arrived after a later one of their entity and were placed where they belong.
    public private(set) var lateReadings = 0
    /// Readings older than everything kept for their entity: stored by the hub, not evaluated.
    public private(set) var tooLate = 0

    /// The state of one (rule, entity) alert.
    struct RuleState: Sendable {
        var machine: StageMachine
        /// The last instant (ms) evaluated.
        var evaluatedAt: Int64?
        /// Last value (level, change) evaluated, re-used on the clock.
        var lastValue: Double?
        /// Rate of change: recent (time, value), oldest first.
        var samples: [Sample] = []
        /// Stale: the newest reading's time. Absence: since when absent.
        var since: Int64?
        /// Stale and absence: raised.
        var active = false

        /// The stage now (0: no alert).
        var stage: Int { active ? 1 : machine.current }
    }

    struct Sample: Sendable { var t: Int64, v: Double }

    /// What the engine knows of an entity at one instant: its latest numbers (a stage level can be
    /// an attribute of the entity itself, sent once), its location, and its rules' states.
    struct Facts: Sendable {
        /// The newest reading's time (ms).
        var newest: Int64?
        var numbers: [String: Double] = [:]
        var location: GeoPoint?
        var rules: [Int: RuleState] = [:]
    }

    /// One reading kept for late ones: the fragment, the facts after it, the events it gave.
    struct Entry: Sendable {
        var at: Int64
        var fragment: NGSIEntity
        var after: Facts
        var events: [AlertEvent]
    }

    /// One entity's readings and clock.
    struct Timeline: Sendable {
        /// The facts before the first kept entry.
        var base = Facts()
        /// The time of the newest reading dropped from `entries` (a reading at or before it is too late).
        var trimmedAt: Int64?
        var entries: [Entry] = []
        /// Decided up to this instant (ms): the newest reading, or further on the clock.
        var time: Int64?
        /// Events given on the clock after the last entry.
        var tail: [AlertEvent] = []
        /// The wall time (ms) at which `time` last moved with a reading (live).
        var arrived: Int64?

        var facts: Facts {
            get { entries.last?.after ?? base }
            set { if entries.isEmpty { base = newValue } else { entries[entries.count - 1].after = newValue } }
        }
    }

    private var timelines: [EntityID: Timeline] = [:]
    private var rulesByType: [String: [Int]] = [:]

    /// Creates an engine with no alert active. `lateWindow` (ms, default 6 h) and `historyLimit`
    /// (default 64 readings: more than 6 h of a gauge reporting every 10 minutes) bound what is kept
    /// per entity for late readings.
    public init(rules: [AlertRule], lateWindow: Int64 = 6 * 3_600_000, historyLimit: Int = 64) {
        self.rules = rules
        self.lateWindow = max(0, lateWindow)
        self.historyLimit = max(1, historyLimit)
        for (index, rule) in rules.enumerated() { rulesByType[rule.entityType, default: []].append(index) }
    }

    /// Puts the engine back in the state `active` describes (the latest event of each active
    /// alert, as stored), after a restart: those alerts continue instead of being raised again.
    /// Events of unknown rules are ignored.
    public mutating func restore(_ active: [AlertEvent]) {
        let index = Dictionary(rules.enumerated().map { ($0.element.id + "\u{0}" + $0.element.tenant.name, $0.offset) }) { first, _ in first }
        for event in active where event.kind != .cleared && event.stage > 0 {
            guard let ruleIndex = index[event.rule + "\u{0}" + event.entity.tenant.name] else { continue }
            var state: RuleState
            switch rules[ruleIndex].kind {
            case .threshold(let threshold):
                state = RuleState(machine: StageMachine(stages: threshold.stages.count, current: event.stage))
            case .rateOfChange:
                state = RuleState(machine: StageMachine(stages: 1, current: 1))
            case .stale, .absence:
                state = RuleState(machine: StageMachine(stages: 1))
                state.active = true
                state.since = event.at.millisecondsSinceEpoch
            }
            var timeline = timelines[event.entity] ?? Timeline()
            timeline.base.rules[ruleIndex] = state
            if let location = event.location { timeline.base.location = location }
            timelines[event.entity] = timeline
            self.active[rules[ruleIndex].id + "\u{0}" + event.entity.rawValue] = event
        }
    }

    /// Takes one entity fragment (a reading) and returns the events it causes. `arrivedAt` is the
    /// wall time it arrived (live), from which ``advance(wall:grace:)`` moves a silent entity on.
    public mutating func observe(_ entity: NGSIEntity, arrivedAt wall: Timestamp? = nil) -> [AlertEvent] {
        let id = entity.id
        // Nothing is kept for entities of a type no rule watches.
        guard rulesByType[id.type] != nil else { return [] }
        guard let newest = Self.newest(entity) else {
            // Static attributes only (levels, a name): remembered for what follows.
            guard var timeline = timelines[id] else {
                var timeline = Timeline()
                Self.learn(entity, into: &timeline.base)
                timelines[id] = timeline
                return []
            }
            Self.learn(entity, into: &timeline.facts)
            timelines[id] = timeline
            return []
        }
        let t = newest.millisecondsSinceEpoch
        // Taken out while it changes, so that its readings are not copied (copy on write).
        var timeline = timelines.removeValue(forKey: id) ?? Timeline()
        defer { timelines[id] = timeline }
        if let wall { timeline.arrived = max(timeline.arrived ?? .min, wall.millisecondsSinceEpoch) }
        if let last = timeline.entries.last, t == last.at {
            return replay(&timeline, entity, at: t)
        }
        if timeline.time.map({ t > $0 }) ?? true {
            // In order: the clock up to the reading, then the reading.
            var facts = timeline.facts
            var events = timeline.tail
            let before = events.count
            runClock(&facts, id, to: t, inclusive: false, into: &events)
            apply(entity, at: t, to: &facts, into: &events)
            runClock(&facts, id, to: t, inclusive: true, into: &events)
            timeline.tail = []
            timeline.entries.append(Entry(at: t, fragment: entity, after: facts, events: events))
            timeline.time = t
            trim(&timeline)
            let given = Array(events[before...])
            publish(given)
            return given
        }
        return replay(&timeline, entity, at: t)
    }

    /// Moves every entity's clock to `now` (virtual time: a replay's end, a test): stale sensors,
    /// absent tags, and minimum durations that run out by then with the last values. Readings at or
    /// before `now` that arrive afterwards are late.
    public mutating func advance(to now: Timestamp) -> [AlertEvent] {
        advanceAll { _ in now.millisecondsSinceEpoch }
    }

    /// Moves the clock of each entity that has been silent on: by the wall time since its last
    /// reading arrived, less `grace` (ms) for readings still on their way. An entity that keeps
    /// reporting is moved by its readings only, so a replay at any speed gives the events its
    /// readings give; a sensor that stops reporting still clears or goes stale.
    public mutating func advance(wall now: Timestamp, grace: Int64) -> [AlertEvent] {
        let wall = now.millisecondsSinceEpoch
        return advanceAll { timeline in
            // From the newest reading's time (not from where the clock already moved it).
            guard let newest = timeline.entries.last?.at, let arrived = timeline.arrived else { return nil }
            return newest + (wall - arrived) - grace
        }
    }

    // MARK: Timelines

    private mutating func advanceAll(_ target: (Timeline) -> Int64?) -> [AlertEvent] {
        var events = [AlertEvent]()
        for id in timelines.keys.sorted(by: { $0.rawValue < $1.rawValue }) {
            guard let (time, target) = timelines[id].map({ ($0.time, target($0)) }), let to = target, time.map({ to > $0 }) ?? true,
                var timeline = timelines.removeValue(forKey: id)
            else { continue }
            var facts = timeline.facts
            guard nextDue(facts, id) != nil || timeline.time == nil else {
                timeline.time = to
                timelines[id] = timeline
                continue
            }
            var tail = [AlertEvent]()
            runClock(&facts, id, to: to, inclusive: true, into: &tail)
            timeline.facts = facts
            timeline.time = to
            timeline.tail += tail
            timelines[id] = timeline
            publish(tail)
            events += tail
        }
        return events
    }

    /// Places `fragment` (at `t`, not after the entity's clock) among the kept readings, evaluates
    /// from there again and gives what was not given yet.
    private mutating func replay(_ timeline: inout Timeline, _ fragment: NGSIEntity, at t: Int64) -> [AlertEvent] {
        let index = timeline.entries.firstIndex { $0.at >= t } ?? timeline.entries.count
        var merged = fragment
        var replacing = false
        if index < timeline.entries.count, timeline.entries[index].at == t {
            // Another fragment at the same instant: attributes already known keep their first value.
            merged = timeline.entries[index].fragment
            var added = false
            for (name, attribute) in fragment.attributes where merged.attributes[name] == nil {
                merged.attributes[name] = attribute
                added = true
            }
            guard added else { return [] }  // the same reading again
            replacing = true
        } else if index == 0, let trimmed = timeline.trimmedAt, t <= trimmed {
            tooLate += 1
            return []
        } else {
            lateReadings += 1
        }
        let clock = timeline.time ?? t
        let old = timeline.entries[index...].flatMap(\.events) + timeline.tail
        var facts = index == 0 ? timeline.base : timeline.entries[index - 1].after
        let id = fragment.id
        var rebuilt = [Entry]()
        let rest = [(t, merged)] + timeline.entries[(replacing ? index + 1 : index)...].map { ($0.at, $0.fragment) }
        for (at, piece) in rest {
            var events = [AlertEvent]()
            runClock(&facts, id, to: at, inclusive: false, into: &events)
            apply(piece, at: at, to: &facts, into: &events)
            runClock(&facts, id, to: at, inclusive: true, into: &events)
            rebuilt.append(Entry(at: at, fragment: piece, after: facts, events: events))
        }
        var tail = [AlertEvent]()
        if let last = rebuilt.last?.at, clock > last { runClock(&facts, id, to: clock, inclusive: true, into: &tail) }
        timeline.entries.replaceSubrange(index..., with: rebuilt)
        timeline.tail = tail
        timeline.time = max(clock, t)
        trim(&timeline)
        let corrected = rebuilt.flatMap(\.events) + tail
        var given = [AlertEvent]()
        // Per rule: what history gives now against what was given.
        var ruleIDs = [String]()
        for event in old + corrected where !ruleIDs.contains(event.rule) { ruleIDs.append(event.rule) }
        for ruleID in ruleIDs {
            let was = old.filter { $0.rule == ruleID }, now = corrected.filter { $0.rule == ruleID }
            guard let ruleIndex = rules.firstIndex(where: { $0.id == ruleID && $0.tenant == id.tenant }) else { continue }
            // The events history gives after those already given alike; when what was given differs
            // (a clear that should not have happened), each step is taken from the stage the feed
            // shows, so every stage history went through is shown, then the stage it ends in.
            var common = 0
            while common < was.count, common < now.count, Self.same(was[common], now[common]) { common += 1 }
            var shown = active[ruleID + "\u{0}" + id.rawValue]?.stage ?? 0
            for step in now[common...] where step.stage != shown {
                var event = step
                event.kind = shown == 0 ? .raised : step.stage == 0 ? .cleared : step.stage > shown ? .escalated : .deescalated
                event.late = step.at.millisecondsSinceEpoch < clock
                given.append(event)
                shown = step.stage
            }
            let state = facts.rules[ruleIndex]
            if let stage = state?.stage, stage != shown {
                var bridge = event(
                    shown,
                    stage,
                    rules[ruleIndex],
                    id,
                    state: state,
                    facts: facts,
                    at: max(t, now.last?.at.millisecondsSinceEpoch ?? t)
                )
                bridge.late = true
                given.append(bridge)
            }
        }
        publish(given)
        return given
    }

    /// Drops kept readings older than the late window or beyond the limit.
    private func trim(_ timeline: inout Timeline) {
        guard let newest = timeline.entries.last?.at else { return }
        var drop = 0
        while drop < timeline.entries.count - 1,
            timeline.entries.count - drop > historyLimit || timeline.entries[drop].at < newest - lateWindow
        {
            drop += 1
        }
        guard drop > 0 else { return }
        timeline.base = timeline.entries[drop - 1].after
        timeline.trimmedAt = timeline.entries[drop - 1].at
        timeline.entries.removeFirst(drop)
    }

    private mutating func publish(_ events: [AlertEvent]) {
        for event in events {
            let key = event.rule + "\u{0}" + event.entity.rawValue
            if event.kind == .cleared { active[key] = nil } else { active[key] = event }
        }
    }

    // MARK: Evaluation

    private static func learn(_ entity: NGSIEntity, into facts: inout Facts) {
        for (name, attribute) in entity.attributes {
            switch attribute {
            case .property(let property): if case .number(let number) = property.value { facts.numbers[name] = number }
            case .geoProperty(let point, _): facts.location = point
            case .relationship, .languageProperty: break
            }
        }
    }

    private func watching(_ id: EntityID, _ facts: Facts) -> [Int] {
        (rulesByType[id.type] ?? []).filter { rules[$0].watches(id, location: facts.location) }
    }

    /// Applies one reading at `t` to the entity's rules.
    private func apply(_ entity: NGSIEntity, at t: Int64, to facts: inout Facts, into events: inout [AlertEvent]) {
        Self.learn(entity, into: &facts)
        facts.newest = max(facts.newest ?? t, t)
        let id = entity.id
        for index in watching(id, facts) {
            let rule = rules[index]
            var state = facts.rules[index] ?? Self.initial(rule)
            switch rule.kind {
            case .threshold(let threshold):
                guard let value = Self.number(entity, rule.attribute) else { continue }
                state.lastValue = value
                evaluateThreshold(&state, index, threshold, facts, id, at: t, into: &events)
            case .rateOfChange(let rate):
                guard let value = Self.number(entity, rule.attribute) else { continue }
                state.lastValue = value
                state.samples.append(Sample(t: t, v: value))
                evaluateRate(&state, index, rate, facts, id, at: t, into: &events)
            case .stale:
                if let since = state.since, t <= since { continue }
                state.since = t
                if state.active {
                    state.active = false
                    events.append(event(1, 0, rule, id, state: state, facts: facts, at: t))
                }
            case .absence(let after, _):
                guard case .property(let property)? = entity.attributes[rule.attribute], let present = Self.presence(property.value) else { continue }
                if present {
                    state.since = nil
                    if state.active {
                        state.active = false
                        events.append(event(1, 0, rule, id, state: state, facts: facts, at: t))
                    }
                } else {
                    if state.since == nil { state.since = t }
                    if !state.active, let since = state.since, t - since >= after {
                        state.active = true
                        events.append(event(0, 1, rule, id, state: state, facts: facts, at: t))
                    }
                }
            }
            state.evaluatedAt = t
            facts.rules[index] = state
        }
    }

    /// The earliest instant at which time alone changes one of the entity's alerts.
    private func nextDue(_ facts: Facts, _ id: EntityID) -> (Int64, Int)? {
        var best: (Int64, Int)?
        for (index, state) in facts.rules {
            guard let due = Self.due(rules[index], state) else { continue }
            if best.map({ (due, index) < $0 }) ?? true { best = (due, index) }
        }
        return best
    }

    private static func due(_ rule: AlertRule, _ state: RuleState) -> Int64? {
        let after = state.evaluatedAt ?? .min
        switch rule.kind {
        case .threshold(let threshold):
            guard state.lastValue != nil else { return nil }
            return state.machine.nextDue(after: after, raiseAfter: threshold.raiseAfter, clearAfter: threshold.clearAfter)
        case .rateOfChange(let rate):
            // Without new readings the change can only shrink: the clock matters to an active alert only.
            guard state.machine.current > 0 else { return nil }
            var due = state.machine.nextDue(after: after, raiseAfter: 0, clearAfter: rate.clearAfter)
            if let oldest = state.samples.first {
                let expiry = oldest.t + rate.window + 1
                if expiry > after, due.map({ expiry < $0 }) ?? true { due = expiry }
            }
            return due
        case .stale(let limit, _), .absence(let limit, _):
            guard !state.active, let since = state.since else { return nil }
            let due = since + limit
            return due > after ? due : nil
        }
    }

    /// Decides every minimum duration that runs out before `limit` (or at it, when `inclusive`).
    private func runClock(_ facts: inout Facts, _ id: EntityID, to limit: Int64, inclusive: Bool, into events: inout [AlertEvent]) {
        while let (due, index) = nextDue(facts, id), inclusive ? due <= limit : due < limit {
            let rule = rules[index]
            guard var state = facts.rules[index] else { return }
            switch rule.kind {
            case .threshold(let threshold):
                evaluateThreshold(&state, index, threshold, facts, id, at: due, into: &events)
            case .rateOfChange(let rate):
                evaluateRate(&state, index, rate, facts, id, at: due, into: &events)
            case .stale, .absence:
                state.active = true
                events.append(event(0, 1, rule, id, state: state, facts: facts, at: due))
            }
            state.evaluatedAt = due
            facts.rules[index] = state
        }
    }

    private func evaluateThreshold(
        _ state: inout RuleState,
        _ index: Int,
        _ threshold: Threshold,
        _ facts: Facts,
        _ id: EntityID,
        at t: Int64,
        into events: inout [AlertEvent]
    ) {
        guard let value = state.lastValue else { return }
        let levels = threshold.stages.map { Self.level($0.level, facts) }
        if let change = state.machine.evaluate(
            value: value,
            at: t,
            levels: levels,
            direction: threshold.direction,
            hysteresis: threshold.hysteresis,
            raiseAfter: threshold.raiseAfter,
            clearAfter: threshold.clearAfter
        ) {
            events.append(event(change.from, change.to, rules[index], id, state: state, facts: facts, at: t))
        }
        state.evaluatedAt = t
    }

    private func evaluateRate(
        _ state: inout RuleState,
        _ index: Int,
        _ rate: RateOfChange,
        _ facts: Facts,
        _ id: EntityID,
        at t: Int64,
        into events: inout [AlertEvent]
    ) {
        guard let value = state.lastValue else { return }
        state.samples.removeAll { t - $0.t > rate.window }
        // The change against the lowest (rise) or highest (fall) value within the window.
        let change: Double
        if rate.change >= 0 {
            change = ExactDecimal.difference(value, state.samples.lazy.map(\.v).min() ?? value)
        } else {
            change = ExactDecimal.difference(value, state.samples.lazy.map(\.v).max() ?? value)
        }
        let signed = rate.change >= 0 ? change : -change
        if let step = state.machine.evaluate(
            value: signed,
            at: t,
            levels: [abs(rate.change)],
            direction: .above,
            hysteresis: 0,
            raiseAfter: 0,
            clearAfter: rate.clearAfter
        ) {
            var stepped = event(step.from, step.to, rules[index], id, state: state, facts: facts, at: t)
            stepped.value = change
            events.append(stepped)
        }
        state.evaluatedAt = t
    }

    /// The event that takes a rule's alert on `id` from stage `from` to `to`.
    private func event(_ from: Int, _ to: Int, _ rule: AlertRule, _ id: EntityID, state: RuleState?, facts: Facts, at t: Int64) -> AlertEvent {
        let kind: AlertEvent.Kind = from == 0 ? .raised : to == 0 ? .cleared : to > from ? .escalated : .deescalated
        var name: String?, severity: Alert.Severity?, value: Double?, level: Double?
        switch rule.kind {
        case .threshold(let threshold):
            let levels = threshold.stages.map { Self.level($0.level, facts) }
            if to > 0 {
                name = threshold.stages[to - 1].name
                severity = threshold.stages[to - 1].severity
            }
            value = state?.lastValue
            let decided = to > 0 ? to : from
            level = decided > 0 && decided <= levels.count ? levels[decided - 1] : nil
        case .rateOfChange(let rate):
            if to > 0 {
                name = rate.change >= 0 ? "rising" : "falling"
                severity = rate.severity
            }
            value = state?.lastValue
            level = rate.change
        case .stale(_, let stageSeverity):
            if to > 0 { name = "stale"; severity = stageSeverity }
        case .absence(_, let stageSeverity):
            if to > 0 { name = "absent"; severity = stageSeverity }
        }
        var event = AlertEvent(
            kind: kind,
            rule: rule.id,
            entity: id,
            stage: to,
            stageName: name,
            severity: severity,
            value: value,
            level: level,
            at: Timestamp(millisecondsSinceEpoch: t),
            location: facts.location
        )
        event.lastReadingAt = facts.newest.map { Timestamp(millisecondsSinceEpoch: $0) }
        return event
    }

    private static func initial(_ rule: AlertRule) -> RuleState {
        switch rule.kind {
        case .threshold(let threshold): RuleState(machine: StageMachine(stages: threshold.stages.count))
        default: RuleState(machine: StageMachine(stages: 1))
        }
    }

    private static func same(_ a: AlertEvent, _ b: AlertEvent) -> Bool {
        a.kind == b.kind && a.stage == b.stage && a.at == b.at && a.rule == b.rule
    }

    private static func marked(_ event: AlertEvent, late: Bool) -> AlertEvent {
        var event = event
        event.late = late
        return event
    }

    // MARK: Reading the fragment

    /// The newest `observedAt` of an entity's attributes.
    public static func newest(_ entity: NGSIEntity) -> Timestamp? {
        entity.attributes.values.compactMap(\.observedAt).max()
    }

    private static func number(_ entity: NGSIEntity, _ attribute: String) -> Double? {
        guard case .property(let property)? = entity.attributes[attribute], case .number(let value) = property.value,
            property.observedAt != nil
        else { return nil }
        return value
    }

    private static func level(_ level: Threshold.Level, _ facts: Facts) -> Double? {
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
