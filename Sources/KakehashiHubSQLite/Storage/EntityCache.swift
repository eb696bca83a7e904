import KakehashiHubCore
import KakehashiModel
import Synchronization

/// The latest state of each tenant's entities, decoded, beside the database: a query filters
/// these instead of parsing every stored body (`GET /entities?type=…&q=…` over 5,000 entities).
///
/// Exact, not a guess with an expiry: every write transaction of a store moves the database's
/// writer mark (`writer_mark`: the writing store's token and a count). A tenant's entities are
/// filled from one read snapshot whose mark is the cache's version, and the store's own writes
/// are applied after they commit, with their mark as the new version. A read whose snapshot
/// holds another mark (the store's own commit not applied yet, or another program's write, e.g.
/// `kakehashi-hub deadletters retry`) reads the database; the store's next write sees the
/// foreign mark and drops the cache.
final class EntityCache: Sendable {
    /// A writer mark: who wrote last, and how many writes the file has seen.
    struct Mark: Hashable, Sendable {
        let token: String
        let count: Int64
    }

    private struct State {
        var version: Mark
        var tenants: [Tenant: [EntityID: NGSIEntity]] = [:]
    }

    private let state: Mutex<State>

    init(version: Mark) { state = Mutex(State(version: version)) }

    /// The tenant's entities when the cache holds them as of `mark`.
    func entities(of tenant: Tenant, at mark: Mark) -> [EntityID: NGSIEntity]? {
        state.withLock { $0.version == mark ? $0.tenants[tenant] : nil }
    }

    /// Whether the cache is at `mark` (so a snapshot at `mark` may fill it).
    func isAt(_ mark: Mark) -> Bool { state.withLock { $0.version == mark } }

    /// Keeps a tenant's entities read from a snapshot at `mark`, unless a write moved on meanwhile.
    func fill(_ tenant: Tenant, _ entities: [EntityID: NGSIEntity], at mark: Mark) {
        state.withLock { if $0.version == mark { $0.tenants[tenant] = entities } }
    }

    /// Applies a committed write: each entity's new state (nil: removed), only for tenants held;
    /// with `foreign`, another program wrote before it, so everything held is dropped.
    func apply(_ changes: [(tenant: Tenant, id: EntityID, entity: NGSIEntity?)], version: Mark, foreign: Bool) {
        state.withLock { state in
            if foreign { state.tenants.removeAll() }
            for change in changes where state.tenants[change.tenant] != nil {
                state.tenants[change.tenant]![change.id] = change.entity
            }
            state.version = version
        }
    }
}
