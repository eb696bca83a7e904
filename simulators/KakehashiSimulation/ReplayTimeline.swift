import KakehashiModel

/// Puts readings in the order and at the times a replay sends them: a stable sort by time (so one
/// sensor's readings keep their order), an optional window `[from, to)`, and an optional shift
/// that moves every time by the same whole number of seconds.
public struct ReplayTimeline: Sendable {
    /// Where the replay's times go.
    public enum Shift: Sendable, Hashable {
        /// The trace's own times.
        case none
        /// Every time moved so that the last reading is at this instant (`--shift-to-now`).
        case endAt(Timestamp)
    }

    /// The readings, in sending order, with their times shifted.
    public let readings: [SimReading]
    /// Readings outside the window, left out.
    public let outsideWindow: Int
    /// Milliseconds added to every time (a whole number of seconds).
    public let shiftMilliseconds: Int64

    public init(_ readings: [SimReading], from: Timestamp? = nil, to: Timestamp? = nil, shift: Shift = .none) {
        let inWindow = readings.enumerated().filter { _, reading in
            (from.map { reading.time >= $0 } ?? true) && (to.map { reading.time < $0 } ?? true)
        }
        outsideWindow = readings.count - inWindow.count
        var sorted = inWindow.sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }.map(\.element)
        switch shift {
        case .none:
            shiftMilliseconds = 0
        case .endAt(let end):
            let last = sorted.last?.time.millisecondsSinceEpoch ?? end.millisecondsSinceEpoch
            let delta = end.millisecondsSinceEpoch - last
            shiftMilliseconds = delta >= 0 ? delta / 1000 * 1000 : -((-delta + 999) / 1000 * 1000)
        }
        if shiftMilliseconds != 0 {
            for index in sorted.indices { sorted[index].time = sorted[index].time.advanced(byMilliseconds: shiftMilliseconds) }
        }
        self.readings = sorted
    }

    /// When each reading is due after the replay starts, in milliseconds at `speed` (nil: as fast
    /// as possible, all due at once).
    public func dueMilliseconds(at index: Int, speed: Double?) -> Double {
        guard let speed, let first = readings.first else { return 0 }
        return Double(readings[index].time.millisecondsSinceEpoch - first.time.millisecondsSinceEpoch) / speed
    }
}

/// Readings of one sensor at one time appear once: archives made of overlapping snapshots repeat
/// them. Returns the readings kept, in their order, and how many repeats were dropped.
public func droppingRepeats(_ readings: [SimReading]) -> (kept: [SimReading], repeats: Int) {
    struct Key: Hashable { let sensor: String; let time: Timestamp }
    var seen = Set<Key>()
    var kept = [SimReading]()
    kept.reserveCapacity(readings.count)
    for reading in readings where seen.insert(Key(sensor: reading.sensor, time: reading.time)).inserted {
        kept.append(reading)
    }
    return (kept, readings.count - kept.count)
}
