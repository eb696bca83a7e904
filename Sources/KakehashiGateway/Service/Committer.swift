import KakehashiModel
import Logging
import ServiceLifecycle
import Synchronization

/// Collects readings from the sources and commits them to the outbox in batches: every
/// `commitInterval` (5 ms by default, so a reading waits that long plus one sync), or as soon as
/// `commitBatch` wait. Sources wait when too many are pending (back-pressure reaches the edge
/// broker). On graceful shutdown it commits what is left.
public final class Committer: Service, Sendable {
    struct State {
        var pending: [PendingReading] = []
        var waiters: [CheckedContinuation<Void, Never>] = []
        var stopping = false
    }

    /// Commits failing in a row (a full disk): logged when it starts, then once a minute with
    /// counts, and when it ends, never once per attempt.
    struct Failing {
        var since: ContinuousClock.Instant
        var attempts = 0
        var lastLogged: ContinuousClock.Instant
        var lastError = ""
    }

    let outbox: Outbox
    let configuration: OutboxConfiguration
    let metrics: GatewayMetrics
    let logger: Logger
    let state = Mutex(State())
    let failing = Mutex<Failing?>(nil)
    let wake = Signal()
    /// Called after each commit that stored readings (the uplink listens).
    let onCommit: @Sendable () -> Void
    /// Batches waiting for the hub's confirmation (from the uplink), for the metrics.
    let unconfirmed: @Sendable () -> Int
    /// Where the committer beats (as `committer`) while its loop turns, for the watchdog.
    let health: SourceHealth

    public init(
        outbox: Outbox,
        metrics: GatewayMetrics,
        logger: Logger,
        onCommit: @escaping @Sendable () -> Void,
        unconfirmed: @escaping @Sendable () -> Int = { 0 }
    ) {
        self.unconfirmed = unconfirmed
        self.health = metrics.health
        metrics.health.register("committer")
        self.outbox = outbox
        self.configuration = outbox.configuration
        self.metrics = metrics
        self.logger = logger
        self.onCommit = onCommit
    }

    var highWater: Int { configuration.commitBatch * 4 }

    /// Queues readings; suspends while too many wait for their commit, and while commits fail (a
    /// full disk): then the sources stop taking messages and the edge broker keeps them.
    public func submit(_ readings: [PendingReading]) async {
        while true {
            let holding = failing.withLock { $0 != nil }
            let admitted: Bool = state.withLock { state in
                if (state.pending.count < highWater && !holding) || state.stopping {
                    state.pending.append(contentsOf: readings)
                    return true
                }
                return false
            }
            if admitted { break }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if (state.pending.count < highWater && !holding) || state.stopping { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        if state.withLock({ $0.pending.count }) >= configuration.commitBatch { wake.signal() }
    }

    /// Keeps a rejected message (stored with the next commit).
    public func reject(_ letter: DeadLetter) {
        outbox.recordDeadLetter(letter)
    }

    public func run() async throws {
        health.up("committer")
        let stop: @Sendable () -> Void = {
            self.state.withLock { $0.stopping = true }
            self.wake.signal()
        }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                while !state.withLock({ $0.stopping }) {
                    // Wait for a full batch or the interval, whichever first.
                    await wake.wait(timeout: configuration.commitInterval)
                    commitPending()
                    health.beat("committer")
                }
                commitPending()
            } onGracefulShutdown: {
                stop()
            }
        } onCancel: {
            stop()
        }
        // Anything submitted during shutdown.
        commitPending()
        logger.info("committer stopped", metadata: ["outbox_depth": "\(outbox.depth)"])
    }

    private func failed(_ error: String, waiting: Int) {
        let now = ContinuousClock.now
        let log = failing.withLock { failing -> (first: Bool, attempts: Int, since: Duration)? in
            if failing == nil {
                failing = Failing(since: now, lastLogged: now); failing!.attempts = 1; failing!.lastError = error; return (true, 1, .zero)
            }
            failing!.attempts += 1
            failing!.lastError = error
            guard now - failing!.lastLogged >= .seconds(60) else { return nil }
            failing!.lastLogged = now
            return (false, failing!.attempts, now - failing!.since)
        }
        metrics.error(error)
        guard let log else { return }
        let message =
            log.first
            ? "the outbox cannot commit; readings wait in memory and the sources are held (the edge broker keeps the rest): \(error)"
            : "the outbox still cannot commit: \(error)"
        logger.error(
            "\(message)",
            metadata: [
                "failed_attempts": "\(log.attempts)", "for": "\(log.since)", "readings_waiting": "\(waiting)",
                "outbox_depth": "\(outbox.depth)", "free_bytes": "\(Outbox.freeBytes(near: configuration.path).map(String.init) ?? "?")",
            ]
        )
    }

    private func recovered() {
        guard
            let ended = failing.withLock({ failing -> Failing? in
                defer { failing = nil }; return failing
            })
        else { return }
        logger.notice(
            "the outbox commits again",
            metadata: [
                "failed_attempts": "\(ended.attempts)", "for": "\(ContinuousClock.now - ended.since)", "last_error": "\(ended.lastError)",
            ]
        )
        metrics.clearError()
    }

    /// Commits everything pending now.
    func commitPending() {
        let (batch, waiters) = state.withLock { state in
            defer {
                state.pending.removeAll(keepingCapacity: true)
                state.waiters.removeAll()
            }
            return (state.pending, state.waiters)
        }
        guard !batch.isEmpty || outbox.hasPendingWork else {
            for waiter in waiters { waiter.resume() }
            return
        }
        var start = 0
        while true {
            let end = min(batch.count, start + max(configuration.commitBatch, 1))
            do {
                let result = try outbox.commit(Array(batch[start..<end]))
                metrics.committed(end - start)
                metrics.acknowledged(result.acknowledged)
                if !result.dropped.isEmpty {
                    metrics.dropped(result.dropped)
                    logger.warning(
                        "outbox quota reached: dropped the oldest lowest-priority readings",
                        metadata: ["dropped": "\(result.dropped)"]
                    )
                }
            } catch {
                // The readings stay pending (not lost): put them back and try again next round.
                // While they wait, sources are held (see `submit`): the edge broker keeps the rest.
                state.withLock { $0.pending.insert(contentsOf: batch[start...], at: 0) }
                failed(error.description, waiting: batch.count - start)
                break
            }
            start = end
            if start >= batch.count {
                recovered()
                break
            }
        }
        metrics.outbox(depth: outbox.depth, bytes: outbox.bytes, deadLetters: outbox.deadLetterCount)
        metrics.waiting(oldestCommittedAt: outbox.oldestCommittedAt, unconfirmedBatches: unconfirmed())
        for waiter in waiters { waiter.resume() }
        if !batch.isEmpty { onCommit() }
    }
}
