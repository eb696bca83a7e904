import KakehashiModel

/// Follows BLE tags (by pseudonym) through fixed time windows: per-tag sightings per window
/// (count, strongest and smoothed RSSI), presence with enter/leave events decided k-of-n, and an
/// anonymous count of distinct tags per window. Pure and driven by the advertisements' own time,
/// so a replayed capture gives the same events as the live scan did.
///
/// ```swift
/// var tracker = TagTracker(configuration: .init(window: .seconds(10), presenceWindows: 6, missedToLeave: 4))
/// tracker.observe(pseudonym: "3f9c0a7d52e1b864", rssi: -71, at: t)
/// let output = tracker.advance(to: now)   // closed windows: summaries, enter/leave events, counts
/// ```
public struct TagTracker: Sendable {
    /// How tags are followed.
    public struct Configuration: Sendable, Hashable {
        /// Which tags are followed.
        public enum Mode: Sendable, Hashable {
            /// Every tag heard.
            case all
            /// Only registered tags (pseudonyms); others are counted as ignored.
            case allowList(Set<String>)
            /// No per-tag output at all: only the number of distinct tags per window (foot traffic).
            case anonymousCounting
        }

        /// Window length in milliseconds (windows start at multiples of it since the epoch).
        public var windowMilliseconds: Int64
        /// n: how many recent windows presence looks at.
        public var presenceWindows: Int
        /// k: a present tag leaves when it was missed in at least k of the last n windows.
        public var missedToLeave: Int
        /// Weight of the newest sighting in the smoothed RSSI (exponential moving average).
        public var rssiSmoothing: Double
        /// Which tags are followed.
        public var mode: Mode

        /// Creates a configuration; `missedToLeave` is clamped to 1...`presenceWindows`.
        public init(
            window: Duration = .seconds(10),
            presenceWindows: Int = 6,
            missedToLeave: Int = 4,
            rssiSmoothing: Double = 0.3,
            mode: Mode = .all
        ) {
            let ms = window.milliseconds
            windowMilliseconds = max(1, ms)
            self.presenceWindows = max(1, presenceWindows)
            self.missedToLeave = min(max(1, missedToLeave), max(1, presenceWindows))
            self.rssiSmoothing = min(1, max(0.01, rssiSmoothing))
            self.mode = mode
        }
    }

    /// One tag's sightings in one window.
    public struct Sightings: Sendable, Hashable {
        public let pseudonym: String
        public let windowStart: Timestamp
        public let count: Int
        /// Strongest RSSI heard in the window, dBm.
        public let maxRSSI: Int?
        /// Exponentially smoothed RSSI after the window, dBm.
        public let smoothedRSSI: Double?
    }

    /// A change of presence.
    public enum PresenceEvent: Sendable, Hashable {
        /// First heard (or heard again after leaving) in the window starting at `at`.
        case entered(pseudonym: String, at: Timestamp)
        /// Missed in k of the last n windows; `lastSeen` is its last advertisement.
        case left(pseudonym: String, at: Timestamp, lastSeen: Timestamp)
    }

    /// What closing windows produced.
    public struct Output: Sendable, Hashable {
        public var sightings: [Sightings] = []
        public var events: [PresenceEvent] = []
        /// Distinct tags per closed window: (window start, count).
        public var counts: [DistinctCount] = []
        /// Advertisements in the closed windows ignored because the tag is not allow-listed.
        public var ignored = 0
    }

    /// The number of distinct tags heard in one window.
    public struct DistinctCount: Sendable, Hashable {
        public let windowStart: Timestamp
        public let distinct: Int
    }

    private struct TagState: Sendable {
        var present = false
        var recent: [Bool] = []  // newest last, at most n windows
        var lastSeen: Timestamp
        var smoothed: Double?
    }

    /// The configuration.
    public let configuration: Configuration
    private var currentWindow: Int64?
    private var window: [String: (count: Int, max: Int?, rssi: [Int])] = [:]
    private var tags: [String: TagState] = [:]
    private var ignored = 0

    /// Creates a tracker.
    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Records one advertisement of `pseudonym`; returns what closing earlier windows produced
    /// (advertisements arrive in time order; a late one is counted in the current window).
    @discardableResult
    public mutating func observe(pseudonym: String, rssi: Int?, at time: Timestamp) -> Output {
        let output = advance(to: time)
        if currentWindow == nil { currentWindow = windowIndex(time) }
        if case .allowList(let allowed) = configuration.mode, !allowed.contains(pseudonym) {
            ignored += 1
            return output
        }
        var entry = window[pseudonym] ?? (0, nil, [])
        entry.count += 1
        if let rssi {
            entry.max = max(entry.max ?? rssi, rssi)
            entry.rssi.append(rssi)
        }
        window[pseudonym] = entry
        if configuration.mode != .anonymousCounting {
            tags[pseudonym, default: TagState(lastSeen: time)].lastSeen = max(time, tags[pseudonym]?.lastSeen ?? time)
        }
        return output
    }

    /// Closes every window that ended at or before `now` (the clock: the newest advertisement's
    /// time, or a timer when no advertisement arrives) and returns what they produced.
    public mutating func advance(to now: Timestamp) -> Output {
        var output = Output()
        guard var index = currentWindow else { return output }
        let target = windowIndex(now)
        while index < target {
            close(index, into: &output)
            index += 1
            // Skip long silences in one step once every tag has had its chance to leave (counting
            // mode reports every window, zeros included).
            if configuration.mode != .anonymousCounting && window.isEmpty && !tags.values.contains(where: \.present) && index < target {
                index = target
            }
        }
        currentWindow = index
        return output
    }

    private func windowIndex(_ time: Timestamp) -> Int64 {
        let w = configuration.windowMilliseconds
        let ms = time.millisecondsSinceEpoch
        return ms >= 0 ? ms / w : (ms - w + 1) / w
    }

    private mutating func close(_ index: Int64, into output: inout Output) {
        let start = Timestamp(millisecondsSinceEpoch: index * configuration.windowMilliseconds)
        output.counts.append(DistinctCount(windowStart: start, distinct: window.count))
        output.ignored += ignored
        ignored = 0
        if configuration.mode != .anonymousCounting {
            for (pseudonym, seen) in window.sorted(by: { $0.key < $1.key }) {
                var state = tags[pseudonym] ?? TagState(lastSeen: start)
                for rssi in seen.rssi {
                    state.smoothed = state.smoothed.map { $0 + configuration.rssiSmoothing * (Double(rssi) - $0) } ?? Double(rssi)
                }
                tags[pseudonym] = state
                output.sightings.append(
                    Sightings(
                        pseudonym: pseudonym,
                        windowStart: start,
                        count: seen.count,
                        maxRSSI: seen.max,
                        smoothedRSSI: state.smoothed.map { ($0 * 10).rounded() / 10 }
                    )
                )
            }
            let end = Timestamp(millisecondsSinceEpoch: (index + 1) * configuration.windowMilliseconds)
            for pseudonym in tags.keys.sorted() {
                guard var state = tags[pseudonym] else { continue }
                let heard = window[pseudonym] != nil
                state.recent.append(heard)
                if state.recent.count > configuration.presenceWindows { state.recent.removeFirst() }
                if heard && !state.present {
                    state.present = true
                    state.recent = [true]
                    output.events.append(.entered(pseudonym: pseudonym, at: start))
                } else if state.present && state.recent.filter({ !$0 }).count >= configuration.missedToLeave {
                    state.present = false
                    output.events.append(.left(pseudonym: pseudonym, at: end, lastSeen: state.lastSeen))
                }
                if !state.present && !heard && state.recent.allSatisfy({ !$0 }) && state.recent.count >= configuration.presenceWindows {
                    tags[pseudonym] = nil  // long gone: forget it
                } else {
                    tags[pseudonym] = state
                }
            }
        }
        window.removeAll(keepingCapacity: true)
    }
}
