import FoundationEssentials
import KakehashiModel

/// The stage of one alert (rule × entity) against ordered levels, with hysteresis and minimum
/// durations. Pure: the caller passes the value, its time and the levels.
///
/// For each stage it remembers since when the value has been past the level (`holding`) and
/// since when it has been back past the clear level, the level less the hysteresis (`clearing`).
/// The alert enters the most severe stage whose condition has held `raiseAfter`; it leaves its
/// stage once that stage's clear condition has held `clearAfter`, for the most severe lower stage
/// not itself cleared (or none). Conditions are decided in decimal: a value exactly at the level
/// is past it, and a value exactly `hysteresis` back from the level is not yet back (it must be
/// strictly beyond the clear level).
struct StageMachine: Sendable, Hashable {
    /// 0 = no alert; k = the k-th stage.
    private(set) var current = 0
    /// Since when (ms) each stage's condition has held.
    private var holding: [Int64?]
    /// Since when (ms) each stage's clear condition has held.
    private var clearing: [Int64?]
    /// The clear levels of the last levels seen (level ∓ hysteresis, computed in decimal).
    private var clearLevels: [Double?] = []
    private var clearLevelsFor: [Double?] = []
    private var clearLevelsHysteresis: Double = .nan

    init(stages: Int) {
        holding = Array(repeating: nil, count: stages)
        clearing = Array(repeating: nil, count: stages)
    }

    /// A machine already in `stage` (an alert restored from storage): it leaves that stage only
    /// once the value has been back past the clear level for the clear duration.
    init(stages: Int, current stage: Int) {
        self.init(stages: stages)
        current = min(max(0, stage), stages)
    }

    /// Takes `value` at `at` (ms) against `levels` (nil: the stage does not apply); returns the
    /// stage change, if any. Called again with the same value at a later time, it decides the
    /// minimum durations that have run out since.
    mutating func evaluate(
        value: Double,
        at t: Int64,
        levels: [Double?],
        direction: Threshold.Direction,
        hysteresis: Double,
        raiseAfter: Int64,
        clearAfter: Int64
    ) -> (from: Int, to: Int)? {
        if levels != clearLevelsFor || hysteresis != clearLevelsHysteresis {
            clearLevels = levels.map { level in level.map { ExactDecimal.offset($0, by: direction == .above ? -hysteresis : hysteresis) } }
            clearLevelsFor = levels
            clearLevelsHysteresis = hysteresis
        }
        for (index, level) in levels.enumerated() {
            guard let level, let clear = clearLevels[index] else {
                holding[index] = nil
                clearing[index] = nil
                continue
            }
            // Both sides are the doubles nearest to decimals, so these comparisons are the decimal ones.
            let past = direction == .above ? value >= level : value <= level
            let back = direction == .above ? value < clear : value > clear
            holding[index] = past ? (holding[index] ?? t) : nil
            clearing[index] = back ? (clearing[index] ?? t) : nil
        }
        func held(_ since: Int64?, _ duration: Int64) -> Bool {
            guard let since else { return false }
            return t - since >= duration
        }
        let before = current
        // Enter the most severe stage whose condition held long enough.
        if let target = (0..<levels.count).last(where: { held(holding[$0], raiseAfter) }), target + 1 > current {
            current = target + 1
        } else if current > 0, held(clearing[current - 1], clearAfter) {
            // Leave for the most severe lower stage that applies and is not cleared itself.
            let lower = (0..<(current - 1)).last { levels[$0] != nil && !held(clearing[$0], clearAfter) }
            current = lower.map { $0 + 1 } ?? 0
        }
        return current == before ? nil : (before, current)
    }

    /// The earliest instant after `after` (ms) at which a minimum duration runs out with the value
    /// unchanged: a stage waiting to be entered or left. Only then can time alone change the stage.
    func nextDue(after: Int64, raiseAfter: Int64, clearAfter: Int64) -> Int64? {
        var due: Int64?
        func consider(_ instant: Int64) { if instant > after, due.map({ instant < $0 }) ?? true { due = instant } }
        if current > 0, let since = clearing[current - 1] { consider(since + clearAfter) }
        for index in holding.indices where index + 1 > current {
            if let since = holding[index] { consider(since + raiseAfter) }
        }
        return due
    }
}

/// Arithmetic on the decimals that doubles stand for (the shortest decimal that reads back as
/// the double, which is what a sensor or a configuration wrote).
enum ExactDecimal {
    /// `value + offset` computed in decimal, as the nearest double.
    static func offset(_ value: Double, by offset: Double) -> Double {
        if offset == 0 { return value }
        guard let a = Decimal(string: value.description), let b = Decimal(string: offset.description) else { return value + offset }
        return Double((a + b).description) ?? value + offset
    }

    /// `a − b` computed in decimal, as the nearest double.
    static func difference(_ a: Double, _ b: Double) -> Double { offset(a, by: -b) }
}
