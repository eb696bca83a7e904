import KakehashiHubCore
import KakehashiModel
import KakehashiSQLite

/// The writer connection with its prepared statements and caches. `Sendable` because it lives in
/// the store's `Mutex` and is only used inside `withLock`.
final class SQLiteStoreWriter: @unchecked Sendable {
    let connection: SQLiteConnection
    let deadLetterLimit: Int
    private let insertObservation: SQLiteStatement
    private let upsertRollup: SQLiteStatement
    private let upsertEntity: SQLiteStatement
    private let updateEntity: SQLiteStatement
    private let selectEntity: SQLiteStatement
    private let selectSeries: SQLiteStatement
    private let insertSeries: SQLiteStatement
    private let upsertGateway: SQLiteStatement
    private let insertDeadLetter: SQLiteStatement
    private let trimDeadLetters: SQLiteStatement

    /// Series ids by key (only committed rows: cleared when a transaction fails).
    private var seriesIDs: [IngestPlan.SeriesKey: Int64] = [:]
    /// The latest state of entities recently written, to merge without reading them back.
    private var latest: [EntityID: EntityState] = [:]
    private static let latestCacheLimit = 50_000
    /// Entity states written by the open transaction, for the store's ``EntityCache`` once it commits.
    private(set) var cacheChanges: [(tenant: Tenant, id: EntityID, entity: NGSIEntity?)] = []
    /// The writer mark this store left at its last commit.
    var lastMark = EntityCache.Mark(token: "", count: 0)
    private let selectMark: SQLiteStatement
    private let updateMark: SQLiteStatement

    init(connection: SQLiteConnection, deadLetterLimit: Int) throws(SQLiteError) {
        self.connection = connection
        self.deadLetterLimit = deadLetterLimit
        insertObservation = try connection.prepare(
            "INSERT OR IGNORE INTO observations(series, t, num, txt, received) VALUES (?, ?, ?, ?, ?)"
        )
        upsertRollup = try connection.prepare(
            """
            INSERT INTO rollups(series, resolution, bucket, n, mn, mx, sm) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(series, resolution, bucket) DO UPDATE SET
              n = n + excluded.n, mn = min(mn, excluded.mn), mx = max(mx, excluded.mx), sm = sm + excluded.sm
            """
        )
        upsertEntity = try connection.prepare(
            """
            INSERT INTO entities(tenant, id, type, body, latitude, longitude, modified, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
            ON CONFLICT(tenant, id) DO UPDATE SET body = excluded.body, latitude = excluded.latitude,
              longitude = excluded.longitude, modified = excluded.modified
            """
        )
        updateEntity = try connection.prepare(
            "UPDATE entities SET body = ?4, latitude = ?5, longitude = ?6, modified = ?7 WHERE tenant = ?1 AND id = ?2"
        )
        selectEntity = try connection.prepare("SELECT body FROM entities WHERE tenant = ? AND id = ?")
        selectSeries = try connection.prepare("SELECT id, kind FROM series WHERE tenant = ? AND entity = ? AND attribute = ?")
        insertSeries = try connection.prepare(
            "INSERT INTO series(tenant, entity, type, attribute, kind, unit) VALUES (?, ?, ?, ?, ?, ?)"
        )
        upsertGateway = try connection.prepare(
            """
            INSERT INTO gateways(tenant, gateway, last_sequence, batches, last_seen) VALUES (?, ?, ?, 1, ?)
            ON CONFLICT(tenant, gateway) DO UPDATE SET last_sequence = max(last_sequence, excluded.last_sequence),
              batches = batches + 1, last_seen = excluded.last_seen
            """
        )
        insertDeadLetter = try connection.prepare(
            "INSERT INTO deadletters(received, source, tenant, reason, detail, payload, size) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        trimDeadLetters = try connection.prepare("DELETE FROM deadletters WHERE id <= ?")
        selectMark = try connection.prepare("SELECT token, n FROM writer_mark WHERE id = 1")
        updateMark = try connection.prepare("UPDATE writer_mark SET token = ?, n = ? WHERE id = 1")
    }

    func forgetCaches() {
        seriesIDs.removeAll()
        latest.removeAll()
        cacheChanges.removeAll()
    }

    /// The entity states the committed transaction wrote (and forgets them).
    func takeCacheChanges() -> [(tenant: Tenant, id: EntityID, entity: NGSIEntity?)] {
        defer { cacheChanges.removeAll(keepingCapacity: true) }
        return cacheChanges
    }

    /// Moves the writer mark to `token` (in the open transaction). Returns the new mark, and whether
    /// another program wrote since this store's last commit (then every cache is dropped: what it
    /// wrote is not in them).
    func moveMark(token: String) throws -> (mark: EntityCache.Mark, foreign: Bool) {
        let current = try Self.mark(selectMark)
        let foreign = current != lastMark
        if foreign {
            seriesIDs.removeAll()
            latest.removeAll()
        }
        let next = EntityCache.Mark(token: token, count: current.count + 1)
        try updateMark.bind(1, next.token)
        try updateMark.bind(2, next.count)
        try updateMark.run()
        return (next, foreign)
    }

    /// The mark `statement` (`SELECT token, n FROM writer_mark`) reads.
    static func mark(_ statement: SQLiteStatement) throws -> EntityCache.Mark {
        defer { statement.reset() }
        guard try statement.step() else { return EntityCache.Mark(token: "", count: 0) }
        return EntityCache.Mark(token: statement.string(0) ?? "", count: statement.int64(1))
    }

    // MARK: Ingest

    /// A rollup bucket of a stored series.
    private struct StoredRollupKey: Hashable {
        let series: Int64
        let resolution: RollupResolution
        let bucket: Int64
    }

    /// An entity's state while a group is written.
    private struct Touched {
        let tenant: Tenant
        var state: EntityState
        /// Whether its row existed before the group.
        let existed: Bool
        var received: Int64
    }

    /// Runs the plans of `group` (batches with their plans) in the current transaction: inserts
    /// each batch's readings, adds the sums of those inserted to their rollups, and writes each
    /// entity's latest state and each gateway's progress. Rollups and entities touched by several
    /// batches of the group are written once, with every batch merged in order.
    func ingest(_ group: [(batch: IngestBatch, plan: IngestPlan)]) throws -> [IngestResult] {
        var results = [IngestResult]()
        results.reserveCapacity(group.count)
        var rollups = [StoredRollupKey: Aggregate]()
        var touched = [EntityID: Touched]()
        var order = [EntityID]()
        for (batch, plan) in group {
            var result = IngestResult()
            result.expired = plan.expired
            let received = batch.receivedAt.millisecondsSinceEpoch
            let seriesIDs = try plan.series.map { try seriesID($0.key, value: $0.value, unit: $0.unit) }
            var inserted = [Bool]()
            inserted.reserveCapacity(plan.readings.count)
            for reading in plan.readings {
                try insertObservation.bind(1, seriesIDs[reading.series])
                try insertObservation.bind(2, reading.observedAt.millisecondsSinceEpoch)
                switch reading.value {
                case .number(let value):
                    try insertObservation.bind(3, value)
                    try insertObservation.bind(4, nil as String?)
                case .boolean(let flag):
                    try insertObservation.bind(3, Int64(flag ? 1 : 0))
                    try insertObservation.bind(4, nil as String?)
                case .text(let text):
                    try insertObservation.bind(3, nil as String?)
                    try insertObservation.bind(4, text)
                }
                try insertObservation.bind(5, received)
                try insertObservation.run()
                let isNew = connection.changes == 1
                inserted.append(isNew)
                if isNew { result.stored += 1 } else { result.duplicates += 1 }
            }
            for (key, aggregate) in plan.rollups(inserted: inserted, resolutions: SQLiteStoreSchema.eagerRollups) {
                let stored = StoredRollupKey(series: seriesIDs[key.series], resolution: key.resolution, bucket: key.bucket)
                if rollups[stored] == nil { rollups[stored] = aggregate } else { rollups[stored]!.merge(aggregate) }
            }
            for change in plan.changes {
                if touched[change.id] == nil {
                    // Taken out of the cache, so the merge changes it in place instead of copying it.
                    if let stored = try latestState(tenant: batch.tenant, id: change.id) {
                        touched[change.id] = Touched(tenant: batch.tenant, state: stored, existed: true, received: received)
                        result.updated.append(change.id)
                    } else {
                        touched[change.id] = Touched(
                            tenant: batch.tenant,
                            state: EntityState(try NGSIEntity(id: change.id)),
                            existed: false,
                            received: received
                        )
                        result.created.append(change.id)
                    }
                    order.append(change.id)
                } else {
                    result.updated.append(change.id)
                }
                change.merge(into: &touched[change.id]!.state)
                touched[change.id]!.received = received
            }
            if let gateway = batch.gateway {
                try upsertGateway.bind(1, batch.tenant.name)
                try upsertGateway.bind(2, gateway.rawValue)
                try upsertGateway.bind(3, Int64(batch.highestSequence ?? 0))
                try upsertGateway.bind(4, received)
                try upsertGateway.run()
            }
            results.append(result)
        }
        for (key, aggregate) in rollups {
            try upsertRollup.bind(1, key.series)
            try upsertRollup.bind(2, key.resolution.milliseconds)
            try upsertRollup.bind(3, key.bucket)
            try upsertRollup.bind(4, aggregate.count)
            try upsertRollup.bind(5, aggregate.min)
            try upsertRollup.bind(6, aggregate.max)
            try upsertRollup.bind(7, aggregate.sum)
            try upsertRollup.run()
        }
        for id in order {
            guard let entity = touched.removeValue(forKey: id) else { continue }
            let location = try? entity.state.entity.location()
            // An entity known to exist is updated in place (cheaper than an upsert).
            let statement = entity.existed ? updateEntity : upsertEntity
            try statement.bind(1, entity.tenant.name)
            try statement.bind(2, id.rawValue)
            if !entity.existed { try statement.bind(3, id.type) }
            try statement.bind(4, entity.state.body)
            if let location {
                try statement.bind(5, location.latitude)
                try statement.bind(6, location.longitude)
            } else {
                try statement.bind(5, nil as String?)
                try statement.bind(6, nil as String?)
            }
            try statement.bind(7, entity.received)
            try statement.run()
            if latest.count >= Self.latestCacheLimit { latest.removeAll(keepingCapacity: true) }
            latest[id] = entity.state
            cacheChanges.append((entity.tenant, id, entity.state.entity))
        }
        return results
    }

    private func latestState(tenant: Tenant, id: EntityID) throws -> EntityState? {
        if let cached = latest.removeValue(forKey: id) { return cached }
        try selectEntity.bind(1, tenant.name)
        try selectEntity.bind(2, id.rawValue)
        defer { selectEntity.reset() }
        guard try selectEntity.step() else { return nil }
        return EntityState(try NGSIEntity(bytes: selectEntity.bytes(0), form: .normalized, tenant: tenant))
    }

    private func seriesID(_ key: IngestPlan.SeriesKey, value: ObservedScalar, unit: MeasurementUnit?) throws -> Int64 {
        if let known = seriesIDs[key] { return known }
        let entity = key.entity
        try selectSeries.bind(1, entity.tenant.name)
        try selectSeries.bind(2, entity.rawValue)
        try selectSeries.bind(3, key.attribute)
        let found: Int64? = try {
            defer { selectSeries.reset() }
            guard try selectSeries.step() else { return nil }
            return selectSeries.int64(0)
        }()
        let id: Int64
        if let found {
            id = found
        } else {
            let kind: SQLiteStoreSchema.Kind
            switch value {
            case .text: kind = .text
            case .boolean: kind = .boolean
            case .number: kind = .number
            }
            try insertSeries.bind(1, entity.tenant.name)
            try insertSeries.bind(2, entity.rawValue)
            try insertSeries.bind(3, entity.type)
            try insertSeries.bind(4, key.attribute)
            try insertSeries.bind(5, kind.rawValue)
            try insertSeries.bind(6, unit?.code)
            try insertSeries.run()
            id = connection.lastInsertRowID
        }
        seriesIDs[key] = id
        return id
    }

    // MARK: Removal

    /// See ``ObservationStore/remove(tenant:id:attributes:at:)``.
    func remove(tenant: Tenant, id: EntityID, attributes names: Set<String>?, at: Timestamp) throws -> Bool {
        guard var state = try latestState(tenant: tenant, id: id) else { return false }
        guard let names else {
            let statement = try connection.prepare("DELETE FROM entities WHERE tenant = ? AND id = ?")
            try statement.bind(1, tenant.name)
            try statement.bind(2, id.rawValue)
            try statement.run()
            cacheChanges.append((tenant, id, nil))
            return true
        }
        let present = names.filter { state.entity.attributes[$0] != nil }
        guard !present.isEmpty else {
            latest[id] = state
            return false
        }
        for name in present {
            state.entity.attributes[name] = nil
            state.fragments[name] = nil
        }
        try write(state, tenant: tenant, id: id, at: at)
        return true
    }

    /// Writes an entity's changed state (its row, the cache).
    private func write(_ state: EntityState, tenant: Tenant, id: EntityID, at: Timestamp) throws {
        let location = try? state.entity.location()
        try updateEntity.bind(1, tenant.name)
        try updateEntity.bind(2, id.rawValue)
        try updateEntity.bind(4, state.body)
        if let location {
            try updateEntity.bind(5, location.latitude)
            try updateEntity.bind(6, location.longitude)
        } else {
            try updateEntity.bind(5, nil as String?)
            try updateEntity.bind(6, nil as String?)
        }
        try updateEntity.bind(7, at.millisecondsSinceEpoch)
        try updateEntity.run()
        latest[id] = state
        cacheChanges.append((tenant, id, state.entity))
    }

    /// See ``ObservationStore/replaceInstance(tenant:id:attribute:at:with:)``.
    func replaceInstance(tenant: Tenant, id: EntityID, attribute name: String, at: Timestamp, with attribute: NGSIAttribute) throws -> Bool {
        guard let (_, value, _) = NGSIEntity.observedValue(attribute) else { return false }
        let series = try connection.prepare("SELECT id FROM series WHERE tenant = ? AND entity = ? AND attribute = ?")
        try series.bind(1, tenant.name)
        try series.bind(2, id.rawValue)
        try series.bind(3, name)
        guard try series.step() else { return false }
        let sid = series.int64(0)
        let old = try connection.prepare("SELECT num FROM observations WHERE series = ? AND t = ?")
        try old.bind(1, sid)
        try old.bind(2, at.millisecondsSinceEpoch)
        guard try old.step() else { return false }
        let previous: Double? = old.isNull(0) ? nil : old.double(0)
        old.reset()
        let number: Double?
        let update = try connection.prepare("UPDATE observations SET num = ?, txt = ? WHERE series = ? AND t = ?")
        switch value {
        case .number(let n):
            number = n
            try update.bind(1, n)
            try update.bind(2, nil as String?)
        case .boolean(let flag):
            number = flag ? 1 : 0
            try update.bind(1, Int64(flag ? 1 : 0))
            try update.bind(2, nil as String?)
        case .text(let text):
            number = nil
            try update.bind(1, nil as String?)
            try update.bind(2, text)
        }
        try update.bind(3, sid)
        try update.bind(4, at.millisecondsSinceEpoch)
        try update.run()
        if let number, let previous, number != previous { try fixRollups(series: sid, at: at.millisecondsSinceEpoch, from: previous, to: number) }
        // The entity's current value, when it is this instance.
        if var state = try latestState(tenant: tenant, id: id) {
            if let current = state.entity.attributes[name], NGSIEntity.observedValue(current)?.observedAt == at {
                state.entity.attributes[name] = attribute
                state.fragments[name] = NGSIEntity.normalizedFragment(attribute)
                try write(state, tenant: tenant, id: id, at: at)
            } else {
                latest[id] = state
            }
        }
        return true
    }

    /// The rollups of `series` that count the reading at `t`, after its value went from `old`
    /// to `new`: computed again from the raw rows when they are all still there, else adjusted.
    private func fixRollups(series: Int64, at t: Int64, from old: Double, to new: Double) throws {
        let rows = try connection.prepare("SELECT resolution, bucket, n FROM rollups WHERE series = ? AND bucket <= ? AND bucket + resolution > ?")
        try rows.bind(1, series)
        try rows.bind(2, t)
        try rows.bind(3, t)
        var buckets = [(resolution: Int64, bucket: Int64, n: Int64)]()
        while try rows.step() { buckets.append((rows.int64(0), rows.int64(1), rows.int64(2))) }
        let raw = try connection.prepare("SELECT count(num), min(num), max(num), sum(num) FROM observations WHERE series = ? AND t >= ? AND t < ?")
        for (resolution, bucket, n) in buckets {
            try raw.bind(1, series)
            try raw.bind(2, bucket)
            try raw.bind(3, bucket + resolution)
            _ = try raw.step()
            let complete = raw.int64(0) == n
            let (mn, mx, sm) = (raw.double(1), raw.double(2), raw.double(3))
            raw.reset()
            let fix = try connection.prepare(
                complete
                    ? "UPDATE rollups SET mn = ?1, mx = ?2, sm = ?3 WHERE series = ?4 AND resolution = ?5 AND bucket = ?6"
                    : "UPDATE rollups SET mn = min(mn, ?1), mx = max(mx, ?1), sm = sm + ?2 WHERE series = ?4 AND resolution = ?5 AND bucket = ?6"
            )
            if complete {
                try fix.bind(1, mn)
                try fix.bind(2, mx)
                try fix.bind(3, sm)
            } else {
                try fix.bind(1, new)
                try fix.bind(2, new - old)
            }
            try fix.bind(4, series)
            try fix.bind(5, resolution)
            try fix.bind(6, bucket)
            try fix.run()
        }
    }

    /// See ``ObservationStore/removeHistory(tenant:id:attributes:)``.
    func removeHistory(tenant: Tenant, id: EntityID, attributes names: Set<String>?) throws -> Int? {
        let rows = try connection.prepare("SELECT id, attribute FROM series WHERE tenant = ? AND entity = ?")
        try rows.bind(1, tenant.name)
        try rows.bind(2, id.rawValue)
        var doomed = Set<Int64>()
        while try rows.step() {
            if names.map({ $0.contains(rows.string(1) ?? "") }) ?? true { doomed.insert(rows.int64(0)) }
        }
        guard !doomed.isEmpty else { return nil }
        var deleted = 0
        for (table, column) in [("observations", "series"), ("rollups", "series"), ("series", "id")] {
            let delete = try connection.prepare("DELETE FROM \(table) WHERE \(column) = ?")
            for series in doomed {
                try delete.bind(1, series)
                try delete.run()
                if table == "observations" { deleted += connection.changes }
            }
        }
        // A series made again later gets a new id.
        seriesIDs = seriesIDs.filter { !doomed.contains($0.value) }
        return deleted
    }

    // MARK: Dead letters and retention

    func recordDeadLetter(_ letter: HubDeadLetter) throws {
        try insertDeadLetter.bind(1, letter.receivedAt.millisecondsSinceEpoch)
        try insertDeadLetter.bind(2, letter.source)
        try insertDeadLetter.bind(3, letter.tenant)
        try insertDeadLetter.bind(4, letter.reason)
        try insertDeadLetter.bind(5, letter.detail)
        try insertDeadLetter.bind(6, letter.payload.prefix(SQLiteStoreSchema.deadLetterPayloadLimit))
        try insertDeadLetter.bind(7, letter.size)
        try insertDeadLetter.run()
        let newest = connection.lastInsertRowID
        if newest > Int64(deadLetterLimit) {
            try trimDeadLetters.bind(1, newest - Int64(deadLetterLimit))
            try trimDeadLetters.run()
        }
    }

    func applyRetention(_ policy: RetentionPolicy, now: Timestamp) throws -> RetentionResult {
        var result = RetentionResult()
        let scopes = try connection.prepare("SELECT DISTINCT tenant, type FROM series")
        var pairs = [(Tenant, String)]()
        while try scopes.step() {
            if let name = scopes.string(0), let tenant = try? Tenant(name), let type = scopes.string(1) { pairs.append((tenant, type)) }
        }
        // Minute rollups of raw rows about to go (see SQLiteStoreSchema.eagerRollups).
        let materialize = try connection.prepare(
            """
            INSERT INTO rollups(series, resolution, bucket, n, mn, mx, sm)
            SELECT series, 60000, \(SQLiteStoreSchema.minuteBucket), count(num), min(num), max(num), sum(num) FROM observations
            WHERE series IN (SELECT id FROM series WHERE tenant = ? AND type = ? AND kind = \(SQLiteStoreSchema.Kind.number.rawValue))
              AND t < ? AND num IS NOT NULL
            GROUP BY series, \(SQLiteStoreSchema.minuteBucket)
            ON CONFLICT(series, resolution, bucket) DO UPDATE SET
              n = n + excluded.n, mn = min(mn, excluded.mn), mx = max(mx, excluded.mx), sm = sm + excluded.sm
            """
        )
        let deleteRaw = try connection.prepare(
            "DELETE FROM observations WHERE series IN (SELECT id FROM series WHERE tenant = ? AND type = ?) AND t < ?"
        )
        let deleteRollups = try connection.prepare(
            "DELETE FROM rollups WHERE series IN (SELECT id FROM series WHERE tenant = ? AND type = ?) AND resolution = ? AND bucket < ?"
        )
        let nowMS = now.millisecondsSinceEpoch
        for (tenant, type) in pairs {
            let rule = policy.rule(tenant: tenant, type: type)
            if let raw = rule.raw {
                // Whole minutes only, so a minute bucket is either all raw or all rolled up.
                let cutoff = RollupResolution.minute.bucket(of: Timestamp(millisecondsSinceEpoch: nowMS - raw))
                try materialize.bind(1, tenant.name)
                try materialize.bind(2, type)
                try materialize.bind(3, cutoff)
                try materialize.run()
                try deleteRaw.bind(1, tenant.name)
                try deleteRaw.bind(2, type)
                try deleteRaw.bind(3, cutoff)
                try deleteRaw.run()
                result.observations += connection.changes
            }
            for resolution in RollupResolution.allCases {
                guard let limit = rule.limit(for: resolution) else { continue }
                try deleteRollups.bind(1, tenant.name)
                try deleteRollups.bind(2, type)
                try deleteRollups.bind(3, resolution.milliseconds)
                // A bucket goes once all of it is older than the limit.
                try deleteRollups.bind(4, nowMS - limit - resolution.milliseconds + 1)
                try deleteRollups.run()
                result.rollups += connection.changes
            }
        }
        return result
    }
}
