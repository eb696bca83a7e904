import KakehashiModel
import Synchronization

/// What each part of the gateway is doing now: every source and the uplink report their state
/// (up, down since when and why, finished) and beat while their loops turn. The status message,
/// the metrics and the systemd watchdog read it.
///
/// ```swift
/// health.register("edge")
/// health.up("edge")                                  // connected, reading
/// health.down("edge", reason: "edge broker refused the credentials")
/// health.beat("edge")                                // the source's loop is turning
/// ```
public final class SourceHealth: Sendable {
    public enum State: String, Sendable, Hashable {
        /// Started, not yet receiving.
        case starting
        /// Receiving (or ready to).
        case up
        /// Not receiving; retrying.
        case down
        /// Done for good (a replay reached the end of its capture).
        case finished
    }

    /// One part's state.
    public struct Entry: Sendable, Hashable {
        public var state: State
        /// When it entered `state`.
        public var since: Timestamp
        /// Why it is down.
        public var reason: String?
        /// The last time its loop turned.
        var beat: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let clock: @Sendable () -> Timestamp

    public init(clock: @escaping @Sendable () -> Timestamp) {
        self.clock = clock
    }

    /// Adds a part, starting.
    public func register(_ name: String) {
        let now = clock()
        entries.withLock { $0[name] = Entry(state: .starting, since: now, reason: nil, beat: .now) }
    }

    /// Records that `name`'s loop turned.
    public func beat(_ name: String) {
        entries.withLock { $0[name]?.beat = .now }
    }

    public func up(_ name: String) { set(name, .up, reason: nil) }
    public func down(_ name: String, reason: String) { set(name, .down, reason: reason) }
    public func finished(_ name: String) { set(name, .finished, reason: nil) }

    /// Moves `name` to `state` (its `since` changes only when the state does); returns whether it changed.
    @discardableResult
    public func set(_ name: String, _ state: State, reason: String?) -> Bool {
        let now = clock()
        return entries.withLock { entries in
            var entry = entries[name] ?? Entry(state: state, since: now, reason: reason, beat: .now)
            let changed = entry.state != state || entries[name] == nil
            if changed { entry.since = now }
            entry.state = state
            entry.reason = reason
            entry.beat = .now
            entries[name] = entry
            return changed
        }
    }

    /// Every part by name.
    public var snapshot: [String: Entry] { entries.withLock { $0 } }

    /// The parts whose loops have not turned within `limit` (finished ones are left out): while
    /// this is empty the gateway makes progress and the watchdog is fed.
    public func stalled(limit: Duration, now: ContinuousClock.Instant = .now) -> [String] {
        entries.withLock { entries in
            entries.filter { $0.value.state != .finished && now - $0.value.beat > limit }.map(\.key).sorted()
        }
    }
}
