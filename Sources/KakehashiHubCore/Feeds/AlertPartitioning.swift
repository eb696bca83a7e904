import KakehashiAlerts
import KakehashiModel

/// How a hub's alert rules are split when several hubs share one database: the partition of
/// an entity (the same on every hub), how events of a partition are recorded only while this
/// hub holds it, and the stored entities waiting for a partition's owner.
public struct AlertPartitioning: Sendable {
    /// A gateway of a tenant.
    public struct GatewayKey: Sendable, Hashable {
        public let tenant: String
        public let gateway: String

        public init(tenant: String, gateway: String) {
            self.tenant = tenant
            self.gateway = gateway
        }
    }

    /// Of one partition and gateway: every sequence number below `next` was evaluated (or its
    /// gap given up on).
    public struct Cursor: Sendable, Hashable {
        public let partition: Int
        public let gateway: GatewayKey
        public let next: Int64

        public init(partition: Int, gateway: GatewayKey, next: Int64) {
            self.partition = partition
            self.gateway = gateway
            self.next = next
        }
    }

    /// Stored entities of one partition waiting to be evaluated (one storing transaction's).
    public struct Pending: Sendable {
        public let id: Int64
        public let partition: Int
        public let entities: [NGSIEntity]
        public let arrived: Timestamp
        /// The gateway's batch they came in, and its sequence numbers (nil over HTTP).
        public let gateway: GatewayKey?
        public let sequences: ClosedRange<Int64>?
        /// How long they have waited since stored.
        public let age: Duration

        public init(
            id: Int64,
            partition: Int,
            entities: [NGSIEntity],
            arrived: Timestamp,
            gateway: GatewayKey? = nil,
            sequences: ClosedRange<Int64>? = nil,
            age: Duration = .zero
        ) {
            self.id = id
            self.partition = partition
            self.entities = entities
            self.arrived = arrived
            self.gateway = gateway
            self.sequences = sequences
            self.age = age
        }
    }

    /// A gateway batch stored: its sequence numbers and the partitions it has rows for.
    public struct StoredBatch: Sendable, Hashable {
        public let sequences: ClosedRange<Int64>
        public let partitions: Set<Int>

        public init(sequences: ClosedRange<Int64>, partitions: Set<Int>) {
            self.sequences = sequences
            self.partitions = partitions
        }
    }

    /// What ``pending`` reads: the oldest pending entities of some partitions, in the order they
    /// were stored, and the sequence numbers of every batch stored by each of their gateways
    /// (read together, so a stored batch with no row here has nothing for these partitions).
    public struct PendingRead: Sendable {
        public let items: [Pending]
        public let stored: [GatewayKey: [StoredBatch]]

        public init(items: [Pending], stored: [GatewayKey: [StoredBatch]]) {
            self.items = items
            self.stored = stored
        }
    }

    /// The partition of an entity.
    public let partition: @Sendable (EntityID) -> Int
    /// Records events of `partition` if this hub still holds it at `epoch`; nil when it does not.
    public let record: @Sendable (_ events: [AlertEvent], _ partition: Int, _ epoch: Int64) async throws -> [AlertEventRecord]?
    /// The oldest pending entities of `partitions` (at most `limit`), with the batches stored
    /// by their gateways from `from` (each gateway's next expected sequence number) on.
    public let pending: @Sendable (_ partitions: [Int], _ limit: Int, _ from: [GatewayKey: Int64]) async throws -> PendingRead
    /// Forgets pending entities once evaluated, and keeps the cursors moved on.
    public let evaluated: @Sendable (_ ids: [Int64], _ cursors: [Cursor]) async throws -> Void
    /// The cursors of `partitions` (for a hub taking them).
    public let cursors: @Sendable (_ partitions: Set<Int>) async throws -> [Cursor]
    /// The readings of `partitions` already evaluated within `window` (ms) before each watched
    /// entity's newest, oldest first, each with its entity's other attributes (see
    /// `PostgresStore.ruleHistory`): replayed silently, they give a new owner the former
    /// owner's rule state.
    public let history: @Sendable (_ partitions: Set<Int>, _ window: Int64) async throws -> [NGSIEntity]

    public init(
        partition: @escaping @Sendable (EntityID) -> Int,
        record: @escaping @Sendable (_ events: [AlertEvent], _ partition: Int, _ epoch: Int64) async throws -> [AlertEventRecord]?,
        pending: @escaping @Sendable (_ partitions: [Int], _ limit: Int, _ from: [GatewayKey: Int64]) async throws -> PendingRead,
        evaluated: @escaping @Sendable (_ ids: [Int64], _ cursors: [Cursor]) async throws -> Void,
        cursors: @escaping @Sendable (_ partitions: Set<Int>) async throws -> [Cursor],
        history: @escaping @Sendable (_ partitions: Set<Int>, _ window: Int64) async throws -> [NGSIEntity]
    ) {
        self.history = history
        self.cursors = cursors
        self.partition = partition
        self.record = record
        self.pending = pending
        self.evaluated = evaluated
    }
}
