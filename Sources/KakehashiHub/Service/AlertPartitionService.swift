import Foundation
import KakehashiHubCore
import KakehashiHubPostgres
import KakehashiModel
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Over PostgreSQL, the share of the alert rules this hub runs: it renews its partition leases
/// every ``PartitionLeases/ttl``/3 (taking partitions of hubs that stopped, giving back to hubs
/// that came), hands what it holds to the alert service, and evaluates the stored entities
/// every storing hub left in `alert_inbox` for those partitions, oldest first, deleting them
/// once their events are stored. If it cannot renew (the database is out of reach), it stops
/// evaluating when its leases would have expired, as the other hubs will then take them. At
/// shutdown it gives its leases back so that others take them at once.
struct AlertPartitionService: Service {
    let leases: PartitionLeases
    let alerts: AlertService
    let metrics: PartitionMetrics
    let logger: Logger
    /// Inbox rows read at once.
    var chunk = 2000

    func run() async throws {
        let state = Held()
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                // Renewing never waits for evaluation (a takeover may take a while).
                group.addTask { await renew(state) }
                group.addTask { await work(state) }
                await group.waitForAll()
            }
        }
        do {
            try await leases.releaseAll()
            logger.info("alert partitions given back", metadata: ["instance": "\(leases.instance)"])
        } catch {
            logger.warning("alert partitions not given back; others take them when they expire", metadata: ["error": "\(error)"])
        }
    }

    /// What the last round gave, and until when it is good.
    final class Held: Sendable {
        let value = Mutex<(holding: PartitionLeases.Holding, validUntil: ContinuousClock.Instant)>(([:], .now))
    }

    private func renew(_ state: Held) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                let started = ContinuousClock.now
                let holding = try await leases.round()
                state.value.withLock { $0 = (holding, started + leases.ttl) }
                failures = 0
            } catch {
                failures += 1
                logger.warning("renewing alert partition leases failed", metadata: ["error": "\(error)", "attempt": "\(failures)"])
            }
            try? await Task.sleep(for: leases.ttl / 3)
        }
    }

    private func work(_ state: Held) async {
        var applied = PartitionLeases.Holding()
        while !Task.isCancelled {
            // What is held now: nothing once the leases were not renewed in time (others may hold them).
            let holding = state.value.withLock { $0.validUntil > .now ? $0.holding : [:] }
            if holding != applied {
                await alerts.hold(holding)
                // What was taken: a partition whose state could not be read back is tried again.
                applied = await alerts.heldPartitions
                metrics.held.record(applied.count)
                if applied != holding { try? await Task.sleep(for: .seconds(1)) }
            }
            var evaluated = 0
            if !holding.isEmpty {
                do {
                    evaluated = try await alerts.evaluatePending(limit: chunk)
                } catch {
                    logger.warning("reading the entities waiting for the alert rules failed", metadata: ["error": "\(PostgresStore.describe(error))"])
                }
            }
            if evaluated < chunk {
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}

/// The partition service's metrics.
struct PartitionMetrics: Sendable {
    /// Partitions of the alert rules this hub holds.
    let held: Gauge

    init(factory: any MetricsFactory) {
        held = Gauge(label: "kakehashi_hub_alert_partitions_held", factory: factory)
    }
}
