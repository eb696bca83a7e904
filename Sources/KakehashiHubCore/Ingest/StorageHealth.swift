import KakehashiModel
import Synchronization

/// Whether storage is failing to take batches now. While it is, the ingest path holds each batch
/// unacknowledged and retries it (the broker keeps it and the rest of the queue), and `/healthz`
/// answers 503 with the reason.
public final class StorageHealth: Sendable {
    /// A failure going on.
    public struct Failing: Sendable, Hashable {
        /// Since when.
        public var since: Timestamp
        /// The latest error.
        public var reason: String
        /// Attempts that failed since then.
        public var attempts: Int
    }

    private struct State {
        var failing: Failing?
        var lastLogged: Timestamp?
    }

    private let state = Mutex(State())

    public init() {}

    /// The failure going on, if any.
    public var failing: Failing? { state.withLock { $0.failing } }

    /// Records a failed attempt at `now`; true when it should be logged (the first, then at most
    /// once a minute).
    func failed(_ reason: String, at now: Timestamp) -> Bool {
        state.withLock { state in
            var failing = state.failing ?? Failing(since: now, reason: reason, attempts: 0)
            failing.reason = reason
            failing.attempts += 1
            state.failing = failing
            if let last = state.lastLogged, now.millisecondsSinceEpoch - last.millisecondsSinceEpoch < 60_000 { return false }
            state.lastLogged = now
            return true
        }
    }

    /// Records a success; returns the failure it ends, if one was going on.
    func succeeded() -> Failing? {
        state.withLock { state in
            defer { state.failing = nil; state.lastLogged = nil }
            return state.failing
        }
    }
}
