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
