import KakehashiHubCore
import KakehashiModel
import KakehashiSQLite

extension SQLiteStore {
    public func entities(tenant: Tenant, types: Set<String>?, ids: Set<EntityID>?) async throws(StorageError) -> [NGSIEntity] {
        if types?.isEmpty == true || ids?.isEmpty == true { return [] }
        return try read("reading entities of \(tenant)") { db in
            try db.execute("BEGIN")
            defer { try? db.execute("COMMIT") }
            let mark = try SQLiteStoreWriter.mark(try db.prepare("SELECT token, n FROM writer_mark WHERE id = 1"))
            var held = cache.entities(of: tenant, at: mark)
            if held == nil, cache.isAt(mark) {
                // The first query of the tenant reads all its entities once, from this snapshot.
                let all = try Self.selectEntities(db, tenant: tenant, types: nil, ids: nil)
                let keyed = Dictionary(all.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
                cache.fill(tenant, keyed, at: mark)
                held = keyed
            }
            guard let held else { return try Self.selectEntities(db, tenant: tenant, types: types, ids: ids) }
            var chosen = [NGSIEntity]()
            if let ids {
                // Already in id order (sorting the ids moves strings, not entities).
                chosen = ids.sorted { $0.rawValue < $1.rawValue }.compactMap { held[$0.inTenant(tenant)] }
                if let types { chosen.removeAll { !types.contains($0.type) } }
                return chosen
            } else if let types {
                chosen = held.values.filter { types.contains($0.type) }
            } else {
                chosen = Array(held.values)
            }
            return chosen.sorted { $0.id.rawValue < $1.id.rawValue }
        }
    }

    /// Entities from the database (by type and id), by id order.
    static func selectEntities(_ db: SQLiteConnection, tenant: Tenant, types: Set<String>?, ids: Set<EntityID>?) throws -> [NGSIEntity] {
        var sql = "SELECT body FROM entities WHERE tenant = ?1"
        var binds = [String]()
        if let types {
            sql += " AND type IN (" + types.indices.map { _ in "?" }.joined(separator: ",") + ")"
            binds += types.sorted()
        }
        if let ids {
            sql += " AND id IN (" + ids.indices.map { _ in "?" }.joined(separator: ",") + ")"
            binds += ids.map(\.rawValue).sorted()
        }
        sql += " ORDER BY id"
        let statement = try db.prepare(sql)
        try statement.bind(1, tenant.name)
        for (offset, value) in binds.enumerated() { try statement.bind(Int32(offset + 2), value) }
        var result = [NGSIEntity]()
        while try statement.step() {
            result.append(try NGSIEntity(bytes: statement.bytes(0), form: .normalized, tenant: tenant))
        }
        return result
    }

    public func systemTimes(tenant: Tenant, ids: [EntityID]) async throws(StorageError) -> [EntityID: EntitySystemTimes] {
        guard !ids.isEmpty else { return [:] }
        return try read("reading the system times of \(ids.count) entities of \(tenant)") { db in
            let statement = try db.prepare("SELECT created, modified FROM entities WHERE tenant = ? AND id = ?")
            var result = [EntityID: EntitySystemTimes]()
            for id in ids {
                try statement.bind(1, tenant.name)
                try statement.bind(2, id.rawValue)
                if try statement.step() {
                    result[id] = EntitySystemTimes(
                        createdAt: statement.isNull(0) ? nil : Timestamp(millisecondsSinceEpoch: statement.int64(0)),
                        modifiedAt: Timestamp(millisecondsSinceEpoch: statement.int64(1))
                    )
                }
                statement.reset()
            }
            return result
        }
    }

    public func entity(tenant: Tenant, id: EntityID) async throws(StorageError) -> NGSIEntity? {
        try read("reading entity \(id)") { db in
            try db.execute("BEGIN")
            defer { try? db.execute("COMMIT") }
            let mark = try SQLiteStoreWriter.mark(try db.prepare("SELECT token, n FROM writer_mark WHERE id = 1"))
            if let held = cache.entities(of: tenant, at: mark) { return held[id.inTenant(tenant)] }
            let statement = try db.prepare("SELECT body FROM entities WHERE tenant = ? AND id = ?")
            try statement.bind(1, tenant.name)
            try statement.bind(2, id.rawValue)
            guard try statement.step() else { return nil }
            return try NGSIEntity(bytes: statement.bytes(0), form: .normalized, tenant: tenant)
        }
    }

    public func series(tenant: Tenant, entity: EntityID) async throws(StorageError) -> [SeriesInfo] {
        try read("reading the series of \(entity)") { db in
            let statement = try db.prepare("SELECT attribute, kind, unit, type FROM series WHERE tenant = ? AND entity = ? ORDER BY attribute")
            try statement.bind(1, tenant.name)
            try statement.bind(2, entity.rawValue)
            var result = [SeriesInfo]()
            while try statement.step() {
                let unit = statement.string(2).flatMap { try? MeasurementUnit(code: $0) }
                result.append(
                    SeriesInfo(
                        attribute: statement.string(0) ?? "",
                        unitCode: unit,
                        numeric: statement.int(1) == SQLiteStoreSchema.Kind.number.rawValue,
                        entityType: statement.string(3)
                    )
                )
            }
            return result
        }
    }

    public func observations(
        tenant: Tenant,
        entity: EntityID,
        attribute: String,
        range: TimeRange,
        lastN: Int?,
        limit: Int
    ) async throws(StorageError) -> [StoredValue] {
        try read("reading \(attribute) of \(entity)") { db in
            guard let (series, kind) = try Self.seriesID(db, tenant: tenant, entity: entity, attribute: attribute) else { return [] }
            let newestFirst = lastN != nil
            let statement = try db.prepare(
                "SELECT t, num, txt FROM observations WHERE series = ? AND t >= ? AND t < ? ORDER BY t \(newestFirst ? "DESC" : "ASC") LIMIT ?"
            )
            try statement.bind(1, series)
            try statement.bind(2, range.from?.millisecondsSinceEpoch ?? Int64.min)
            try statement.bind(3, range.to?.millisecondsSinceEpoch ?? Int64.max)
            try statement.bind(4, min(limit, lastN ?? Int.max))
            var values = [StoredValue]()
            while try statement.step() {
                let t = Timestamp(millisecondsSinceEpoch: statement.int64(0))
                let value: PropertyValue
                if let text = statement.string(2) {
                    value = .text(text)
                } else if kind == .boolean {
                    value = .boolean(statement.int64(1) != 0)
                } else {
                    value = .number(statement.double(1))
                }
                values.append(StoredValue(observedAt: t, value: value))
            }
            return newestFirst ? values.reversed() : values
        }
    }

    public func rollups(
        tenant: Tenant,
        entity: EntityID,
        attribute: String,
        resolution: RollupResolution,
        range: TimeRange
    ) async throws(StorageError) -> [RollupBucket] {
        try read("reading \(resolution) rollups of \(attribute) of \(entity)") { db in
            guard let (series, _) = try Self.seriesID(db, tenant: tenant, entity: entity, attribute: attribute) else { return [] }
            let from = range.from?.millisecondsSinceEpoch ?? Int64.min
            let to = range.to?.millisecondsSinceEpoch ?? Int64.max
            let statement: SQLiteStatement
            if SQLiteStoreSchema.eagerRollups.contains(resolution) {
                statement = try db.prepare(
                    "SELECT bucket, n, mn, mx, sm FROM rollups WHERE series = ? AND resolution = ? AND bucket >= ? AND bucket < ? ORDER BY bucket"
                )
                try statement.bind(1, series)
                try statement.bind(2, resolution.milliseconds)
                try statement.bind(3, from)
                try statement.bind(4, to)
            } else {
                // Rolled-up minutes (raw rows gone) and minutes computed from the raw rows left.
                // A bucket starts in the range when its first millisecond is at or after the
                // aligned-up `from` and before the aligned-up `to`.
                statement = try db.prepare(
                    """
                    SELECT bucket, n, mn, mx, sm FROM rollups WHERE series = ?1 AND resolution = ?2 AND bucket >= ?3 AND bucket < ?4
                    UNION ALL
                    SELECT \(SQLiteStoreSchema.minuteBucket) AS b, count(num), min(num), max(num), sum(num) FROM observations
                    WHERE series = ?1 AND t >= ?5 AND t < ?6 AND num IS NOT NULL GROUP BY b
                    ORDER BY 1
                    """
                )
                try statement.bind(1, series)
                try statement.bind(2, resolution.milliseconds)
                try statement.bind(3, from)
                try statement.bind(4, to)
                try statement.bind(5, resolution.alignUp(from))
                try statement.bind(6, resolution.alignUp(to))
            }
            var buckets = [RollupBucket]()
            while try statement.step() {
                let bucket = RollupBucket(
                    start: Timestamp(millisecondsSinceEpoch: statement.int64(0)),
                    aggregate: Aggregate(count: statement.int64(1), min: statement.double(2), max: statement.double(3), sum: statement.double(4))
                )
                if let last = buckets.last, last.start == bucket.start {
                    buckets[buckets.count - 1].aggregate.merge(bucket.aggregate)
                } else {
                    buckets.append(bucket)
                }
            }
            return buckets
        }
    }

    public func deadLetters(limit: Int) async throws(StorageError) -> [HubDeadLetter] {
        try read("reading dead letters") { db in
            let statement = try db.prepare(
                "SELECT id, received, source, tenant, reason, detail, payload, size FROM deadletters ORDER BY id DESC LIMIT ?"
            )
            try statement.bind(1, limit)
            var letters = [HubDeadLetter]()
            while try statement.step() {
                letters.append(
                    HubDeadLetter(
                        id: statement.int64(0),
                        receivedAt: Timestamp(millisecondsSinceEpoch: statement.int64(1)),
                        source: statement.string(2) ?? "",
                        tenant: statement.string(3),
                        reason: statement.string(4) ?? "",
                        detail: statement.string(5) ?? "",
                        payload: statement.bytes(6),
                        size: statement.int(7)
                    )
                )
            }
            return letters
        }
    }

    public func statistics() async throws(StorageError) -> StoreStatistics {
        try read("counting rows") { db in
            var statistics = StoreStatistics()
            statistics.entities = Int(try db.scalar("SELECT count(*) FROM entities") ?? 0)
            statistics.series = Int(try db.scalar("SELECT count(*) FROM series") ?? 0)
            statistics.observations = Int(try db.scalar("SELECT count(*) FROM observations") ?? 0)
            statistics.deadLetters = Int(try db.scalar("SELECT count(*) FROM deadletters") ?? 0)
            return statistics
        }
    }

    static func seriesID(_ db: SQLiteConnection, tenant: Tenant, entity: EntityID, attribute: String) throws -> (Int64, SQLiteStoreSchema.Kind)? {
        let statement = try db.prepare("SELECT id, kind FROM series WHERE tenant = ? AND entity = ? AND attribute = ?")
        try statement.bind(1, tenant.name)
        try statement.bind(2, entity.rawValue)
        try statement.bind(3, attribute)
        guard try statement.step() else { return nil }
        return (statement.int64(0), SQLiteStoreSchema.Kind(rawValue: statement.int(1)) ?? .number)
    }
}
