import KakehashiModel

/// Decides when a scan has gone silent and must be restarted: no advertisement for `timeout`,
/// and at most one restart per `timeout`. (BlueZ scans are known to stop delivering silently.)
public struct ScanWatchdog: Sendable, Hashable {
    /// Silence after which the scan is restarted, in milliseconds.
    public let timeoutMilliseconds: Int64
    private var lastActivity: Timestamp?
    /// Restarts so far.
    public private(set) var restarts = 0

    /// Creates a watchdog.
    public init(timeout: Duration) {
        timeoutMilliseconds = max(1, timeout.milliseconds)
    }

    /// An advertisement arrived at `time`.
    public mutating func advertisementReceived(at time: Timestamp) {
        lastActivity = max(time, lastActivity ?? time)
    }

    /// Whether the scan must be restarted now; when it returns true the restart counts as activity.
    public mutating func shouldRestart(now: Timestamp) -> Bool {
        guard let last = lastActivity else {
            lastActivity = now
            return false
        }
        guard now.millisecondsSinceEpoch - last.millisecondsSinceEpoch >= timeoutMilliseconds else { return false }
        lastActivity = now
        restarts += 1
        return true
    }
}
