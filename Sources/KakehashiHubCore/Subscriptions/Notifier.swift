import Foundation
import KakehashiModel
import Logging
import ServiceLifecycle
import Synchronization

/// Turns entity changes into NGSI-LD notifications and delivers them (ETSI GS CIM 009, 5.3).
///
/// Every way an entity changes reaches ``changed(tenant:entities:)`` or
/// ``deleted(tenant:entities:attributes:)``: MQTT ingest, HTTP writes and federation mirrors
/// through the ingest path (before the gateway's batch is confirmed, so a hub that dies before a
/// change's notifications are queued gets the batch again), alert entities from the alert
/// service, deletions from the API. The subscriptions a change concerns are found in an index per
/// tenant (a tenant's subscriptions see only its own entities); their notifications are kept in
/// the hub database in one transaction per change, and delivered at least once and in order per
/// subscription by one task per place notified (``Lane``). A failed delivery is counted and
/// retried with backoff (up to `subscriptions.retry_max_interval`); nothing waits on an endpoint
/// but its own place's lane. A subscription keeps at most `subscriptions.queue_limit` pending notifications, the
/// oldest dropped beyond (counted in its status). Periodic subscriptions (`timeInterval`) are
/// notified by a timer each, with the entities selected as they are then.
public final class Notifier: Service, Sendable {
    /// How notifications are kept and delivered (`subscriptions:` in the hub configuration).
    public struct Settings: Sendable, Hashable {
        /// Pending notifications kept per subscription; the oldest are dropped beyond.
        public var queueLimit = 10_000
        /// How long one delivery may take.
        public var timeout: Duration = .seconds(10)
        /// The longest wait between two attempts of a failing delivery.
        public var maxBackoff: Duration = .seconds(30)

        public init() {}
    }

    let records: any NotificationRecords & SubscriptionRecords
    let store: any ObservationStore
    let delivery: NotificationDelivery
    let settings: Settings
    let logger: Logger
    let now: WallClock
    /// A subscription's `jsonldContext` (a URL) as a context, or nil when it cannot be had.
    let contexts: @Sendable (String) async -> JSONLDContext?

    private struct State {
        var index: [Tenant: SubscriptionIndex] = [:]
        /// Per place notified (``laneName(_:)``), the subscriptions waiting for their turn.
        var lanes: [String: Lane] = [:]
        /// The subscriptions in a lane (waiting or in a turn), with the lane's name: one lane at
        /// a time delivers a subscription's notifications, so they go in order.
        var inLane: [SubscriptionKey: String] = [:]
        /// Subscriptions woken while in a lane: looked at again after their turn.
        var wokenAgain: Set<SubscriptionKey> = []
        /// Subscriptions waiting to retry after a failure, and their failures in a row.
        var retries: [SubscriptionKey: Task<Void, Never>] = [:]
        var failures: [SubscriptionKey: Int] = [:]
        var periodic: [SubscriptionKey: Task<Void, Never>] = [:]
        /// When each subscription was last given a notification (throttling).
        var lastQueued: [SubscriptionKey: Timestamp] = [:]
        var running = false
    }

    private let state = Mutex(State())

    /// Reads every tenant's subscriptions (delivery starts with ``run()``).
    public init(
        records: any NotificationRecords & SubscriptionRecords,
        store: any ObservationStore,
        delivery: NotificationDelivery,
        settings: Settings = Settings(),
        logger: Logger,
        now: @escaping WallClock,
        contexts: @escaping @Sendable (String) async -> JSONLDContext? = { _ in nil }
    ) throws(StorageError) {
        self.contexts = contexts
        self.records = records
        self.store = store
        self.delivery = delivery
        self.settings = settings
        self.logger = logger
        self.now = now
        let all = try records.allSubscriptions()
        let byTenant = Dictionary(grouping: all, by: \.tenant)
        state.withLock { state in
            for (tenant, list) in byTenant { state.index[tenant] = SubscriptionIndex(list.map(\.stored.subscription)) }
        }
    }

    // MARK: Running

    /// Starts delivering the subscriptions with pending notifications and the periodic timers,
    /// then waits for shutdown (what is pending stays in the database).
    public func run() async throws {
        let pending = (try? records.pendingCounts()) ?? [:]
        let periodic = state.withLock { state -> [(SubscriptionKey, Subscription)] in
            state.running = true
            return state.index.flatMap { tenant, index in
                index.subscriptions.values.filter { $0.timeInterval != nil }.map { (SubscriptionKey(tenant: tenant, id: $0.id), $0) }
            }
        }
        wake(Set(pending.keys))
        for (key, subscription) in periodic { startPeriodic(key, subscription) }
        try? await gracefulShutdown()
        let tasks = state.withLock { state -> [Task<Void, Never>] in
            state.running = false
            defer {
                state.lanes = [:]
                state.inLane = [:]
                state.wokenAgain = []
                state.retries = [:]
                state.periodic = [:]
            }
            return state.lanes.values.compactMap(\.task) + Array(state.retries.values) + Array(state.periodic.values)
        }
        for task in tasks { task.cancel() }
        await delivery.close()
    }

    /// One subscription of `tenant` was made or changed (`subscription`), or deleted (nil): the
    /// index follows, its timer starts again, a deleted one's pending notifications are
    /// forgotten and an active one delivers what waited.
    public func update(tenant: Tenant, id: String, to subscription: Subscription?) {
        let key = SubscriptionKey(tenant: tenant, id: id)
        let running = state.withLock { state in
            var list = Array(state.index[tenant]?.subscriptions.values ?? [:].values)
            list.removeAll { $0.id == id }
            if let subscription { list.append(subscription) }
            state.index[tenant] = list.isEmpty ? nil : SubscriptionIndex(list)
            state.periodic.removeValue(forKey: key)?.cancel()
            if subscription == nil { state.lastQueued[key] = nil }
            return state.running
        }
        guard let subscription else {
            try? records.clear(key)
            return
        }
        if subscription.timeInterval != nil && running { startPeriodic(key, subscription) }
        // A changed subscription (its endpoint mended, say) is tried at once.
        state.withLock { $0.retries.removeValue(forKey: key)?.cancel() }
        if subscription.isActive { wake([key]) }
    }

    // MARK: Changes

    /// Entities of `tenant` were created or changed (`entities` as written: the attributes
    /// given are those changed).
    public func changed(tenant: Tenant, entities: [NGSIEntity]) async {
        // An entity written several times in one batch is read and notified once.
        guard state.withLock({ $0.index[tenant] != nil }) else { return }
        // Each entity once (first as written), with the names of the attributes changed.
        var slots = [String: Int]()
        var written = [NGSIEntity]()
        var changedNames = [[String]]()
        for entity in entities {
            let slot: Int
            if let known = slots[entity.id.rawValue] {
                slot = known
            } else {
                slot = written.count
                slots[entity.id.rawValue] = slot
                written.append(entity)
                changedNames.append([])
            }
            for name in entity.attributes.keys {
                let attribute = NGSIEntity.splitName(name).attribute
                if !changedNames[slot].contains(attribute) { changedNames[slot].append(attribute) }
            }
        }
        let candidates = state.withLock { state -> [(slot: Int, entries: [SubscriptionIndex.Entry])] in
            guard let index = state.index[tenant] else { return [] }
            return written.indices.compactMap { slot in
                let found = index.candidates(written[slot])
                return found.isEmpty ? nil : (slot, found)
            }
        }
        guard !candidates.isEmpty else { return }
        let at = now()
        // The entities as they are now (q reads every attribute, and the notification shows
        // them), in one read.
        let stored = (try? await store.entities(tenant: tenant, types: nil, ids: Set(candidates.map { written[$0.slot].id }))) ?? []
        let currents = Dictionary(stored.map { ($0.id.rawValue, $0) }, uniquingKeysWith: { first, _ in first })
        var bySubscription = [ObjectIdentifier: (entry: SubscriptionIndex.Entry, entities: [NGSIEntity])]()
        var order = [ObjectIdentifier]()
        for (slot, entries) in candidates {
            let entity = written[slot], changed = changedNames[slot]
            let current = currents[entity.id.rawValue] ?? entity
            for entry in entries where entry.notifies(current, changed: changed, at: at) {
                let key = ObjectIdentifier(entry)
                if bySubscription[key] == nil {
                    order.append(key)
                    bySubscription[key] = (entry, [current])
                } else {
                    bySubscription[key]?.entities.append(current)
                }
            }
        }
        guard !order.isEmpty else { return }
        // An entity is rendered (and serialized) once for all subscriptions that show it alike
        // (one gauge, many subscriptions with their own q).
        var rendered = [Subscription.Showing: [String: (json: JSONValue, text: [UInt8]?)]]()
        func shown(_ entity: NGSIEntity, _ subscription: Subscription, text: Bool) -> (json: JSONValue, text: [UInt8]?) {
            let showing = subscription.showing
            if let known = rendered[showing]?[entity.id.rawValue], known.text != nil || !text { return known }
            let json = rendered[showing]?[entity.id.rawValue]?.json ?? subscription.shown(entity)
            let fresh = (json: json, text: text ? json.serialized() : nil)
            rendered[showing, default: [:]][entity.id.rawValue] = fresh
            return fresh
        }
        let notifiedAt = at.iso8601
        var plain = [(Subscription, String)]()
        var shaped = [(Subscription, JSONValue)]()
        for key in order {
            guard let (entry, list) = bySubscription[key] else { continue }
            let subscription = entry.subscription
            if subscription.notifiesPlainJSON {
                let texts = list.map { shown($0, subscription, text: true).text ?? [] }
                plain.append((subscription, subscription.notificationText(texts, id: Self.notificationID(), notifiedAt: notifiedAt)))
                continue
            }
            var body = subscription.notification(
                list,
                id: Self.notificationID(),
                at: at,
                shown: list.map { shown($0, subscription, text: false).json }
            )
            if subscription.sysAttrs || subscription.showChanges {
                let changed = Dictionary(zip(written.map(\.id), changedNames.map(Set.init)), uniquingKeysWith: { first, _ in first })
                body = await enriched(body, for: subscription, tenant: tenant, changed: changed)
            }
            shaped.append((subscription, body))
        }
        enqueue(plain + (await inContext(shaped)).map { ($0.0, $0.1.jsonText) }, tenant: tenant, at: at)
    }

    /// Entities of `tenant` were deleted (`attributes` nil), or some of their attributes
    /// (`entities` then as they are after).
    public func deleted(tenant: Tenant, entities: [NGSIEntity], attributes: Set<String>?) async {
        let candidates = state.withLock { state -> [(NGSIEntity, [Subscription])] in
            guard let index = state.index[tenant] else { return [] }
            return entities.compactMap { entity in
                let found = index.candidates(entity).map(\.subscription)
                return found.isEmpty ? nil : (entity, found)
            }
        }
        guard !candidates.isEmpty else { return }
        let at = now()
        var items = [(Subscription, JSONValue)]()
        for (entity, subscriptions) in candidates {
            for subscription in subscriptions
            where subscription.notifiesDeletion(of: attributes, remaining: attributes == nil ? nil : entity, at: at) {
                let body =
                    attributes == nil
                    ? subscription.deletionNotification([(entity.id, entity.type)], id: Self.notificationID(), at: at)
                    : subscription.notification([entity], id: Self.notificationID(), at: at)
                items.append((subscription, body))
            }
        }
        enqueue((await inContext(items)).map { ($0.0, $0.1.jsonText) }, tenant: tenant, at: at)
    }

    /// How `key`'s deliveries went.
    public func status(_ key: SubscriptionKey) throws(StorageError) -> SubscriptionStatus { try records.status(key) }

    /// A notification's entities with what `sysAttrs` and `showChanges` ask: each entity's
    /// `createdAt` and `modifiedAt`; for each changed attribute measured at a time, its
    /// `previousValue` (the reading before, from its time series; none for a first reading, and
    /// not in keyValues, which has no room for it).
    func enriched(_ body: JSONValue, for subscription: Subscription, tenant: Tenant, changed: [EntityID: Set<String>]) async -> JSONValue {
        guard case .object(var members) = body, case .array(let data)? = members["data"] else { return body }
        var ids = [EntityID]()
        for item in data {
            if let text = item["id"]?.stringValue, let id = changed.keys.first(where: { $0.rawValue == text }) { ids.append(id) }
        }
        let times = subscription.sysAttrs ? ((try? await store.systemTimes(tenant: tenant, ids: ids)) ?? [:]) : [:]
        var out = [JSONValue]()
        for item in data {
            guard case .object(var fields) = item, let id = ids.first(where: { $0.rawValue == item["id"]?.stringValue }) else {
                out.append(item)
                continue
            }
            if let time = times[id] {
                if let created = time.createdAt { fields["createdAt"] = .string(created.iso8601) }
                fields["modifiedAt"] = .string(time.modifiedAt.iso8601)
            }
            if subscription.showChanges && subscription.format != .keyValues {
                for name in changed[id] ?? [] {
                    guard case .object(var attribute)? = fields[name], case .string(let text)? = attribute["observedAt"],
                        let observedAt = try? Timestamp(iso8601: text, field: "observedAt"),
                        let before = try? await store.observations(
                            tenant: tenant,
                            entity: id,
                            attribute: name,
                            range: TimeRange(to: observedAt),
                            lastN: 1,
                            limit: 1
                        ).last
                    else { continue }
                    attribute["previousValue"] = before.value.plainJSON
                    fields[name] = .object(attribute)
                }
            }
            out.append(.object(fields))
        }
        members["data"] = .array(out)
        return .object(members)
    }

    /// Each notification of a subscription with a `jsonldContext` with its entities' types and
    /// attribute names compacted in that context (and it as the body's `@context` for JSON-LD).
    /// A context that cannot be had leaves the names as stored.
    func inContext(_ items: [(Subscription, JSONValue)]) async -> [(Subscription, JSONValue)] {
        var shaped = [(Subscription, JSONValue)]()
        for (subscription, body) in items {
            guard let url = subscription.jsonldContext, case .object(var members) = body, let context = await contexts(url) else {
                shaped.append((subscription, body))
                continue
            }
            let showing = NGSITermMapping.showing(to: context)
            if case .array(let data)? = members["data"] {
                members["data"] = .array(data.map { showing.entity($0, keyValues: subscription.format == .keyValues) })
            }
            if members["@context"] != nil { members["@context"] = .string(url) }
            shaped.append((subscription, .object(members)))
        }
        return shaped
    }

    /// A notification's id: this process's random part and a counter (a UUID each cost more
    /// than building the notification).
    static func notificationID() -> String {
        "urn:ngsi-ld:Notification:\(processPart)-\(String(notificationCounter.add(1, ordering: .relaxed).newValue, radix: 16))"
    }

    private static let processPart = UUID().uuidString.lowercased()
    private static let notificationCounter = Atomic<Int>(0)

    /// Keeps the notifications not held back by throttling, then wakes their subscriptions' lanes.
    private func enqueue(_ items: [(Subscription, String)], tenant: Tenant, at: Timestamp) {
        let kept = state.withLock { state in
            items.filter { subscription, _ in
                let key = SubscriptionKey(tenant: tenant, id: subscription.id)
                if subscription.throttledUntil(lastNotification: state.lastQueued[key], now: at) != nil { return false }
                state.lastQueued[key] = at
                return true
            }
        }
        guard !kept.isEmpty else { return }
        let rows = kept.map { (key: SubscriptionKey(tenant: tenant, id: $0.0.id), body: $0.1) }
        do {
            let dropped = try records.enqueue(rows, at: at, limit: settings.queueLimit)
            for (key, count) in dropped {
                logger.warning(
                    "a subscription's queue is full: oldest notifications dropped",
                    metadata: ["subscription": "\(key)", "dropped": "\(count)"]
                )
            }
        } catch {
            logger.error("keeping notifications failed: they are lost", metadata: ["count": "\(rows.count)", "error": "\(error)"])
            return
        }
        wake(Set(rows.map(\.key)))
    }

    // MARK: Delivery

    /// The subscriptions notifying one place (an HTTP origin, an MQTT broker) are delivered by
    /// one task, a few subscriptions per turn in the order they became ready, each with up to
    /// ``notificationsPerTurn`` of its notifications; the deliveries of a turn are recorded in one
    /// commit. One task per place rather than per subscription: a thousand subscriptions of one
    /// receiver share its connection anyway, and a thousand tasks would crowd ingest out of the
    /// cooperative threads. A place that is slow or away holds up only its own lane.
    struct Lane {
        var ready: [SubscriptionKey] = []
        var task: Task<Void, Never>?
    }

    static let subscriptionsPerTurn = 64
    static let notificationsPerTurn = 32

    /// The place a notification goes to: the endpoint's scheme and authority.
    static func laneName(_ uri: String) -> String {
        guard let separator = uri.range(of: "://") else { return uri }
        let authority = uri[separator.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        return (uri[..<separator.upperBound] + authority).lowercased()
    }

    /// Puts `keys` in their lanes (starting a lane's task when it has none), unless the notifier
    /// is not running or they wait to retry; one already in a lane is looked at again after its
    /// turn.
    private func wake(_ keys: some Sequence<SubscriptionKey>) {
        state.withLock { state in
            guard state.running else { return }
            for key in keys where state.retries[key] == nil {
                if state.inLane[key] != nil {
                    state.wokenAgain.insert(key)
                    continue
                }
                guard let subscription = state.index[key.tenant]?.subscriptions[key.id] else { continue }
                let name = Self.laneName(subscription.endpoint.uri)
                var lane = state.lanes[name] ?? Lane()
                lane.ready.append(key)
                state.inLane[key] = name
                if lane.task == nil { lane.task = Task { [self] in await deliver(lane: name) } }
                state.lanes[name] = lane
            }
        }
    }

    /// Delivers the lane's subscriptions' pending notifications in turns until none is ready.
    private func deliver(lane name: String) async {
        while !Task.isCancelled {
            let turn = state.withLock { state -> [SubscriptionKey] in
                guard var lane = state.lanes[name] else { return [] }
                guard !lane.ready.isEmpty else {
                    state.lanes[name] = nil
                    return []
                }
                let taken = Array(lane.ready.prefix(Self.subscriptionsPerTurn))
                lane.ready.removeFirst(taken.count)
                state.lanes[name] = lane
                return taken
            }
            if turn.isEmpty { return }
            var more = [SubscriptionKey]()
            var sending = [(key: SubscriptionKey, subscription: Subscription, batch: [PendingNotification])]()
            for key in turn {
                let subscription = state.withLock { $0.index[key.tenant]?.subscriptions[key.id] }
                // Deleted, paused or expired: what is pending stays (``update`` wakes it).
                guard let subscription, subscription.isInForce(at: now()) else { continue }
                // Its endpoint moved elsewhere: that lane's.
                guard Self.laneName(subscription.endpoint.uri) == name else {
                    more.append(key)
                    continue
                }
                do {
                    let batch = try records.pending(key, limit: Self.notificationsPerTurn)
                    if !batch.isEmpty { sending.append((key, subscription, batch)) }
                } catch {
                    retry(key, after: DeliveryFailure("reading pending notifications failed: \(error)"))
                }
            }
            // Sent together (one hand-over to the connection); a hub that dies before the turn
            // is recorded delivers them again (at least once).
            let outcomes = await delivery.sendTurn(sending.map { ($0.batch.map(\.body), $0.subscription, $0.key.tenant) })
            var delivered = [PendingNotification]()
            for (item, outcome) in zip(sending, outcomes) {
                delivered += item.batch.prefix(outcome.delivered)
                if let failure = outcome.failure {
                    retry(item.key, after: failure)
                } else {
                    more.append(item.key)
                }
            }
            if !delivered.isEmpty {
                do { try records.delivered(delivered, at: now()) } catch {
                    logger.error("recording deliveries failed", metadata: ["count": "\(delivered.count)", "error": "\(error)"])
                }
            }
            // Out of the lane; those that may have more (or were woken meanwhile) go back in.
            let again = state.withLock { state -> [SubscriptionKey] in
                var again = more
                for key in turn {
                    if state.inLane[key] == name { state.inLane[key] = nil }
                    if state.wokenAgain.remove(key) != nil && !more.contains(key) { again.append(key) }
                }
                for key in more where state.failures[key] != nil { state.failures[key] = nil }
                return again
            }
            wake(again)
        }
    }

    /// A delivery of `key` failed: counted, logged (the first and every tenth in a row), and
    /// tried again after ``backoff(_:)``.
    private func retry(_ key: SubscriptionKey, after failure: DeliveryFailure) {
        let failures = state.withLock { state in
            state.failures[key, default: 0] += 1
            return state.failures[key, default: 1]
        }
        try? records.failed(key, at: now(), reason: failure.description)
        if failures == 1 || failures.isMultiple(of: 10) {
            logger.warning(
                "notification not delivered: retrying",
                metadata: ["subscription": "\(key)", "attempts": "\(failures)", "error": "\(failure)"]
            )
        }
        let delay = backoff(failures)
        state.withLock { state in
            guard state.running else { return }
            state.retries[key]?.cancel()
            state.retries[key] = Task { [self] in
                try? await Task.sleep(for: delay)
                if Task.isCancelled { return }
                self.state.withLock { _ = $0.retries.removeValue(forKey: key) }
                wake([key])
            }
        }
    }

    /// 0.5 s doubled per failure, at most `maxBackoff`, with up to 20 % jitter.
    func backoff(_ failures: Int) -> Duration {
        let base = min(Double(settings.maxBackoff.components.seconds), 0.5 * pow(2, Double(min(failures - 1, 16))))
        return .milliseconds(Int64(base * 1000 * Double.random(in: 0.8...1.0)))
    }

    // MARK: Periodic

    private func startPeriodic(_ key: SubscriptionKey, _ subscription: Subscription) {
        guard let interval = subscription.timeInterval else { return }
        let task = Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
                if Task.isCancelled { return }
                await notifyPeriodically(key, subscription)
            }
        }
        state.withLock { state in
            state.periodic.removeValue(forKey: key)?.cancel()
            state.periodic[key] = task
        }
    }

    /// One periodic notification: every selected entity that `q` and `geoQ` hold for.
    private func notifyPeriodically(_ key: SubscriptionKey, _ subscription: Subscription) async {
        let at = now()
        guard subscription.isInForce(at: at) else { return }
        let types = subscription.entities.isEmpty ? nil : Set(subscription.entities.map(\.type))
        guard let entities = try? await store.entities(tenant: key.tenant, types: types, ids: nil) else { return }
        let matching = entities.filter { subscription.selects($0) && subscription.matchesFilters($0) }
        guard !matching.isEmpty else { return }
        let item = (subscription, subscription.notification(matching, id: Self.notificationID(), at: at))
        enqueue((await inContext([item])).map { ($0.0, $0.1.jsonText) }, tenant: key.tenant, at: at)
    }
}
