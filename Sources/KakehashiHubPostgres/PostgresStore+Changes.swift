import KakehashiHubCore
import KakehashiModel
import PostgresNIO

extension PostgresStore {
    /// The state of an entity, locked for the transaction; nil when there is none.
    private func lockedState(_ connection: PostgresConnection, tenant: Tenant, id: EntityID) async throws -> EntityState? {
        let rows = try await connection.query(
            "SELECT body FROM entities WHERE tenant = \(tenant.name) AND id = \(id.rawValue) FOR UPDATE",
            logger: logger
        )
        for try await (body, ) in rows.decode((String,).self) {
            return EntityState(try NGSIEntity(bytes: Array(body.utf8), form: .normalized, tenant: tenant))
        }
        return nil
    }

    /// Writes an entity's changed state.
    private func write(_ state: EntityState, _ connection: PostgresConnection, tenant: Tenant, id: EntityID, at: Timestamp) async throws {
        let location = try? state.entity.location()
        try await connection.query(
            """
            UPDATE entities SET body = \(String(decoding: state.body, as: UTF8.self)), latitude = \(location?.latitude),
              longitude = \(location?.longitude), modified = \(at.millisecondsSinceEpoch)
            WHERE tenant = \(tenant.name) AND id = \(id.rawValue)
            """,
            logger: logger
        )
    }

    public func remove(tenant: Tenant, id: EntityID, attributes names: Set<String>?, at: Timestamp) async throws(StorageError) -> Bool {
        try await transaction("removing \(id)") { connection in
            guard var state = try await lockedState(connection, tenant: tenant, id: id) else { return false }
            guard let names else {
                try await connection.query("DELETE FROM entities WHERE tenant = \(tenant.name) AND id = \(id.rawValue)", logger: logger)
                return true
            }
            let present = names.filter { state.entity.attributes[$0] != nil }
            guard !present.isEmpty else { return false }
            for name in present {
                state.entity.attributes[name] = nil
                state.fragments[name] = nil
            }
            try await write(state, connection, tenant: tenant, id: id, at: at)
            return true
        }
    }

    public func removeHistory(tenant: Tenant, id: EntityID, attributes names: Set<String>?) async throws(StorageError) -> Int? {
        try await transaction("removing the history of \(id)") { connection in
            let rows = try await connection.query(
                "SELECT id, attribute FROM series WHERE tenant = \(tenant.name) AND entity = \(id.rawValue)",
                logger: logger
            )
            var doomed = [Int64]()
            for try await (series, attribute) in rows.decode((Int64, String).self) where names?.contains(attribute) ?? true {
                doomed.append(series)
            }
            guard !doomed.isEmpty else { return nil }
            var deleted = 0
            let gone = try await connection.query("DELETE FROM observations WHERE series = ANY(\(doomed)::int8[]) RETURNING 1", logger: logger)
            for try await _ in gone { deleted += 1 }
            try await connection.query("DELETE FROM rollups WHERE series = ANY(\(doomed)::int8[])", logger: logger)
            try await connection.query("DELETE FROM series WHERE id = ANY(\(doomed)::int8[])", logger: logger)
            return deleted
        }
    }

    public func replaceInstance(
        tenant: Tenant,
        id: EntityID,
        attribute name: String,
        at: Timestamp,
        with attribute: NGSIAttribute
    ) async throws(StorageError) -> Bool {
        guard let (_, value, _) = NGSIEntity.observedValue(attribute) else { return false }
        return try await transaction("replacing an instance of \(name) of \(id)") { connection in
            guard let (series, _) = try await seriesID(connection, tenant: tenant, entity: id, attribute: name) else { return false }
            let t = at.millisecondsSinceEpoch
            var found = false
            var previous: Double?
            let old = try await connection.query(
                "SELECT num FROM observations WHERE series = \(series) AND t = \(t) FOR UPDATE",
                logger: logger
            )
            for try await (number, ) in old.decode((Double?,).self) {
                found = true
                previous = number
            }
            guard found else { return false }
            let number: Double?, text: String?
            switch value {
            case .number(let n): (number, text) = (n, nil)
            case .boolean(let flag): (number, text) = (flag ? 1 : 0, nil)
            case .text(let string): (number, text) = (nil, string)
            }
            try await connection.query(
                "UPDATE observations SET num = \(number), txt = \(text) WHERE series = \(series) AND t = \(t)",
                logger: logger
            )
            if let number, let previous, number != previous {
                try await fixRollups(connection, series: series, at: t, from: previous, to: number)
            }
            // The entity's current value, when it is this instance.
            if var state = try await lockedState(connection, tenant: tenant, id: id),
                let current = state.entity.attributes[name], NGSIEntity.observedValue(current)?.observedAt == at
            {
                state.entity.attributes[name] = attribute
                state.fragments[name] = NGSIEntity.normalizedFragment(attribute)
                try await write(state, connection, tenant: tenant, id: id, at: at)
            }
            return true
        }
    }

    /// The rollups of `series` that count the reading at `t` after its value went from `old` to
    /// `new`: computed again from the raw rows when all are still there, else adjusted.
    private func fixRollups(_ connection: PostgresConnection, series: Int64, at t: Int64, from old: Double, to new: Double) async throws {
        let rows = try await connection.query(
            "SELECT resolution, bucket, n FROM rollups WHERE series = \(series) AND bucket <= \(t) AND bucket + resolution > \(t)",
            logger: logger
        )
        var buckets = [(resolution: Int64, bucket: Int64, n: Int64)]()
        for try await row in rows.decode((Int64, Int64, Int64).self) { buckets.append(row) }
        for (resolution, bucket, n) in buckets {
            let end = bucket + resolution
            let raw = try await connection.query(
                "SELECT count(num), min(num), max(num), sum(num) FROM observations WHERE series = \(series) AND t >= \(bucket) AND t < \(end)",
                logger: logger
            )
            var complete = false
            var aggregate = (mn: 0.0, mx: 0.0, sm: 0.0)
            for try await (count, mn, mx, sm) in raw.decode((Int64, Double?, Double?, Double?).self) {
                complete = count == n
                aggregate = (mn ?? 0, mx ?? 0, sm ?? 0)
            }
            if complete {
                try await connection.query(
                    """
                    UPDATE rollups SET mn = \(aggregate.mn), mx = \(aggregate.mx), sm = \(aggregate.sm)
                    WHERE series = \(series) AND resolution = \(resolution) AND bucket = \(bucket)
                    """,
                    logger: logger
                )
            } else {
                try await connection.query(
                    """
                    UPDATE rollups SET mn = least(mn, \(new)), mx = greatest(mx, \(new)), sm = sm + \(new - old)
                    WHERE series = \(series) AND resolution = \(resolution) AND bucket = \(bucket)
                    """,
                    logger: logger
                )
            }
        }
    }

    /// Retention: months of readings that every rule lets go are dropped whole (their minute
    /// rollups kept first); what is left past a rule's limit is deleted row by row, as on SQLite.
    public func applyRetention(_ policy: RetentionPolicy, now: Timestamp) async throws(StorageError) -> RetentionResult {
        try await transaction("applying retention") { connection in
            var result = RetentionResult()
            var pairs = [(Tenant, String)]()
            let scopes = try await connection.query("SELECT DISTINCT tenant, type FROM series", logger: logger)
            for try await (name, type) in scopes.decode((String, String).self) {
                if let tenant = try? Tenant(name) { pairs.append((tenant, type)) }
            }
            let nowMS = now.millisecondsSinceEpoch
            func cutoff(_ raw: Int64) -> Int64 { RollupResolution.minute.bucket(of: Timestamp(millisecondsSinceEpoch: nowMS - raw)) }
            let number = PostgresSchema.Kind.number.rawValue
            // Whole months, when every series may lose them.
            let limits = pairs.map { policy.rule(tenant: $0.0, type: $0.1).raw }
            if !limits.isEmpty, limits.allSatisfy({ $0 != nil }) {
                let oldestKept = limits.compactMap { $0 }.map(cutoff).min()!
                let parts = try await connection.query(
                    """
                    SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                    WHERE i.inhparent = 'observations'::regclass
                    """,
                    logger: logger
                )
                var doomed = [String]()
                for try await (name, _) in parts.decode((String, String).self) {
                    // The bounds are the month's (see PostgresSchema.partition).
                    guard let first = try? await firstMillisecond(of: name, connection) else { continue }
                    if PostgresSchema.partition(of: first).to <= oldestKept { doomed.append(name) }
                }
                for name in doomed.sorted() {
                    try await connection.query(
                        PostgresQuery(
                            unsafeSQL: """
                                INSERT INTO rollups(series, resolution, bucket, n, mn, mx, sm)
                                SELECT o.series, 60000, o.t - ((o.t % 60000) + 60000) % 60000 AS b, count(o.num), min(o.num), max(o.num), sum(o.num)
                                FROM \(name) o JOIN series s ON s.id = o.series AND s.kind = \(number)
                                WHERE o.num IS NOT NULL GROUP BY o.series, b
                                ON CONFLICT (series, resolution, bucket) DO UPDATE SET n = rollups.n + excluded.n,
                                  mn = least(rollups.mn, excluded.mn), mx = greatest(rollups.mx, excluded.mx), sm = rollups.sm + excluded.sm
                                """
                        ),
                        logger: logger
                    )
                    let counted = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(name)"), logger: logger)
                    for try await (count, ) in counted.decode((Int,).self) { result.observations += count }
                    try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE \(name)"), logger: logger)
                    partitions.withLock { _ = $0.remove(name) }
                }
            }
            for (tenant, type) in pairs {
                let rule = policy.rule(tenant: tenant, type: type)
                if let raw = rule.raw {
                    let before = cutoff(raw)
                    try await connection.query(
                        """
                        INSERT INTO rollups(series, resolution, bucket, n, mn, mx, sm)
                        SELECT o.series, 60000, o.t - ((o.t % 60000) + 60000) % 60000 AS b, count(o.num), min(o.num), max(o.num), sum(o.num)
                        FROM observations o JOIN series s ON s.id = o.series
                        WHERE s.tenant = \(tenant.name) AND s.type = \(type) AND s.kind = \(number) AND o.t < \(before) AND o.num IS NOT NULL
                        GROUP BY o.series, b
                        ON CONFLICT (series, resolution, bucket) DO UPDATE SET n = rollups.n + excluded.n,
                          mn = least(rollups.mn, excluded.mn), mx = greatest(rollups.mx, excluded.mx), sm = rollups.sm + excluded.sm
                        """,
                        logger: logger
                    )
                    let gone = try await connection.query(
                        """
                        DELETE FROM observations o USING series s
                        WHERE s.id = o.series AND s.tenant = \(tenant.name) AND s.type = \(type) AND o.t < \(before) RETURNING 1
                        """,
                        logger: logger
                    )
                    for try await _ in gone { result.observations += 1 }
                }
                for resolution in RollupResolution.allCases {
                    guard let limit = rule.limit(for: resolution) else { continue }
                    // A bucket goes once all of it is older than the limit.
                    let before = nowMS - limit - resolution.milliseconds + 1
                    let gone = try await connection.query(
                        """
                        DELETE FROM rollups r USING series s
                        WHERE s.id = r.series AND s.tenant = \(tenant.name) AND s.type = \(type)
                          AND r.resolution = \(resolution.milliseconds) AND r.bucket < \(before) RETURNING 1
                        """,
                        logger: logger
                    )
                    for try await _ in gone { result.rollups += 1 }
                }
            }
            return result
        }
    }

    /// The lower bound of partition `name` (from its catalog bound).
    private func firstMillisecond(of name: String, _ connection: PostgresConnection) async throws -> Int64? {
        let rows = try await connection.query(
            """
            SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''?(-?[0-9]+)''?\\)'))[1]::int8
            FROM pg_class c WHERE c.relname = \(name)
            """,
            logger: logger
        )
        for try await (first, ) in rows.decode((Int64?,).self) { return first }
        return nil
    }
}
