import KakehashiHubCore
import KakehashiModel
import PostgresNIO

/// Stored entities waiting for the alert rules of the hub that holds their partition.
public struct AlertInboxItem: Sendable {
    /// The row (deleted once evaluated).
    public let id: Int64
    /// The entities' partition (see ``PartitionLeases/partition(tenant:entity:)``).
    public let partition: Int
    public let tenant: Tenant
    /// The gateway that sent them and the sequence numbers of its batch (nil over HTTP).
    public let gateway: String?
    public let lowest: Int64?
    public let highest: Int64?
    /// How long ago (ms, the database's clock) the row was stored.
    public let age: Int64
    /// When the hub that stored them received them.
    public let arrived: Timestamp
    public let entities: [NGSIEntity]
}

/// A write allowed only while this hub holds a partition at the epoch it took it with (a hub
/// that was paused past its lease is refused, see ``PartitionLeases``).
public struct LeaseFence: Sendable, Hashable {
    public let instance: String
    public let partition: Int
    public let epoch: Int64

    public init(instance: String, partition: Int, epoch: Int64) {
        self.instance = instance
        self.partition = partition
        self.epoch = epoch
    }
}

extension PostgresStore {
    /// In the storing transaction: the batch's entities that rules watch and that had a reading
    /// stored for the first time (`renewed`: a batch sent again is not evaluated again), one row
    /// per partition, and the batch's sequence numbers (even when it has nothing the rules watch).
    func putInInbox(_ batch: IngestBatch, renewed: Set<EntityID>, on connection: PostgresConnection) async throws {
        guard let watched = settings.watchedTypes[batch.tenant], !watched.isEmpty else { return }
        let tenant = batch.tenant.name
        let gateway = batch.gateway?.rawValue
        let lowest = batch.lowestSequence.map { Int64(clamping: $0) }
        let highest = batch.highestSequence.map { Int64(clamping: $0) }
        var byPartition = [Int: [NGSIEntity]]()
        for entity in batch.entities where watched.contains(entity.id.type) && renewed.contains(entity.id) {
            byPartition[PartitionLeases.partition(tenant: batch.tenant, entity: entity.id.rawValue), default: []].append(entity)
        }
        var partitions = [Int32](), bodies = [String]()
        for (partition, entities) in byPartition.sorted(by: { $0.key < $1.key }) {
            partitions.append(Int32(partition))
            let array = JSONValue.array(entities.map { $0.json(.normalized) })
            bodies.append(String(decoding: array.serialized(), as: UTF8.self))
        }
        if let gateway, let lowest, let highest {
            try await connection.query(
                """
                INSERT INTO alert_sequences(tenant, gateway, lowest, highest, partitions)
                VALUES (\(tenant), \(gateway), \(lowest), \(highest), \(partitions)::int4[])
                ON CONFLICT DO NOTHING
                """,
                logger: logger
            )
        }
        guard !partitions.isEmpty else { return }
        let arrived = batch.receivedAt.millisecondsSinceEpoch
        try await connection.query(
            """
            INSERT INTO alert_inbox(partition, tenant, gateway, lowest, highest, arrived, entities)
            SELECT p, \(tenant), \(gateway), \(lowest), \(highest), \(arrived), e FROM unnest(\(partitions)::int4[], \(bodies)::text[]) AS u(p, e)
            """,
            logger: logger
        )
    }

    /// The waiting rows of `partitions` (at most `limit`): the lowest in sequence of each
    /// partition and gateway first (the one a partition's rules wait for is always among them),
    /// then the next of each, and so on, in the order they were written; and, read in the same snapshot, the sequence numbers of the batches stored for
    /// each gateway they come from, from `from` (that gateway's next expected, or the lowest of
    /// its rows here) on: a batch stored there whose rows are not here had nothing for these
    /// partitions.
    public func inbox(
        partitions: [Int],
        limit: Int,
        from: [AlertPartitioning.GatewayKey: Int64]
    ) async throws(StorageError) -> (items: [AlertInboxItem], stored: [AlertPartitioning.GatewayKey: [AlertPartitioning.StoredBatch]]) {
        guard !partitions.isEmpty else { return ([], [:]) }
        let wanted = partitions.map { Int32($0) }
        let logger = self.logger
        let (rows, ranges) = try await transaction("reading the alert inbox") { connection in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            var rows = [(Int64, Int32, String, String?, Int64?, Int64?, Int64, Int64, String)]()
            let result = try await connection.query(
                """
                SELECT id, partition, tenant, gateway, lowest, highest, arrived, (extract(epoch from clock_timestamp()) * 1000)::int8 - stored, entities
                FROM (
                    SELECT *, row_number() OVER (PARTITION BY partition, tenant, gateway ORDER BY coalesce(lowest, 0), id) AS rank
                    FROM alert_inbox WHERE partition = ANY(\(wanted)::int4[])
                ) AS waiting
                ORDER BY rank, id LIMIT \(Int64(limit))
                """,
                logger: logger
            )
            for try await row in result.decode((Int64, Int32, String, String?, Int64?, Int64?, Int64, Int64, String).self) { rows.append(row) }
            // Where each gateway's ranges are wanted from.
            var starts = [AlertPartitioning.GatewayKey: Int64]()
            for row in rows {
                guard let gateway = row.3, let lowest = row.4 else { continue }
                let key = AlertPartitioning.GatewayKey(tenant: row.2, gateway: gateway)
                starts[key] = min(starts[key] ?? lowest, from[key] ?? lowest, lowest)
            }
            var ranges = [AlertPartitioning.GatewayKey: [AlertPartitioning.StoredBatch]]()
            if !starts.isEmpty {
                let keys = Array(starts.keys)
                let tenants = keys.map(\.tenant), gateways = keys.map(\.gateway), froms = keys.map { starts[$0]! }
                let stored = try await connection.query(
                    """
                    SELECT s.tenant, s.gateway, s.lowest, s.highest, s.partitions
                    FROM unnest(\(tenants)::text[], \(gateways)::text[], \(froms)::int8[]) AS u(t, g, f)
                    JOIN alert_sequences s ON s.tenant = u.t AND s.gateway = u.g AND s.highest >= u.f
                    """,
                    logger: logger
                )
                for try await (tenant, gateway, lowest, highest, partitions) in stored.decode((String, String, Int64, Int64, [Int32]).self)
                where lowest <= highest {
                    ranges[AlertPartitioning.GatewayKey(tenant: tenant, gateway: gateway), default: []].append(
                        AlertPartitioning.StoredBatch(sequences: lowest...highest, partitions: Set(partitions.map { Int($0) }))
                    )
                }
            }
            return (rows, ranges)
        }
        var items = [AlertInboxItem]()
        for (id, partition, tenantName, gateway, lowest, highest, arrived, age, body) in rows {
            var entities = [NGSIEntity]()
            guard let tenant = try? Tenant(tenantName), case .array(let values)? = try? JSONValue(parsing: Array(body.utf8)) else {
                logger.error("an alert inbox row could not be read; it is left out", metadata: ["id": "\(id)"])
                continue
            }
            for value in values {
                do throws(ModelError) {
                    entities.append(try NGSIEntity(json: value, form: .normalized, tenant: tenant))
                } catch {
                    logger.error("an entity of an alert inbox row could not be read; it is left out", metadata: ["id": "\(id)", "error": "\(error)"])
                }
            }
            items.append(
                AlertInboxItem(
                    id: id,
                    partition: Int(partition),
                    tenant: tenant,
                    gateway: gateway,
                    lowest: lowest,
                    highest: highest,
                    age: age,
                    arrived: Timestamp(millisecondsSinceEpoch: arrived),
                    entities: entities
                )
            )
        }
        return (items, ranges)
    }

    /// Deletes evaluated inbox rows and moves the partitions' cursors on, in one transaction.
    public func removeFromInbox(_ ids: [Int64], cursors: [AlertPartitioning.Cursor] = []) async throws(StorageError) {
        guard !ids.isEmpty || !cursors.isEmpty else { return }
        let logger = self.logger
        _ = try await transaction("removing \(ids.count) evaluated inbox rows") { connection in
            if !ids.isEmpty {
                try await connection.query("DELETE FROM alert_inbox WHERE id = ANY(\(ids)::int8[])", logger: logger)
            }
            if !cursors.isEmpty {
                let sorted = cursors.sorted {
                    ($0.partition, $0.gateway.tenant, $0.gateway.gateway) < ($1.partition, $1.gateway.tenant, $1.gateway.gateway)
                }
                let partitions = sorted.map { Int32($0.partition) }, tenants = sorted.map(\.gateway.tenant)
                let gateways = sorted.map(\.gateway.gateway), nexts = sorted.map(\.next)
                try await connection.query(
                    """
                    INSERT INTO alert_cursors(partition, tenant, gateway, next)
                    SELECT * FROM unnest(\(partitions)::int4[], \(tenants)::text[], \(gateways)::text[], \(nexts)::int8[])
                    ON CONFLICT (partition, tenant, gateway) DO UPDATE SET next = greatest(alert_cursors.next, excluded.next)
                    """,
                    logger: logger
                )
            }
            return true
        }
    }

    /// The cursors of `partitions` (see `alert_cursors`).
    public func cursors(partitions: Set<Int>) async throws(StorageError) -> [AlertPartitioning.Cursor] {
        guard !partitions.isEmpty else { return [] }
        let wanted = partitions.map { Int32($0) }
        return try await reading("reading the alert cursors") { connection in
            var cursors = [AlertPartitioning.Cursor]()
            let rows = try await connection.query(
                "SELECT partition, tenant, gateway, next FROM alert_cursors WHERE partition = ANY(\(wanted)::int4[])",
                logger: logger
            )
            for try await (partition, tenant, gateway, next) in rows.decode((Int32, String, String, Int64).self) {
                cursors.append(AlertPartitioning.Cursor(partition: Int(partition), gateway: .init(tenant: tenant, gateway: gateway), next: next))
            }
            return cursors
        }
    }

    /// Rows waiting in the inbox (all partitions).
    public func inboxDepth() async throws(StorageError) -> Int {
        try await reading("counting the alert inbox") { connection in
            var count = 0
            for try await (n, ) in try await connection.query("SELECT count(*) FROM alert_inbox", logger: logger).decode((Int,).self) { count = n }
            return count
        }
    }
}

extension PostgresStore {
    /// What the rules of `partitions` have evaluated, for a hub taking them over: for every
    /// watched entity of those partitions, its stored readings of the last `window` (ms, before
    /// its newest) that are not waiting in `alert_inbox`, as one fragment per time, oldest first,
    /// each with the entity's other attributes (levels, location). Read in one snapshot, so a
    /// reading is either here (its events were stored by the former owner) or in the inbox (it
    /// is evaluated after). Every watched entity has at least its newest reading here or there.
    public func ruleHistory(partitions: Set<Int>, watched: [Tenant: Set<String>], window: Int64) async throws(StorageError) -> [NGSIEntity] {
        guard !partitions.isEmpty, !watched.isEmpty else { return [] }
        let logger = self.logger
        return try await transaction("reading the rules' history of \(partitions.count) partitions") { connection in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            // Readings still waiting: entity, attribute and time.
            var pending = Set<String>()
            let wanted = partitions.map { Int32($0) }
            let inboxRows = try await connection.query(
                "SELECT tenant, entities FROM alert_inbox WHERE partition = ANY(\(wanted)::int4[])",
                logger: logger
            )
            for try await (tenantName, body) in inboxRows.decode((String, String).self) {
                guard let tenant = try? Tenant(tenantName), case .array(let values)? = try? JSONValue(parsing: Array(body.utf8)) else { continue }
                for value in values {
                    guard let entity = try? NGSIEntity(json: value, form: .normalized, tenant: tenant) else { continue }
                    for (name, attribute) in entity.attributes {
                        guard let at = attribute.observedAt else { continue }
                        pending.insert(Self.readingKey(tenant, entity.id.rawValue, name, at.millisecondsSinceEpoch))
                    }
                }
            }
            var fragments = [NGSIEntity]()
            for (tenant, types) in watched.sorted(by: { $0.key.name < $1.key.name }) {
                // The latest state of each watched entity of the partitions.
                var latest = [String: NGSIEntity]()
                let rows = try await connection.query(
                    "SELECT id, body FROM entities WHERE tenant = \(tenant.name) AND type = ANY(\(Array(types))::text[])",
                    logger: logger
                )
                for try await (id, body) in rows.decode((String, String).self)
                where partitions.contains(PartitionLeases.partition(tenant: tenant, entity: id)) {
                    latest[id] = try? NGSIEntity(bytes: Array(body.utf8), form: .normalized, tenant: tenant)
                }
                guard !latest.isEmpty else { continue }
                // Their readings within the window before each one's newest.
                var readings = [String: [Int64: [String: NGSIAttribute]]]()
                let history = try await connection.query(
                    """
                    WITH s AS (SELECT id, entity, attribute, kind, unit FROM series WHERE tenant = \(tenant.name) AND entity = ANY(\(Array(latest.keys))::text[])),
                         newest AS (SELECT s.entity, max(o.t) AS t FROM s JOIN observations o ON o.series = s.id GROUP BY s.entity)
                    SELECT s.entity, s.attribute, s.kind, s.unit, o.t, o.num, o.txt
                    FROM s JOIN newest n ON n.entity = s.entity JOIN observations o ON o.series = s.id AND o.t >= n.t - \(window)
                    ORDER BY o.t
                    """,
                    logger: logger
                )
                for try await (entity, attribute, kind, unit, t, number, text) in history.decode(
                    (String, String, Int16, String?, Int64, Double?, String?).self
                ) {
                    guard !pending.contains(Self.readingKey(tenant, entity, attribute, t)) else { continue }
                    let value: PropertyValue
                    switch PostgresSchema.Kind(rawValue: kind) ?? .number {
                    case .number: value = .number(number ?? 0)
                    case .boolean: value = .boolean((number ?? 0) != 0)
                    case .text: value = .text(text ?? "")
                    }
                    let property = NGSIProperty(
                        value,
                        unitCode: unit.flatMap { try? MeasurementUnit(code: $0) },
                        observedAt: Timestamp(millisecondsSinceEpoch: t)
                    )
                    readings[entity, default: [:]][t, default: [:]][attribute] = .property(property)
                }
                for (id, state) in latest.sorted(by: { $0.key < $1.key }) {
                    let temporal = Set((readings[id] ?? [:]).values.flatMap(\.keys))
                    let others = state.attributes.filter { !temporal.contains($0.key) && $0.value.observedAt == nil }
                    for (_, attributes) in (readings[id] ?? [:]).sorted(by: { $0.key < $1.key }) {
                        if let fragment = try? NGSIEntity(id: state.id, attributes: others.merging(attributes) { _, reading in reading }) {
                            fragments.append(fragment)
                        }
                    }
                }
            }
            return fragments
        }
    }

    private static func readingKey(_ tenant: Tenant, _ entity: String, _ attribute: String, _ t: Int64) -> String {
        "\(tenant.name)\u{0}\(entity)\u{0}\(attribute)\u{0}\(t)"
    }
}
