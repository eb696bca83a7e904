import KakehashiHubCore
import KakehashiModel
import Logging
import PostgresNIO

/// Work that must happen once however many hubs run (an entity's alert rules, its clock, its
/// notifications) is split in ``count`` fixed partitions of entities, each held by one hub at a
/// time through a lease row: an owner, an expiry, and an epoch moved at every change of owner.
///
/// Each hub calls ``round()`` every ``ttl``/3: it says it is alive, renews what it holds, takes
/// expired or free partitions up to its fair share (the partitions over the hubs alive), and
/// gives back what is over its share when more hubs came. Taking uses `FOR UPDATE SKIP LOCKED`,
/// so hubs taking at once never wait for each other nor take the same partition. When a hub
/// dies, its leases expire after ``ttl`` and the others take them at their next round. A hub
/// that was paused (a long GC, a frozen VM) and wakes after losing a lease is fenced out:
/// writes for a partition check ``holds(_:epoch:on:)`` in their transaction, and its epoch is no
/// longer the row's. Times are the database's clock, so the hubs' clocks do not matter.
public struct PartitionLeases: Sendable {
    /// Partitions of entities.
    public static let count = 64

    /// The partition of an entity: FNV-1a of its tenant and id (the same on every hub, forever).
    public static func partition(tenant: Tenant, entity: String) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in tenant.name.utf8 + [0] + entity.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return Int(hash % UInt64(count))
    }

    /// What a hub holds after a round: partition → epoch.
    public typealias Holding = [Int: Int64]

    let store: PostgresStore
    /// This hub's name (`instance`).
    public let instance: String
    /// How long a lease lasts without renewal.
    public let ttl: Duration

    public init(store: PostgresStore, instance: String, ttl: Duration = .seconds(10)) {
        self.store = store
        self.instance = instance
        self.ttl = ttl
    }

    private var ttlMilliseconds: Int64 { ttl.components.seconds * 1000 + ttl.components.attoseconds / 1_000_000_000_000_000 }

    /// One round (see the type's description); what this hub holds after it.
    public func round() async throws(StorageError) -> Holding {
        let me = instance, ttl = ttlMilliseconds, logger = store.logger
        return try await store.transaction("renewing the leases of \(me)") { connection in
            let now = "(extract(epoch from clock_timestamp()) * 1000)::int8"
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO hub_instances(instance, seen) VALUES ($1, \(now))
                        ON CONFLICT (instance) DO UPDATE SET seen = excluded.seen
                        """,
                    binds: Self.binds(me)
                ),
                logger: logger
            )
            var alive = 1
            for try await (count, ) in try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT count(*) FROM hub_instances WHERE seen > \(now) - $1", binds: Self.binds(ttl)),
                logger: logger
            ).decode((Int,).self) { alive = max(1, count) }
            var mine = Holding()
            let renewed = try await connection.query(
                PostgresQuery(
                    unsafeSQL: "UPDATE leases SET expires = \(now) + $2 WHERE owner = $1 AND expires > \(now) RETURNING partition, epoch",
                    binds: Self.binds(me, ttl)
                ),
                logger: logger
            )
            for try await (partition, epoch) in renewed.decode((Int, Int64).self) { mine[partition] = epoch }
            let share = (Self.count + alive - 1) / alive
            if mine.count < share {
                let taken = try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            UPDATE leases SET owner = $1, epoch = epoch + 1, expires = \(now) + $2
                            WHERE partition IN (SELECT partition FROM leases WHERE expires <= \(now) ORDER BY partition LIMIT $3 FOR UPDATE SKIP LOCKED)
                            RETURNING partition, epoch
                            """,
                        binds: Self.binds(me, ttl, Int64(share - mine.count))
                    ),
                    logger: logger
                )
                for try await (partition, epoch) in taken.decode((Int, Int64).self) { mine[partition] = epoch }
            } else if mine.count > share {
                // More hubs than when these were taken: give the highest back.
                let extra = mine.keys.sorted().suffix(mine.count - share)
                try await connection.query(
                    PostgresQuery(
                        unsafeSQL: "UPDATE leases SET expires = 0 WHERE owner = $1 AND partition = ANY($2)",
                        binds: Self.binds(me, extra.map { Int64($0) })
                    ),
                    logger: logger
                )
                for partition in extra { mine[partition] = nil }
            }
            return mine
        }
    }

    /// Gives every lease back at once (a hub shutting down), so others need not wait for expiry.
    public func releaseAll() async throws(StorageError) {
        let me = instance, logger = store.logger
        _ = try await store.transaction("releasing the leases of \(me)") { connection in
            try await connection.query(
                PostgresQuery(unsafeSQL: "UPDATE leases SET expires = 0 WHERE owner = $1", binds: Self.binds(me)),
                logger: logger
            )
            try await connection.query(
                PostgresQuery(unsafeSQL: "DELETE FROM hub_instances WHERE instance = $1", binds: Self.binds(me)),
                logger: logger
            )
            return true
        }
    }

    /// Whether this hub still holds `partition` at `epoch` (in a write's transaction: the row is
    /// locked against a change of owner until it commits). A fenced-out write aborts.
    public func holds(_ partition: Int, epoch: Int64, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT 1 FROM leases WHERE partition = $1 AND owner = $2 AND epoch = $3
                      AND expires > (extract(epoch from clock_timestamp()) * 1000)::int8 FOR SHARE
                    """,
                binds: Self.binds(Int64(partition), instance, epoch)
            ),
            logger: store.logger
        )
        for try await _ in rows { return true }
        return false
    }

    /// Whether this hub holds `partition` at `epoch` now (its own transaction).
    public func stillHolds(_ partition: Int, epoch: Int64) async throws(StorageError) -> Bool {
        try await store.transaction("checking lease \(partition)") { connection in try await holds(partition, epoch: epoch, on: connection) }
    }

    private static func binds(_ values: any PostgresEncodable & Sendable...) -> PostgresBindings {
        var binds = PostgresBindings()
        for value in values { try? binds.append(value, context: .default) }
        return binds
    }
}
