import KakehashiAlerts
import KakehashiModel
import Synchronization

/// Hands stored alert events to the live feed clients of their tenant (SSE, WebSocket).
///
/// Events are published in id order, after they are stored. A client that falls more than
/// `capacity` events behind is ended; it reconnects with its last event id and catches up from
/// storage, so a slow client never makes the hub hold unbounded memory nor miss an event.
public final class AlertFeed: Sendable {
    /// A stored event with its JSON, written once however many clients follow it.
    public struct Event: Sendable {
        public let record: AlertEventRecord
        /// `record.json`, serialized.
        public let json: [UInt8]

        public init(_ record: AlertEventRecord) {
            self.record = record
            self.json = record.json.serialized()
        }

        /// The JSON with a `sharedBy` member naming `owner` (for a grantee's feed), without
        /// writing the event again.
        public func json(sharedBy owner: Tenant) -> [UInt8] {
            var out = [UInt8]()
            out.reserveCapacity(json.count + owner.name.utf8.count + 16)
            out.append(contentsOf: #"{"\#(ShareGrant.sharedByAttribute)":"#.utf8)
            JSONValue.writeString(owner.name, into: &out)
            if json.count > 2 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: json.dropFirst())
            return out
        }
    }

    /// One client's events.
    public typealias Stream = AsyncStream<Event>

    private struct Subscribers {
        var next = 0
        var byTenant: [Tenant: [Int: Stream.Continuation]] = [:]
        /// Followers of every tenant (the MQTT publisher).
        var everyone: [Int: Stream.Continuation] = [:]
        var finished = false
        /// The id of the last event handed out, per tenant.
        var last: [Tenant: Int64] = [:]
        /// The id of the last event relayed from the shared database, per tenant.
        var relayed: [Tenant: Int64] = [:]
    }

    private let subscribers = Mutex(Subscribers())
    let capacity: Int

    /// Events a client may lag behind by default.
    public static let defaultCapacity = 10_000

    /// Creates a feed; each client may lag `capacity` events behind.
    public init(capacity: Int = AlertFeed.defaultCapacity) { self.capacity = capacity }

    /// A stream of the tenant's events from now on; it ends when the hub shuts down, the
    /// client lags too far behind, or the task reading it is cancelled.
    public func subscribe(tenant: Tenant) -> Stream {
        let (stream, continuation) = Stream.makeStream(bufferingPolicy: .bufferingOldest(capacity))
        let id: Int? = subscribers.withLock { state in
            if state.finished { return nil }
            state.next += 1
            state.byTenant[tenant, default: [:]][state.next] = continuation
            return state.next
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLock { state in _ = state.byTenant[tenant]?.removeValue(forKey: id) }
        }
        return stream
    }

    /// Every tenant's events from now on, holding up to `capacity` of them.
    public struct Subscription: Sendable {
        public let events: Stream
        let continuation: Stream.Continuation

        /// Ends the stream after the events it holds.
        public func end() { continuation.finish() }
    }

    /// A stream of every tenant's events this hub stores from now on (not those relayed from
    /// other hubs), holding up to `capacity` of them; it ends
    /// when the hub shuts down, ``Subscription/end()`` is called or the task reading it is cancelled.
    public func subscribeAll(capacity: Int) -> Subscription {
        let (stream, continuation) = Stream.makeStream(bufferingPolicy: .bufferingOldest(capacity))
        let id: Int? = subscribers.withLock { state in
            if state.finished { return nil }
            state.next += 1
            state.everyone[state.next] = continuation
            return state.next
        }
        guard let id else {
            continuation.finish()
            return Subscription(events: stream, continuation: continuation)
        }
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLock { state in _ = state.everyone.removeValue(forKey: id) }
        }
        return Subscription(events: stream, continuation: continuation)
    }

    /// Clients connected, per tenant.
    public var clientCount: Int { subscribers.withLock { $0.byTenant.values.reduce(0) { $0 + $1.count } } }

    /// Hands `records` (in id order) to the clients of their tenants, each serialized once.
    /// Over a shared database, events are also relayed from it (``relay(_:)``), this hub's own
    /// among them: a relayed event already handed out is skipped, and so is one of this hub's
    /// own that the relay handed out first, so each reaches a client once. Which records go to
    /// whom is decided under the lock; the clients are handed them after it, as before.
    func publish(_ records: [AlertEventRecord], relayed: Bool = false) {
        guard !records.isEmpty else { return }
        let targets = subscribers.withLock { state -> [(AlertEventRecord, [Stream.Continuation])] in
            var out = [(AlertEventRecord, [Stream.Continuation])]()
            for record in records {
                let tenant = record.event.tenant
                // Followers of every tenant (the MQTT publisher) get this hub's own events only:
                // over a shared database each event goes out once, from the hub that stored it.
                let everyone = relayed ? [] : Array(state.everyone.values)
                if relayed {
                    if let last = state.last[tenant], record.id <= last { continue }
                    state.relayed[tenant] = record.id
                } else if let relayedUpTo = state.relayed[tenant], record.id <= relayedUpTo {
                    if !everyone.isEmpty { out.append((record, everyone)) }
                    continue
                }
                state.last[tenant] = max(state.last[tenant] ?? record.id, record.id)
                out.append((record, Array(state.byTenant[tenant]?.values ?? [:].values) + everyone))
            }
            return out
        }
        for (record, clients) in targets where !clients.isEmpty {
            let event = Event(record)
            for client in clients {
                if case .dropped = client.yield(event) { client.finish() }
            }
        }
    }

    /// Events another hub stored (read from the shared database), handed out like this hub's own.
    public func relay(_ records: [AlertEventRecord]) { publish(records, relayed: true) }

    /// The id of the last event of `tenant` handed out, if any.
    public func lastPublished(_ tenant: Tenant) -> Int64? { subscribers.withLock { $0.last[tenant] } }

    /// Ends every stream (shutdown): clients see the end of the response and reconnect elsewhere or later.
    public func finishAll() {
        let all = subscribers.withLock { state -> [Stream.Continuation] in
            state.finished = true
            defer {
                state.byTenant = [:]
                state.everyone = [:]
            }
            return state.byTenant.values.flatMap(\.values) + state.everyone.values
        }
        for continuation in all { continuation.finish() }
    }
}
