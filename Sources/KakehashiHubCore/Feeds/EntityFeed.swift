import KakehashiModel
import Synchronization

/// Hands each stored batch's entities to the live `/feeds/entities` clients of their tenant
/// (the push half of a federation link; a client that falls behind is ended and catches up
/// through the temporal API).
public final class EntityFeed: Sendable {
    /// One client's batches.
    public typealias Stream = AsyncStream<[NGSIEntity]>

    private struct Subscribers {
        var next = 0
        var byTenant: [Tenant: [Int: Stream.Continuation]] = [:]
    }

    private let subscribers = Mutex(Subscribers())
    /// Batches a client may lag behind.
    let capacity = 1000

    public init() {}

    /// The tenant's stored batches from now on.
    public func subscribe(tenant: Tenant) -> Stream {
        let (stream, continuation) = Stream.makeStream(bufferingPolicy: .bufferingOldest(capacity))
        let id = subscribers.withLock { state in
            state.next += 1
            state.byTenant[tenant, default: [:]][state.next] = continuation
            return state.next
        }
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLock { state in _ = state.byTenant[tenant]?.removeValue(forKey: id) }
        }
        return stream
    }

    /// Hands `entities` (one stored batch) to the clients of their tenants.
    public func publish(_ entities: [NGSIEntity]) {
        guard !entities.isEmpty else { return }
        let byTenant = Dictionary(grouping: entities, by: \.id.tenant)
        let targets = subscribers.withLock { state in byTenant.keys.map { ($0, state.byTenant[$0].map { Array($0.values) } ?? []) } }
        for (tenant, clients) in targets where !clients.isEmpty {
            let batch = byTenant[tenant] ?? []
            for client in clients {
                if case .dropped = client.yield(batch) { client.finish() }
            }
        }
    }

    /// Ends every stream (shutdown).
    public func finishAll() {
        let all = subscribers.withLock { state -> [Stream.Continuation] in
            defer { state.byTenant = [:] }
            return state.byTenant.values.flatMap(\.values)
        }
        for continuation in all { continuation.finish() }
    }
}
