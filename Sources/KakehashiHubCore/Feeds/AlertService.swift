import KakehashiAlerts
import KakehashiModel
import Logging
import ServiceLifecycle

/// Runs the alert rules on what the hub stores and on the clock, keeps the alerts and their
/// history, and hands each event to the feeds (SSE/WebSocket clients, MQTT).
///
/// Work is done one step at a time (each step waits for the one before): evaluating a batch,
/// storing its events (which gives them their ids), then publishing them. So ids follow the
/// engine's order and clients see them in id order. The engine decides on the readings' own
/// times, each entity on its own clock; the wall clock moves only silent entities on (after
/// `alerts.clock_grace`). A gateway's batches are evaluated in the order of their sequence
/// numbers, whatever order storage finished them in (several ingest sessions store at once): a
/// batch after a gap waits up to `alerts.reorder_wait` for the missing one. At the first step the
/// engine takes back the active alerts from storage and looks at the latest state of every watched
/// entity, so a restart neither raises an active alert again nor misses one.
public actor AlertService {
    let configuration: AlertsConfiguration
    let store: any ObservationStore & AlertStore
    /// Live clients.
    public nonisolated let feed: AlertFeed
    /// Stored batches for `/feeds/entities` (federation links of other hubs).
    public nonisolated let entityFeed: EntityFeed
    let metrics: HubMetrics
    let logger: Logger
    let now: WallClock
    /// Told of every Alert entity stored (NGSI-LD subscriptions).
    let entitiesStored: @Sendable (Tenant, [NGSIEntity]) async -> Void
    private var engine: AlertEngine
    private var started = false
    /// Per gateway: the next sequence number expected, and batches waiting for a missing one.
    private var nextSequence: [Source: UInt64] = [:]
    private var waiting: [Source: [Waiting]] = [:]
    private var countedLate = 0, countedTooLate = 0

    private struct Source: Hashable { let tenant: Tenant, gateway: GatewayID }
    private struct Waiting { let lowest: UInt64, highest: UInt64, entities: [NGSIEntity], arrived: Timestamp, since: ContinuousClock.Instant }
    private var tail: Task<Void, Never>?

    /// Creates the service (``AlertMQTTPublisher`` publishes its events to MQTT).
    public init(
        configuration: AlertsConfiguration,
        store: any ObservationStore & AlertStore,
        metrics: HubMetrics,
        logger: Logger,
        now: @escaping WallClock,
        entitiesStored: @escaping @Sendable (Tenant, [NGSIEntity]) async -> Void = { _, _ in }
    ) {
        self.configuration = configuration
        self.store = store
        self.entitiesStored = entitiesStored
        self.feed = AlertFeed()
        self.entityFeed = EntityFeed()
        self.metrics = metrics
        self.logger = logger
        self.now = now
        self.engine = AlertEngine(rules: configuration.rules, lateWindow: configuration.lateWindow.milliseconds)
    }

    /// Whether any rule is configured.
    public nonisolated var hasRules: Bool { !configuration.rules.isEmpty }

    /// Takes back the active alerts and the latest state of watched entities from storage (once).
    /// The hub does this before it ingests anything, so that what it reads back is not ahead of
    /// batches still to be evaluated.
    public func start() async {
        await serially {}
    }

    /// Evaluates a stored batch; returns once its events are stored and handed to the feeds, or,
    /// for a gateway's batch that follows a gap in its sequence numbers, once it waits for the
    /// missing one (it is evaluated when that one comes or after `alerts.reorder_wait`).
    public func observe(_ batch: IngestBatch) async {
        guard hasRules, !batch.entities.isEmpty else { return }
        let arrived = now()
        guard let gateway = batch.gateway, let lowest = batch.lowestSequence, let highest = batch.highestSequence else {
            return await evaluate([(batch.entities, arrived)])
        }
        let source = Source(tenant: batch.tenant, gateway: gateway)
        if let next = nextSequence[source], lowest <= next {
            // In sequence (or sent again): evaluated now, then whatever waited for it.
            nextSequence[source] = max(next, highest &+ 1)
            // One step for all of them: nothing that arrives meanwhile can come between.
            await evaluate([(batch.entities, arrived)] + release(source, expired: false))
            return
        }
        // A gap, or the gateway's first batch since the hub started: wait a moment for what comes before.
        if nextSequence[source] != nil { metrics.alertSequenceGaps.increment() }
        waiting[source, default: []].append(Waiting(lowest: lowest, highest: highest, entities: batch.entities, arrived: arrived, since: .now))
        let wait = configuration.reorderWait
        Task { [weak self] in
            try? await Task.sleep(for: wait)
            await self?.releaseExpired(source)
        }
    }

    /// Evaluates waiting batches of `source` that waited long enough, and those they lead to.
    private func releaseExpired(_ source: Source) async {
        await evaluate(release(source, expired: true))
    }

    /// Takes out, in sequence order, the waiting batches of `source` that now follow on (and,
    /// when `expired`, those that waited `reorder_wait`, moving past the gap).
    private func release(_ source: Source, expired: Bool) -> [([NGSIEntity], Timestamp)] {
        guard var queue = waiting[source], !queue.isEmpty else { return [] }
        queue.sort { $0.lowest < $1.lowest }
        var out = [([NGSIEntity], Timestamp)]()
        let deadline = ContinuousClock.now - configuration.reorderWait
        while let first = queue.first {
            let follows = nextSequence[source].map { first.lowest <= $0 } ?? false
            // The gap before the first waiting batch is given up once that batch has waited long enough.
            let waitedEnough = expired && first.since <= deadline
            guard follows || waitedEnough else { break }
            queue.removeFirst()
            nextSequence[source] = max(nextSequence[source] ?? 0, first.highest &+ 1)
            out.append((first.entities, first.arrived))
        }
        waiting[source] = queue.isEmpty ? nil : queue
        return out
    }

    /// Evaluates batches in the order given, as one step.
    private func evaluate(_ batches: [([NGSIEntity], Timestamp)]) async {
        guard !batches.isEmpty else { return }
        await serially {
            await self.evaluate { engine in
                batches.flatMap { entities, arrived in entities.flatMap { engine.observe($0, arrivedAt: arrived) } }
            }
        }
    }

    /// Moves the rules' clock on with the wall clock at `time`: each entity that has been silent
    /// since its last reading arrived, by that time less `alerts.clock_grace` (stale sensors,
    /// absent tags, minimum durations, clears).
    public func tick(_ time: Timestamp) async {
        guard hasRules else { return }
        let grace = configuration.clockGrace.milliseconds
        await serially { await self.evaluate { engine in engine.advance(wall: time, grace: grace) } }
    }

    /// Records an operator's acknowledgement; nil when the tenant has no alert `id`.
    public func acknowledge(tenant: Tenant, id: Int64, by actor: String) async throws(StorageError) -> AlertEventRecord? {
        let result: Result<AlertEventRecord?, StorageError> = await serially {
            do throws(StorageError) {
                let record = try await self.store.acknowledgeAlert(tenant: tenant, id: id, by: actor, at: self.now())
                if let record { await self.publish([record]) }
                return .success(record)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// The engine's active alerts (rule, entity) → latest event.
    public var active: [String: AlertEvent] { engine.active }

    // MARK: Steps

    private func serially<T: Sendable>(_ work: @escaping @Sendable () async -> T) async -> T {
        let previous = tail
        let task = Task<T, Never> {
            await previous?.value
            await self.startIfNeeded()
            return await work()
        }
        tail = Task { _ = await task.value }
        return await task.value
    }

    private func startIfNeeded() async {
        guard !started else { return }
        started = true
        do {
            let active = try await store.activeAlerts()
            engine.restore(
                active.map { alert in
                    AlertEvent(
                        kind: alert.lastChangeKind,
                        rule: alert.rule,
                        entity: alert.entity,
                        stage: alert.stage,
                        stageName: alert.stageName,
                        severity: alert.severity,
                        value: alert.value,
                        level: alert.level,
                        at: alert.updatedAt,
                        location: alert.location
                    )
                }
            )
            var primed = 0
            let watched = Dictionary(grouping: configuration.rules, by: \.tenant).mapValues { Set($0.map(\.entityType)) }
            var events = [AlertEvent]()
            for (tenant, types) in watched.sorted(by: { $0.key.name < $1.key.name }) {
                let arrived = now()
                for entity in try await store.entities(tenant: tenant, types: types, ids: nil) {
                    events += engine.observe(entity, arrivedAt: arrived)
                    primed += 1
                }
            }
            await record(events)
            logger.info(
                "alert rules ready",
                metadata: [
                    "rules": "\(configuration.rules.count)", "active": "\(active.count)", "entities": "\(primed)", "events": "\(events.count)",
                ]
            )
        } catch {
            logger.error("alert state could not be read back; rules start from nothing", metadata: ["error": "\(error)"])
        }
    }

    private func evaluate(_ body: (inout AlertEngine) -> [AlertEvent]) async {
        let events = body(&engine)
        if engine.lateReadings != countedLate {
            metrics.alertLateReadings.increment(by: Int64(engine.lateReadings - countedLate))
            countedLate = engine.lateReadings
        }
        if engine.tooLate != countedTooLate {
            metrics.alertTooLateReadings.increment(by: Int64(engine.tooLate - countedTooLate))
            logger.warning(
                "readings older than the alert history kept were stored but not evaluated",
                metadata: [
                    "readings": "\(engine.tooLate - countedTooLate)", "late_window": "\(configuration.lateWindow)",
                ]
            )
            countedTooLate = engine.tooLate
        }
        await record(events)
    }

    /// Stores events (retrying), then publishes them.
    private func record(_ events: [AlertEvent]) async {
        guard !events.isEmpty else { return }
        var attempt = 0
        while true {
            do {
                let records = try await store.recordAlertEvents(events)
                await publish(records)
                return
            } catch {
                attempt += 1
                metrics.storageFailures.increment()
                logger.error("storing alert events failed", metadata: ["error": "\(error)", "attempt": "\(attempt)", "events": "\(events.count)"])
                if attempt >= 5 {
                    for event in events {
                        logger.critical(
                            "alert event not stored",
                            metadata: [
                                "kind": "\(event.kind.rawValue)", "rule": "\(event.rule)", "entity": "\(event.entity)", "at": "\(event.at)",
                            ]
                        )
                    }
                    return
                }
                try? await Task.sleep(for: .milliseconds(100 << attempt))
            }
        }
    }

    private func publish(_ records: [AlertEventRecord]) async {
        metrics.alertEvents.increment(by: Int64(records.count))
        feed.publish(records)
        await storeEntities(of: records)
    }

    /// Keeps each alert the events changed as an NGSI-LD `Alert` entity of its tenant (see
    /// ``AlertRecord/entity(rule:)``), served by the query API and the entity feed like any
    /// other. Written to the store directly: the ingest path would come back here.
    private func storeEntities(of records: [AlertEventRecord]) async {
        var seen = Set<String>()
        for record in records where seen.insert("\(record.event.tenant.name)/\(record.alert)").inserted {
            let tenant = record.event.tenant
            do {
                guard let alert = try await store.alert(tenant: tenant, id: record.alert) else { continue }
                let rule = configuration.rules.first { $0.id == alert.rule && $0.tenant == tenant }
                let entity = alert.entity(rule: rule)
                _ = try await store.ingest(IngestBatch(tenant: tenant, gateway: nil, entities: [entity], receivedAt: now(), replacing: true))
                entityFeed.publish([entity])
                await entitiesStored(tenant, [entity])
            } catch {
                metrics.storageFailures.increment()
                logger.error("storing alert \(record.alert) of \(tenant) as an entity failed", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: Running

    /// Ends the live feeds, the MQTT publisher's included (shutdown).
    func stop() {
        feed.finishAll()
        entityFeed.finishAll()
    }
}

/// Runs the rules' clock, and ends the feeds at shutdown.
public struct AlertClockService: Service {
    let alerts: AlertService
    let interval: Duration
    let now: WallClock

    public init(alerts: AlertService, interval: Duration, now: @escaping WallClock) {
        self.alerts = alerts
        self.interval = interval
        self.now = now
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await cancelWhenGracefulShutdown {
                        while !Task.isCancelled {
                            await alerts.tick(now())
                            do { try await Task.sleep(for: interval) } catch { return }
                        }
                    }
                }
                await group.waitForAll()
            }
        } onGracefulShutdown: {
            Task { await alerts.stop() }
        }
    }
}
