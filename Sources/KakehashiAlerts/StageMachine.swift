import KakehashiModel

/// The stage of one alert (rule × entity) against ordered levels, with hysteresis and minimum
/// durations. Pure: the caller passes the value, its time and the levels.
///
/// For each stage it remembers since when the value has been past the level (`holding`) and
/// since when it has been back past the clear level, the level less the hysteresis (`clearing`).
/// The alert enters the most severe stage whose condition has held `raiseAfter`; it leaves its
/// stage once that stage's clear condition has held `clearAfter`, for the most severe lower stage
/// not itself cleared (or none).
struct StageMachine: Sendable, Hashable {
    /// 0 = no alert; k = the k-th stage.
    private(set) var current = 0
    private var holding: [Timestamp?]
    private var clearing: [Timestamp?]

    init(stages: Int) {
        holding = Array(repeating: nil, count: stages)
        clearing = Array(repeating: nil, count: stages)
    }

    /// Takes `value` at `at` against `levels` (nil: the stage does not apply); returns the stage
    /// change, if any.
    mutating func evaluate(value: Double, at: Timestamp, levels: [Double?], direction: Threshold.Direction,
                           hysteresis: Double, raiseAfter: Int64, clearAfter: Int64) -> (from: Int, to: Int)? {
        let t = at.millisecondsSinceEpoch
        for (index, level) in levels.enumerated() {
            guard let level else {
                holding[index] = nil
                clearing[index] = nil
                continue
            }
            let past = direction == .above ? value >= level : value <= level
            let back = direction == .above ? value < level - hysteresis : value > level + hysteresis
            holding[index] = past ? (holding[index] ?? at) : nil
            clearing[index] = back ? (clearing[index] ?? at) : nil
        }
        func held(_ since: Timestamp?, _ duration: Int64) -> Bool {
            guard let since else { return false }
            return t - since.millisecondsSinceEpoch >= duration
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

    /// A machine already in `stage` (an alert restored from storage): it leaves that stage only
    /// once the value has been back past the clear level for the clear duration.
    init(stages: Int, current stage: Int) {
        self.init(stages: stages)
        current = min(max(0, stage), stages)
    }

    /// Whether a minimum duration is running (a stage waiting to be entered or left): only then
    /// can the clock alone change the stage.
    var hasPendingTimer: Bool {
        if current > 0 && clearing[current - 1] != nil { return true }
        for index in holding.indices where index + 1 > current && holding[index] != nil { return true }
        return false
    }

    /// Ends the alert (the stage is forgotten, as after a clear).
    mutating func reset() {
        current = 0
        for index in holding.indices {
            holding[index] = nil
            clearing[index] = nil
        }
    }
}
