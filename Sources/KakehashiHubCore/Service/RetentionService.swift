import Logging
import ServiceLifecycle

/// Applies the retention policy now and then every `interval`.
public struct RetentionService: Service {
    let store: any ObservationStore
    let policy: RetentionPolicy
    let interval: Duration
    let now: WallClock
    let logger: Logger

    /// Creates the service.
    public init(store: any ObservationStore, policy: RetentionPolicy, interval: Duration, now: @escaping WallClock, logger: Logger) {
        self.store = store
        self.policy = policy
        self.interval = interval
        self.now = now
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let result = try await store.applyRetention(policy, now: now())
                    if result.observations + result.rollups > 0 {
                        logger.info("retention", metadata: ["observations": "\(result.observations)", "rollups": "\(result.rollups)"])
                    }
                } catch {
                    logger.error("retention failed", metadata: ["error": "\(error)"])
                }
                do { try await Task.sleep(for: interval) } catch { return }
            }
        }
    }
}

/// Runs the store's housekeeping (``ObservationStore/maintain()``) every `interval`.
public struct MaintenanceService: Service {
    let store: any ObservationStore
    let interval: Duration
    let logger: Logger

    /// Creates the service.
    public init(store: any ObservationStore, interval: Duration = .milliseconds(250), logger: Logger) {
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var failing = false
            while !Task.isCancelled {
                do {
                    try await store.maintain()
                    failing = false
                } catch {
                    // Logged once per failing streak; the writer's own checkpoints are the backstop.
                    if !failing { logger.error("storage housekeeping failed", metadata: ["error": "\(error)"]) }
                    failing = true
                }
                do { try await Task.sleep(for: interval) } catch { return }
            }
        }
    }
}
