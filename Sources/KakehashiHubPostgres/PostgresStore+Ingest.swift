import KakehashiHubCore
import KakehashiModel
import PostgresNIO

extension PostgresStore {
    /// Stores a batch in one transaction (see the type's description): series made when new,
    /// readings inserted once, hour rollups fed by the rows inserted, entities merged under
    /// their row locks, the gateway's progress. Each step is one statement over arrays
    /// (`unnest`), however many readings the batch holds.
    public func ingest(_ batch: IngestBatch) async throws(StorageError) -> IngestResult {
        let plan = IngestPlan(batch)
        let operation = "storing a batch of \(batch.tenant)/\(batch.gateway?.rawValue ?? "http")"
        do {
            try await ensurePartitions(for: plan.readings.map(\.observedAt.millisecondsSinceEpoch))
        } catch {
            throw StorageError(operation, cause: Self.describe(error))
        }
        return try await transaction(operation) { connection in
            try await self.ingest(batch, plan: plan, on: connection)
        }
    }

    private func ingest(_ batch: IngestBatch, plan: IngestPlan, on connection: PostgresConnection) async throws -> IngestResult {
        var result = IngestResult()
        result.expired = plan.expired
        // Entities with a reading stored for the first time (the rules see only those again).
        var renewed = Set<EntityID>()
        let tenant = batch.tenant.name
        let received = batch.receivedAt.millisecondsSinceEpoch
        let seriesIDs = try await seriesIDs(plan.series, tenant: tenant, on: connection)

        // Readings: each (series, t) once; what the insert returns is what is new.
        if !plan.readings.isEmpty {
            var series = [Int64](), times = [Int64](), kinds = [Int16](), numbers = [Double](), texts = [String]()
            for reading in plan.readings {
                series.append(seriesIDs[reading.series])
                times.append(reading.observedAt.millisecondsSinceEpoch)
                switch reading.value {
                case .number(let value):
                    kinds.append(PostgresSchema.Kind.number.rawValue)
                    numbers.append(value)
                    texts.append("")
                case .boolean(let flag):
                    kinds.append(PostgresSchema.Kind.boolean.rawValue)
                    numbers.append(flag ? 1 : 0)
                    texts.append("")
                case .text(let text):
                    kinds.append(PostgresSchema.Kind.text.rawValue)
                    numbers.append(0)
                    texts.append(text)
                }
            }
            // In key order, as every hub inserts: two batches with readings in common wait for
            // each other in one order, never in a cycle.
            let rows = try await connection.query(
                """
                INSERT INTO observations(series, t, num, txt, received)
                SELECT s, t, CASE WHEN k = 1 THEN NULL ELSE n END, CASE WHEN k = 1 THEN x END, \(received)
                FROM unnest(\(series)::int8[], \(times)::int8[], \(kinds)::int2[], \(numbers)::float8[], \(texts)::text[]) AS u(s, t, k, n, x)
                ORDER BY s, t
                ON CONFLICT (series, t) DO NOTHING RETURNING series, t
                """,
                logger: logger
            )
            var new = Set<Pair>()
            for try await (s, t) in rows.decode((Int64, Int64).self) { new.insert(Pair(s, t)) }
            var inserted = [Bool]()
            inserted.reserveCapacity(plan.readings.count)
            for index in plan.readings.indices {
                // The first of equal readings in the batch is the one inserted.
                let isNew = new.remove(Pair(series[index], times[index])) != nil
                inserted.append(isNew)
                if isNew { renewed.insert(plan.series[plan.readings[index].series].key.entity) }
                if isNew { result.stored += 1 } else { result.duplicates += 1 }
            }
            try await addRollups(plan.rollups(inserted: inserted, resolutions: [.hour]), seriesIDs: seriesIDs, on: connection)
        }

        // Entities: made when missing (an insert that does nothing when another hub made it
        // first, waiting for that one to commit), then locked in id order and merged.
        if !plan.changes.isEmpty {
            var ids = [String]()
            var types = [String: String]()
            for change in plan.changes where types[change.id.rawValue] == nil {
                types[change.id.rawValue] = change.id.type
                ids.append(change.id.rawValue)
            }
            let sorted = ids.sorted()
            let typesSorted = sorted.map { types[$0] ?? "" }
            var created = Set<String>()
            let made = try await connection.query(
                """
                INSERT INTO entities(tenant, id, type, body, created, modified)
                SELECT \(tenant), i, ty, '', \(received), \(received) FROM unnest(\(sorted)::text[], \(typesSorted)::text[]) AS u(i, ty)
                ORDER BY i
                ON CONFLICT (tenant, id) DO NOTHING RETURNING id
                """,
                logger: logger
            )
            for try await (id, ) in made.decode((String,).self) { created.insert(id) }
            var states = [String: EntityState]()
            let locked = try await connection.query(
                "SELECT id, body FROM entities WHERE tenant = \(tenant) AND id = ANY(\(sorted)::text[]) ORDER BY id FOR UPDATE",
                logger: logger
            )
            for try await (id, body) in locked.decode((String, String).self) where !created.contains(id) {
                states[id] = EntityState(try NGSIEntity(bytes: Array(body.utf8), form: .normalized, tenant: batch.tenant))
            }
            var seen = Set<String>()
            for change in plan.changes {
                let id = change.id.rawValue
                if seen.insert(id).inserted && created.contains(id) {
                    result.created.append(change.id)
                    states[id] = EntityState(try NGSIEntity(id: change.id))
                } else {
                    result.updated.append(change.id)
                    if states[id] == nil { states[id] = EntityState(try NGSIEntity(id: change.id)) }
                }
                change.merge(into: &states[id]!)
            }
            var bodies = [String](), latitudes = [Double](), longitudes = [Double]()
            for id in sorted {
                let state = states[id]!
                bodies.append(String(decoding: state.body, as: UTF8.self))
                let location = try? state.entity.location()
                latitudes.append(location?.latitude ?? .nan)
                longitudes.append(location?.longitude ?? .nan)
            }
            try await connection.query(
                """
                UPDATE entities SET body = u.b, latitude = NULLIF(u.la, 'NaN'), longitude = NULLIF(u.lo, 'NaN'), modified = \(received)
                FROM unnest(\(sorted)::text[], \(bodies)::text[], \(latitudes)::float8[], \(longitudes)::float8[]) AS u(i, b, la, lo)
                WHERE entities.tenant = \(tenant) AND entities.id = u.i
                """,
                logger: logger
            )
        }

        try await putInInbox(batch, renewed: renewed, on: connection)

        if let gateway = batch.gateway {
            let sequence = Int64(batch.highestSequence ?? 0)
            try await connection.query(
                """
                INSERT INTO gateways(tenant, gateway, last_sequence, batches, last_seen) VALUES (\(tenant), \(gateway.rawValue), \(sequence), 1, \(received))
                ON CONFLICT (tenant, gateway) DO UPDATE SET last_sequence = greatest(gateways.last_sequence, excluded.last_sequence),
                  batches = gateways.batches + 1, last_seen = excluded.last_seen
                """,
                logger: logger
            )
        }
        return result
    }

    /// The ids of `series` (made when new), in the plan's order.
    private func seriesIDs(_ series: [IngestPlan.Series], tenant: String, on connection: PostgresConnection) async throws -> [Int64] {
        guard !series.isEmpty else { return [] }
        var entities = [String](), types = [String](), attributes = [String](), kinds = [Int16](), units = [String]()
        for item in series {
            entities.append(item.key.entity.rawValue)
            types.append(item.key.entity.type)
            attributes.append(item.key.attribute)
            switch item.value {
            case .number: kinds.append(PostgresSchema.Kind.number.rawValue)
            case .text: kinds.append(PostgresSchema.Kind.text.rawValue)
            case .boolean: kinds.append(PostgresSchema.Kind.boolean.rawValue)
            }
            units.append(item.unit?.code ?? "")
        }
        try await connection.query(
            """
            INSERT INTO series(tenant, entity, type, attribute, kind, unit)
            SELECT \(tenant), e, ty, a, k, NULLIF(un, '')
            FROM unnest(\(entities)::text[], \(types)::text[], \(attributes)::text[], \(kinds)::int2[], \(units)::text[]) AS u(e, ty, a, k, un)
            ORDER BY e, a
            ON CONFLICT (tenant, entity, attribute) DO NOTHING
            """,
            logger: logger
        )
        var found = [Pair2: Int64]()
        let rows = try await connection.query(
            """
            SELECT s.id, s.entity, s.attribute FROM series s
            JOIN unnest(\(entities)::text[], \(attributes)::text[]) AS u(e, a) ON s.entity = u.e AND s.attribute = u.a
            WHERE s.tenant = \(tenant)
            """,
            logger: logger
        )
        for try await (id, entity, attribute) in rows.decode((Int64, String, String).self) { found[Pair2(entity, attribute)] = id }
        return try series.map { item in
            guard let id = found[Pair2(item.key.entity.rawValue, item.key.attribute)] else {
                throw PostgresStoreError("series \(item.key.entity.rawValue)/\(item.key.attribute) was not made")
            }
            return id
        }
    }

    /// Adds `rollups` (of the rows just inserted) to the stored ones.
    private func addRollups(
        _ rollups: [IngestPlan.RollupKey: Aggregate],
        seriesIDs: [Int64],
        on connection: PostgresConnection
    ) async throws {
        guard !rollups.isEmpty else { return }
        var series = [Int64](), resolutions = [Int64](), buckets = [Int64](), counts = [Int64]()
        var minimums = [Double](), maximums = [Double](), sums = [Double]()
        // In key order (see the readings' insert).
        let keyed = rollups.map { (series: seriesIDs[$0.key.series], key: $0.key, aggregate: $0.value) }
        for (id, key, aggregate) in keyed.sorted(by: {
            ($0.series, $0.key.resolution.milliseconds, $0.key.bucket) < ($1.series, $1.key.resolution.milliseconds, $1.key.bucket)
        }) {
            series.append(id)
            resolutions.append(key.resolution.milliseconds)
            buckets.append(key.bucket)
            counts.append(aggregate.count)
            minimums.append(aggregate.min)
            maximums.append(aggregate.max)
            sums.append(aggregate.sum)
        }
        try await connection.query(
            """
            INSERT INTO rollups(series, resolution, bucket, n, mn, mx, sm)
            SELECT * FROM unnest(\(series)::int8[], \(resolutions)::int8[], \(buckets)::int8[], \(counts)::int8[],
              \(minimums)::float8[], \(maximums)::float8[], \(sums)::float8[]) AS u(s, r, b, n, mn, mx, sm)
            ORDER BY s, r, b
            ON CONFLICT (series, resolution, bucket) DO UPDATE SET n = rollups.n + excluded.n,
              mn = least(rollups.mn, excluded.mn), mx = greatest(rollups.mx, excluded.mx), sm = rollups.sm + excluded.sm
            """,
            logger: logger
        )
    }
}

/// A series and a time.
struct Pair: Hashable {
    let series: Int64
    let t: Int64
    init(_ series: Int64, _ t: Int64) {
        self.series = series
        self.t = t
    }
}

/// An entity and an attribute.
struct Pair2: Hashable {
    let entity: String
    let attribute: String
    init(_ entity: String, _ attribute: String) {
        self.entity = entity
        self.attribute = attribute
    }
}

/// A store invariant that did not hold.
struct PostgresStoreError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
