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
///
/// Over a database several hubs share, the rules are split (``AlertPartitioning``): this hub
/// keeps one engine per partition of entities it holds a lease on (``hold(_:)``), each taken
/// back from storage when the partition is taken, and evaluates what the storing hubs left for
/// those partitions (``evaluatePending(limit:)``); its events are recorded only while it still
/// holds the partition (fenced by the lease's epoch).
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
    /// One engine per partition held (partition 0 only, on a hub of its own).
    private var engines: [Int: AlertEngine]
    /// The epoch each partition was taken with (partitioned only).
    private var epochs: [Int: Int64] = [:]
    let partitioning: AlertPartitioning?
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
        entitiesStored: @escaping @Sendable (Tenant, [NGSIEntity]) async -> Void = { _, _ in },
        partitioning: AlertPartitioning? = nil
    ) {
        self.configuration = configuration
        self.partitioning = partitioning
        self.store = store
        self.entitiesStored = entitiesStored
        self.feed = AlertFeed()
        self.entityFeed = EntityFeed()
        self.metrics = metrics
        self.logger = logger
        self.now = now
        self.engines = partitioning == nil ? [0: AlertEngine(rules: configuration.rules, lateWindow: configuration.lateWindow.milliseconds)] : [:]
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
        // Partitioned: the batch reaches the rules through the inbox of its partitions' owners.
        guard hasRules, partitioning == nil, !batch.entities.isEmpty else { return }
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
            _ = await self.evaluate(partition: 0) { engine in
                batches.flatMap { entities, arrived in entities.flatMap { engine.observe($0, arrivedAt: arrived) } }
            }
        }
    }

    // MARK: Partitions

    /// Partitioned: from now on evaluates the partitions in `holding` (partition → the epoch its
    /// lease was taken with). A partition newly held gets an engine taken back from storage
    /// (its open alerts and the latest state of its watched entities); one no longer held is
    /// dropped.
    public func hold(_ holding: [Int: Int64]) async {
        guard let partitioning, hasRules else { return }
        await serially {
            await self.take(holding, partitioning)
        }
    }

    private func take(_ holding: [Int: Int64], _ partitioning: AlertPartitioning) async {
        for partition in engines.keys where holding[partition] == nil {
            engines[partition] = nil
            epochs[partition] = nil
        }
        cursors = cursors.filter { holding[$0.key.partition] != nil }
        let new = holding.filter { epochs[$0.key] != $0.value }
        guard !new.isEmpty else { return }
        do {
            // The former owner's state: the readings it evaluated, replayed without a word (their
            // events are stored), then the open alerts whose raise is older than that history.
            let history = try await partitioning.history(Set(new.keys), configuration.lateWindow.milliseconds)
            let taken = try await partitioning.cursors(Set(new.keys))
            let active = try await store.activeAlerts()
            var fresh = [Int: AlertEngine]()
            for partition in new.keys {
                fresh[partition] = AlertEngine(rules: configuration.rules, lateWindow: configuration.lateWindow.milliseconds)
            }
            let arrived = now()
            for fragment in history {
                let partition = partitioning.partition(fragment.id)
                guard fresh[partition] != nil else { continue }
                _ = fresh[partition]!.observe(fragment, arrivedAt: arrived)
            }
            var restored = [Int: [AlertEvent]]()
            for alert in active {
                let partition = partitioning.partition(alert.entity)
                guard let engine = fresh[partition] else { continue }
                let event = alert.event()
                guard engine.active[alert.rule + "\u{0}" + alert.entity.rawValue] == nil else { continue }
                restored[partition, default: []].append(event)
            }
            for (partition, events) in restored { fresh[partition]!.restore(events) }
            for (partition, engine) in fresh {
                engines[partition] = engine
                epochs[partition] = new[partition]
            }
            cursors = cursors.filter { new[$0.key.partition] == nil }
            for cursor in taken { cursors[CursorKey(partition: cursor.partition, gateway: cursor.gateway)] = cursor.next }
            logger.info(
                "alert partitions taken",
                metadata: [
                    "partitions": "\(new.keys.sorted())", "held": "\(engines.count)", "replayed": "\(history.count)",
                    "restored": "\(restored.values.map(\.count).reduce(0, +))",
                ]
            )
        } catch {
            // Not taken: the next round of the leases tries again.
            for partition in new.keys {
                engines[partition] = nil
                epochs[partition] = nil
            }
            logger.error("alert state of partitions could not be read back", metadata: ["error": "\(error)", "partitions": "\(new.keys.sorted())"])
        }
    }

    private func drop(_ partition: Int) {
        engines[partition] = nil
        epochs[partition] = nil
        cursors = cursors.filter { $0.key.partition != partition }
        logger.warning("alert partition lost to another hub", metadata: ["partition": "\(partition)"])
    }

    /// Partitioned: evaluates up to `limit` of the oldest stored entities waiting for the
    /// partitions held here, in the order they were stored (each partition's as one step), and
    /// forgets those whose events were stored; those of a partition lost meanwhile are left to
    /// its new owner. Returns how many were read.
    public func evaluatePending(limit: Int) async throws -> Int {
        guard let partitioning else { return 0 }
        return try await serially { () async throws -> Int in
            let held = await self.epochs.keys.sorted()
            guard !held.isEmpty else { return 0 }
            return try await self.evaluatePending(held, limit: limit, partitioning)
        }
    }

    private func evaluatePending(_ partitions: [Int], limit: Int, _ partitioning: AlertPartitioning) async throws -> Int {
        // Ranges wanted from the lowest cursor of each gateway.
        var from = [AlertPartitioning.GatewayKey: Int64]()
        for (key, next) in cursors { from[key.gateway] = min(from[key.gateway] ?? next, next) }
        let read = try await partitioning.pending(partitions, limit, from)
        guard !read.items.isEmpty else { return 0 }
        let (ready, moved) = inSequence(read)
        var done = Set<Int>()
        if hasRules {
            for (partition, batches) in Dictionary(grouping: ready, by: \.partition).sorted(by: { $0.key < $1.key }) {
                let evaluated = await evaluate(partition: partition) { engine in
                    batches.flatMap { batch in batch.entities.flatMap { engine.observe($0, arrivedAt: batch.arrived) } }
                }
                if evaluated { done.insert(partition) }
            }
        } else {
            done = Set(ready.map(\.partition))
        }
        var kept = [AlertPartitioning.Cursor]()
        let attempted = Set(ready.map(\.partition))
        for (key, next) in moved {
            // A partition lost meanwhile (or whose events could not be stored): its owner goes on
            // from its own cursor. One with nothing ready moved on over batches stored without
            // anything for it: that holds.
            guard epochs[key.partition] != nil, done.contains(key.partition) || !attempted.contains(key.partition) else {
                cursors[key] = nil
                continue
            }
            cursors[key] = next
            kept.append(AlertPartitioning.Cursor(partition: key.partition, gateway: key.gateway, next: next))
        }
        try await partitioning.evaluated(ready.filter { done.contains($0.partition) }.map(\.id), kept)
        metrics.alertPendingEvaluated.increment(by: Int64(ready.count))
        // Rows left waiting for a gap count as not read: the caller waits a moment.
        return ready.count
    }

    private struct CursorKey: Hashable {
        let partition: Int
        let gateway: AlertPartitioning.GatewayKey
    }

    /// Per partition held and gateway, the next sequence number expected.
    private var cursors: [CursorKey: Int64] = [:]

    /// The rows of `read` that may be evaluated now, in order, and the cursors they move on:
    /// for each partition, each gateway's rows in the order of their sequence numbers up to a
    /// gap, as on a hub of its own (see ``observe(_:)``). Batches stored with nothing for the
    /// partition fill a gap; a row after a real gap (a batch not stored yet, or the first row of
    /// a gateway the partition has no cursor for) waits up to `alerts.reorder_wait` since stored.
    private func inSequence(_ read: AlertPartitioning.PendingRead) -> ([AlertPartitioning.Pending], [CursorKey: Int64]) {
        var ready = [AlertPartitioning.Pending]()
        var groups = [CursorKey: [AlertPartitioning.Pending]]()
        var order = [CursorKey]()
        for item in read.items {
            guard let gateway = item.gateway, item.sequences != nil else {
                ready.append(item)
                continue
            }
            let key = CursorKey(partition: item.partition, gateway: gateway)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(item)
        }
        var moved = [CursorKey: Int64]()
        for key in order {
            let rows = groups[key]!.sorted { ($0.sequences!.lowerBound, $0.id) < ($1.sequences!.lowerBound, $1.id) }
            let stored = (read.stored[key.gateway] ?? []).sorted { $0.sequences.lowerBound < $1.sequences.lowerBound }
            // Without a cursor (the partition never evaluated this gateway), as a hub of its own
            // does with a gateway's first batch: once the oldest row has waited reorder_wait (for
            // batches still being stored elsewhere), from the lowest batch stored since.
            if cursors[key] == nil, rows.map(\.age).max()! < configuration.reorderWait { continue }
            var next = cursors[key] ?? min(stored.first?.sequences.lowerBound ?? .max, rows[0].sequences!.lowerBound)
            var index = 0
            var storedIndex = 0
            while true {
                // Rows at or behind the expected number are next (behind: sent again, or given up on).
                if index < rows.count, rows[index].sequences!.lowerBound <= next {
                    ready.append(rows[index])
                    next = max(next, rows[index].sequences!.upperBound + 1)
                    index += 1
                    continue
                }
                // A batch stored with nothing for this partition is passed over; one with a row
                // for it not read yet is waited for.
                while storedIndex < stored.count, stored[storedIndex].sequences.upperBound < next { storedIndex += 1 }
                if storedIndex < stored.count, stored[storedIndex].sequences.lowerBound <= next,
                    !stored[storedIndex].partitions.contains(key.partition)
                {
                    next = stored[storedIndex].sequences.upperBound + 1
                    continue
                }
                // A gap: batches not stored (yet), or one with a row for this partition that is
                // not among those read. The next row waits for it up to reorder_wait.
                guard index < rows.count, rows[index].age >= configuration.reorderWait else { break }
                metrics.alertSequenceGaps.increment()
                next = rows[index].sequences!.lowerBound
            }
            if next != cursors[key] { moved[key] = next }
        }
        return (ready, moved)
    }

    /// The partitions this hub evaluates now.
    public var heldPartitions: [Int: Int64] { epochs }

    private var watchedTypes: [Tenant: Set<String>] {
        Dictionary(grouping: configuration.rules, by: \.tenant).mapValues { Set($0.map(\.entityType)) }
    }

    /// Moves the rules' clock on with the wall clock at `time`: each entity that has been silent
    /// since its last reading arrived, by that time less `alerts.clock_grace` (stale sensors,
    /// absent tags, minimum durations, clears).
    public func tick(_ time: Timestamp) async {
        guard hasRules else { return }
        let grace = configuration.clockGrace.milliseconds
        await serially {
            for partition in await self.engines.keys.sorted() {
                _ = await self.evaluate(partition: partition) { engine in engine.advance(wall: time, grace: grace) }
            }
        }
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
    public var active: [String: AlertEvent] {
        engines.values.reduce(into: [:]) { all, engine in all.merge(engine.active) { first, _ in first } }
    }

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

    private func serially<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
        let result: Result<T, any Error> = await serially {
            do { return .success(try await work()) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private func startIfNeeded() async {
        guard !started else { return }
        started = true
        // Partitioned: each partition's engine is taken back when the partition is taken.
        guard partitioning == nil else { return }
        do {
            let active = try await store.activeAlerts()
            engines[0]!.restore(active.map { $0.event() })
            var primed = 0
            var events = [AlertEvent]()
            for (tenant, types) in watchedTypes.sorted(by: { $0.key.name < $1.key.name }) {
                let arrived = now()
                for entity in try await store.entities(tenant: tenant, types: types, ids: nil) {
                    events += engines[0]!.observe(entity, arrivedAt: arrived)
                    primed += 1
                }
            }
            _ = await record(events, partition: 0)
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

    /// Runs `body` on the engine of `partition` and records its events; false when the
    /// partition is not (or no longer) held here.
    private func evaluate(partition: Int, _ body: (inout AlertEngine) -> [AlertEvent]) async -> Bool {
        guard var engine = engines[partition] else { return false }
        let events = body(&engine)
        engines[partition] = engine
        let late = engines.values.reduce(0) { $0 + $1.lateReadings }
        let tooLate = engines.values.reduce(0) { $0 + $1.tooLate }
        if late > countedLate {
            metrics.alertLateReadings.increment(by: Int64(late - countedLate))
        }
        countedLate = late
        if tooLate > countedTooLate {
            metrics.alertTooLateReadings.increment(by: Int64(tooLate - countedTooLate))
            logger.warning(
                "readings older than the alert history kept were stored but not evaluated",
                metadata: [
                    "readings": "\(tooLate - countedTooLate)", "late_window": "\(configuration.lateWindow)",
                ]
            )
        }
        countedTooLate = tooLate
        guard await record(events, partition: partition) else {
            drop(partition)
            return false
        }
        return true
    }

    /// Stores events (retrying), then publishes them; false when the partition's lease was lost
    /// (nothing stored: the new owner raises them).
    private func record(_ events: [AlertEvent], partition: Int) async -> Bool {
        guard !events.isEmpty else { return true }
        var attempt = 0
        while true {
            do {
                let records: [AlertEventRecord]
                if let partitioning {
                    guard let epoch = epochs[partition] else { return false }
                    guard let stored = try await partitioning.record(events, partition, epoch) else { return false }
                    records = stored
                } else {
                    records = try await store.recordAlertEvents(events)
                }
                await publish(records)
                return true
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
                    return true
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
