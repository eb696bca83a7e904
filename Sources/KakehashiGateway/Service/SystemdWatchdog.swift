import Logging
import ServiceLifecycle

/// Tells systemd the gateway started (`READY=1`, for `Type=notify`) and feeds its watchdog
/// (`WATCHDOG=1`, at half of `WatchdogSec`) only while every source, the committer and the uplink
/// beat: a loop that hangs stops the pings and systemd restarts the gateway. A source that is down
/// and being retried still beats (it makes progress: it retries); one that finished is left out.
/// `STOPPING=1` on shutdown. Does nothing outside systemd.
public final class SystemdWatchdog: Service, Sendable {
    let notifier: SystemdNotifier
    let health: SourceHealth
    let logger: Logger
    let status: @Sendable () -> String

    public init(notifier: SystemdNotifier, health: SourceHealth, logger: Logger, status: @escaping @Sendable () -> String) {
        self.notifier = notifier
        self.health = health
        self.logger = logger
        self.status = status
    }

    /// How long a part may go without beating before the watchdog is no longer fed.
    public static func stallLimit(watchdogInterval: Duration) -> Duration {
        max(watchdogInterval / 2, .seconds(2))
    }

    public func run() async throws {
        guard notifier.socketPath != nil else { return }
        notifier.notify("READY=1\nSTATUS=\(status())")
        guard let interval = notifier.watchdogInterval else {
            try? await gracefulShutdown()
            notifier.notify("STOPPING=1")
            return
        }
        let limit = Self.stallLimit(watchdogInterval: interval)
        var stalledBefore = [String]()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let stalled = health.stalled(limit: limit)
            if stalled.isEmpty {
                notifier.notify("WATCHDOG=1\nSTATUS=\(status())")
            } else if stalled != stalledBefore {
                logger.critical(
                    "not feeding the systemd watchdog: no progress from \(stalled.joined(separator: ", ")) for \(limit); systemd will restart the gateway"
                )
            }
            stalledBefore = stalled
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval / 4) }
        }
        notifier.notify("STOPPING=1")
    }
}
