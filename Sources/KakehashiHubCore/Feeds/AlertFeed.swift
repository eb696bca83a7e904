import KakehashiAlerts
import KakehashiModel
import Synchronization

/// Hands stored alert events to the live feed clients of their tenant (SSE, WebSocket).
///
/// Events are published in id order, after they are stored. A client that falls more than
/// `capacity` events behind is ended; it reconnects with its last event id and catches up from
/// storage, so a slow client never makes the hub hold unbounded memory nor miss an event.
public final class AlertFeed: Sendable {
    /// One client's events.
    public typealias Stream = AsyncStream<AlertEventRecord>

    private struct Subscribers {
        var next = 0
        var byTenant: [Tenant: [Int: Stream.Continuation]] = [:]
        var finished = false
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

    /// Clients connected, per tenant.
    public var clientCount: Int { subscribers.withLock { $0.byTenant.values.reduce(0) { $0 + $1.count } } }

    /// Hands `records` (in id order) to the clients of their tenants.
    func publish(_ records: [AlertEventRecord]) {
        guard !records.isEmpty else { return }
        let targets = subscribers.withLock { state in records.map { state.byTenant[$0.event.tenant].map { Array($0.values) } ?? [] } }
        for (record, clients) in zip(records, targets) {
            for client in clients {
                if case .dropped = client.yield(record) { client.finish() }
            }
        }
    }

    /// Ends every stream (shutdown): clients see the end of the response and reconnect elsewhere or later.
    public func finishAll() {
        let all = subscribers.withLock { state -> [Stream.Continuation] in
            state.finished = true
            defer { state.byTenant = [:] }
            return state.byTenant.values.flatMap(\.values)
        }
        for continuation in all { continuation.finish() }
    }
}
