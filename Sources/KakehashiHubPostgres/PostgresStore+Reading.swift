import KakehashiHubCore
import KakehashiModel
import PostgresNIO

extension PostgresStore {
    public func entities(tenant: Tenant, types: Set<String>?, ids: Set<EntityID>?) async throws(StorageError) -> [NGSIEntity] {
        if types?.isEmpty == true || ids?.isEmpty == true { return [] }
        return try await reading("reading entities of \(tenant)") { connection in
            let typeList = (types ?? []).sorted(), idList = (ids ?? []).map(\.rawValue).sorted()
            let rows = try await connection.query(
                """
                SELECT body FROM entities WHERE tenant = \(tenant.name)
                  AND (\(types == nil) OR type = ANY(\(typeList)::text[])) AND (\(ids == nil) OR id = ANY(\(idList)::text[]))
                ORDER BY id
                """,
                logger: logger
            )
            var result = [NGSIEntity]()
            for try await (body, ) in rows.decode((String,).self) where !body.isEmpty {
                result.append(try NGSIEntity(bytes: Array(body.utf8), form: .normalized, tenant: tenant))
            }
            return result
        }
    }

    public func entity(tenant: Tenant, id: EntityID) async throws(StorageError) -> NGSIEntity? {
        try await entities(tenant: tenant, types: nil, ids: [id]).first
    }

    public func systemTimes(tenant: Tenant, ids: [EntityID]) async throws(StorageError) -> [EntityID: EntitySystemTimes] {
        guard !ids.isEmpty else { return [:] }
        return try await reading("reading the system times of \(ids.count) entities of \(tenant)") { connection in
            let byRaw = Dictionary(ids.map { ($0.rawValue, $0) }, uniquingKeysWith: { first, _ in first })
            let rows = try await connection.query(
                "SELECT id, created, modified FROM entities WHERE tenant = \(tenant.name) AND id = ANY(\(Array(byRaw.keys))::text[])",
                logger: logger
            )
            var result = [EntityID: EntitySystemTimes]()
            for try await (id, created, modified) in rows.decode((String, Int64?, Int64).self) {
                guard let key = byRaw[id] else { continue }
                result[key] = EntitySystemTimes(
                    createdAt: created.map { Timestamp(millisecondsSinceEpoch: $0) },
                    modifiedAt: Timestamp(millisecondsSinceEpoch: modified)
                )
            }
            return result
        }
    }

    public func series(tenant: Tenant, entity: EntityID) async throws(StorageError) -> [SeriesInfo] {
        try await reading("reading the series of \(entity)") { connection in
            let rows = try await connection.query(
                "SELECT attribute, kind, unit, type FROM series WHERE tenant = \(tenant.name) AND entity = \(entity.rawValue) ORDER BY attribute",
                logger: logger
            )
            var result = [SeriesInfo]()
            for try await (attribute, kind, unit, type) in rows.decode((String, Int16, String?, String).self) {
                result.append(
                    SeriesInfo(
                        attribute: attribute,
                        unitCode: unit.flatMap { try? MeasurementUnit(code: $0) },
                        numeric: kind == PostgresSchema.Kind.number.rawValue,
                        entityType: type
                    )
                )
            }
            return result
        }
    }

    /// The id and kind of a series.
    func seriesID(_ connection: PostgresConnection, tenant: Tenant, entity: EntityID, attribute: String) async throws -> (Int64, PostgresSchema.Kind)?
    {
        let rows = try await connection.query(
            "SELECT id, kind FROM series WHERE tenant = \(tenant.name) AND entity = \(entity.rawValue) AND attribute = \(attribute)",
            logger: logger
        )
        for try await (id, kind) in rows.decode((Int64, Int16).self) { return (id, PostgresSchema.Kind(rawValue: kind) ?? .number) }
        return nil
    }

    public func observations(
        tenant: Tenant,
        entity: EntityID,
        attribute: String,
        range: TimeRange,
        lastN: Int?,
        limit: Int
    ) async throws(StorageError) -> [StoredValue] {
        try await reading("reading \(attribute) of \(entity)") { connection in
            guard let (series, kind) = try await seriesID(connection, tenant: tenant, entity: entity, attribute: attribute) else { return [] }
            let from = range.from?.millisecondsSinceEpoch ?? Int64.min
            let to = range.to?.millisecondsSinceEpoch ?? Int64.max
            let count = min(limit, lastN ?? Int.max)
            let newestFirst = lastN != nil
            let sql =
                "SELECT t, num, txt FROM observations WHERE series = $1 AND t >= $2 AND t < $3 ORDER BY t \(newestFirst ? "DESC" : "ASC") LIMIT $4"
            var binds = PostgresBindings()
            binds.append(series)
            binds.append(from)
            binds.append(to)
            binds.append(Int64(count))
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
            var values = [StoredValue]()
            for try await (t, number, text) in rows.decode((Int64, Double?, String?).self) {
                let value: PropertyValue
                if let text {
                    value = .text(text)
                } else if kind == .boolean {
                    value = .boolean((number ?? 0) != 0)
                } else {
                    value = .number(number ?? 0)
                }
                values.append(StoredValue(observedAt: Timestamp(millisecondsSinceEpoch: t), value: value))
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
        try await reading("reading \(resolution) rollups of \(attribute) of \(entity)") { connection in
            guard let (series, _) = try await seriesID(connection, tenant: tenant, entity: entity, attribute: attribute) else { return [] }
            let from = range.from?.millisecondsSinceEpoch ?? Int64.min
            let to = range.to?.millisecondsSinceEpoch ?? Int64.max
            let r = resolution.milliseconds
            let rows: PostgresRowSequence
            if resolution == .hour {
                rows = try await connection.query(
                    """
                    SELECT bucket, n, mn, mx, sm FROM rollups WHERE series = \(series) AND resolution = \(r)
                      AND bucket >= \(from) AND bucket < \(to) ORDER BY bucket
                    """,
                    logger: logger
                )
            } else {
                // Rolled-up minutes (raw rows gone) and minutes computed from the raw rows left;
                // a bucket starts in the range when its first millisecond is at or after the
                // aligned-up `from` and before the aligned-up `to`.
                let (rawFrom, rawTo) = (resolution.alignUp(from), resolution.alignUp(to))
                rows = try await connection.query(
                    """
                    SELECT bucket, n, mn, mx, sm FROM rollups WHERE series = \(series) AND resolution = \(r) AND bucket >= \(from) AND bucket < \(to)
                    UNION ALL
                    SELECT t - ((t % 60000) + 60000) % 60000 AS b, count(num), min(num), max(num), sum(num) FROM observations
                    WHERE series = \(series) AND t >= \(rawFrom) AND t < \(rawTo) AND num IS NOT NULL GROUP BY b
                    ORDER BY 1
                    """,
                    logger: logger
                )
            }
            var buckets = [RollupBucket]()
            for try await (start, n, mn, mx, sm) in rows.decode((Int64, Int64, Double, Double, Double).self) {
                let bucket = RollupBucket(start: Timestamp(millisecondsSinceEpoch: start), aggregate: Aggregate(count: n, min: mn, max: mx, sum: sm))
                if let last = buckets.last, last.start == bucket.start {
                    buckets[buckets.count - 1].aggregate.merge(bucket.aggregate)
                } else {
                    buckets.append(bucket)
                }
            }
            return buckets
        }
    }

    // MARK: Dead letters

    public func recordDeadLetter(_ letter: HubDeadLetter) async throws(StorageError) {
        try await transaction("keeping a dead letter") { connection in
            let rows = try await connection.query(
                """
                INSERT INTO deadletters(received, source, tenant, reason, detail, payload, size)
                VALUES (\(letter.receivedAt.millisecondsSinceEpoch), \(letter.source), \(letter.tenant), \(letter.reason), \(letter.detail),
                  \(ByteBuffer(bytes: letter.payload.prefix(Self.deadLetterPayloadLimit))), \(Int64(letter.size))) RETURNING id
                """,
                logger: logger
            )
            var id: Int64 = 0
            for try await (new, ) in rows.decode((Int64,).self) { id = new }
            try await connection.query("DELETE FROM deadletters WHERE id <= \(id - Int64(settings.deadLetterLimit))", logger: logger)
        }
    }

    public func deadLetters(limit: Int) async throws(StorageError) -> [HubDeadLetter] {
        try await reading("reading dead letters") { connection in
            let rows = try await connection.query(
                "SELECT id, received, source, tenant, reason, detail, payload, size FROM deadletters ORDER BY id DESC LIMIT \(Int64(limit))",
                logger: logger
            )
            var letters = [HubDeadLetter]()
            for try await (id, received, source, tenant, reason, detail, payload, size) in rows.decode(
                (Int64, Int64, String, String?, String, String, ByteBuffer, Int64).self
            ) {
                letters.append(
                    HubDeadLetter(
                        id: id,
                        receivedAt: Timestamp(millisecondsSinceEpoch: received),
                        source: source,
                        tenant: tenant,
                        reason: reason,
                        detail: detail,
                        payload: Array(payload.readableBytesView),
                        size: Int(size)
                    )
                )
            }
            return letters
        }
    }

    public func deleteDeadLetter(id: Int64) async throws(StorageError) -> Bool {
        try await transaction("deleting dead letter \(id)") { connection in
            let rows = try await connection.query("DELETE FROM deadletters WHERE id = \(id) RETURNING id", logger: logger)
            var deleted = false
            for try await _ in rows { deleted = true }
            return deleted
        }
    }
}
