import KakehashiModel
import KakehashiSQLite
import KakehashiHubCore

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

    /// The entity id names the tenant too.
    private struct SeriesKey: Hashable {
        let entity: EntityID
        let attribute: String
    }

    private struct RollupKey: Hashable {
        let series: Int64
        let resolution: RollupResolution
        let bucket: Int64
    }

    /// Series ids by key (only committed rows: cleared when a transaction fails).
    private var seriesIDs: [SeriesKey: Int64] = [:]
    /// An entity's latest state with each attribute's normalized JSON.
    struct State {
        var entity: NGSIEntity
        var fragments: [String: [UInt8]]

        init(_ entity: NGSIEntity) {
            self.entity = entity
            self.fragments = entity.attributes.mapValues(NGSIEntity.normalizedFragment)
        }

        /// Serializes the attributes whose JSON is not known yet (kept empty by the merge).
        mutating func completeFragments() {
            for (name, fragment) in fragments where fragment.isEmpty {
                if let attribute = entity.attributes[name] { fragments[name] = NGSIEntity.normalizedFragment(attribute) }
            }
        }

        var body: [UInt8] {
            entity.context.isEmpty ? NGSIEntity.assembleNormalized(id: entity.id, fragments: fragments) : entity.serialized(.normalized)
        }
    }

    /// The latest state of entities recently written, to merge without reading them back.
    private var latest: [EntityID: State] = [:]
    private static let latestCacheLimit = 50_000

    init(connection: SQLiteConnection, deadLetterLimit: Int) throws(SQLiteError) {
        self.connection = connection
        self.deadLetterLimit = deadLetterLimit
        insertObservation = try connection.prepare(
            "INSERT OR IGNORE INTO observations(series, t, num, txt, received) VALUES (?, ?, ?, ?, ?)")
        upsertRollup = try connection.prepare("""
            INSERT INTO rollups(series, resolution, bucket, n, mn, mx, sm) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(series, resolution, bucket) DO UPDATE SET
              n = n + excluded.n, mn = min(mn, excluded.mn), mx = max(mx, excluded.mx), sm = sm + excluded.sm
            """)
        upsertEntity = try connection.prepare("""
            INSERT INTO entities(tenant, id, type, body, latitude, longitude, modified) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(tenant, id) DO UPDATE SET body = excluded.body, latitude = excluded.latitude,
              longitude = excluded.longitude, modified = excluded.modified
            """)
        updateEntity = try connection.prepare(
            "UPDATE entities SET body = ?4, latitude = ?5, longitude = ?6, modified = ?7 WHERE tenant = ?1 AND id = ?2")
        selectEntity = try connection.prepare("SELECT body FROM entities WHERE tenant = ? AND id = ?")
        selectSeries = try connection.prepare("SELECT id, kind FROM series WHERE tenant = ? AND entity = ? AND attribute = ?")
        insertSeries = try connection.prepare(
            "INSERT INTO series(tenant, entity, type, attribute, kind, unit) VALUES (?, ?, ?, ?, ?, ?)")
        upsertGateway = try connection.prepare("""
            INSERT INTO gateways(tenant, gateway, last_sequence, batches, last_seen) VALUES (?, ?, ?, 1, ?)
            ON CONFLICT(tenant, gateway) DO UPDATE SET last_sequence = max(last_sequence, excluded.last_sequence),
              batches = batches + 1, last_seen = excluded.last_seen
            """)
        insertDeadLetter = try connection.prepare(
            "INSERT INTO deadletters(received, source, tenant, reason, detail, payload, size) VALUES (?, ?, ?, ?, ?, ?, ?)")
        trimDeadLetters = try connection.prepare("DELETE FROM deadletters WHERE id <= ?")
    }

    func forgetCaches() {
        seriesIDs.removeAll()
        latest.removeAll()
    }

    // MARK: Ingest

    /// Stores `batch`; `fragments[i]` holds the normalized JSON of each attribute of entity `i`.
    func ingest(_ batch: IngestBatch, fragments: [[String: [UInt8]]]) throws -> IngestResult {
        var result = IngestResult()
        var rollups = [RollupKey: Aggregate]()
        var changed = [EntityID: State]()
        var existed = Set<EntityID>()
        var order = [EntityID]()
        let received = batch.receivedAt.millisecondsSinceEpoch
        for (position, entity) in batch.entities.enumerated() {
            let id = entity.id
            // Merge into the latest state: an attribute is replaced unless what is stored was
            // observed later (a late reading does not hide a newer one). Mutated in place.
            let slot: [EntityID: State].Index
            if let known = changed.index(forKey: id) {
                slot = known
            } else {
                if let existing = try latestState(tenant: batch.tenant, id: id) {
                    changed[id] = existing
                    existed.insert(id)
                    result.updated.append(id)
                } else {
                    changed[id] = State(try NGSIEntity(id: id))
                    result.created.append(id)
                }
                order.append(id)
                slot = changed.index(forKey: id)!
            }
            for (name, attribute) in entity.attributes {
                if let stored = changed.values[slot].entity.attributes[name]?.observedAt, let incoming = attribute.observedAt, incoming < stored { continue }
                changed.values[slot].entity.attributes[name] = attribute
                // Empty until known: a reading superseded later in the batch is never serialized.
                changed.values[slot].fragments[name] = fragments[position][name] ?? []
            }

            // Every Property with an observedAt and a scalar value is an observation (the same
            // rule as NGSIEntity.observations(), without building them).
            for (name, attribute) in entity.attributes {
                guard case .property(let property) = attribute, let observedAt = property.observedAt else { continue }
                let number: Double?
                switch property.value {
                case .number(let value): number = value
                case .text, .boolean: number = nil
                case .dateTime, .list, .structured: continue
                }
                if let oldest = batch.oldestAccepted, observedAt < oldest {
                    result.expired += 1
                    continue
                }
                let series = try seriesID(entity: id, attribute: name, value: property.value, unit: property.unitCode)
                try insertObservation.bind(1, series)
                try insertObservation.bind(2, observedAt.millisecondsSinceEpoch)
                switch property.value {
                case .number(let value):
                    try insertObservation.bind(3, value)
                    try insertObservation.bind(4, nil as String?)
                case .boolean(let flag):
                    try insertObservation.bind(3, Int64(flag ? 1 : 0))
                    try insertObservation.bind(4, nil as String?)
                case .text(let text):
                    try insertObservation.bind(3, nil as String?)
                    try insertObservation.bind(4, text)
                case .dateTime, .list, .structured:
                    continue
                }
                try insertObservation.bind(5, received)
                try insertObservation.run()
                guard connection.changes == 1 else {
                    result.duplicates += 1
                    continue
                }
                result.stored += 1
                if let number {
                    for resolution in SQLiteStoreSchema.eagerRollups {
                        let key = RollupKey(series: series, resolution: resolution, bucket: resolution.bucket(of: observedAt))
                        if rollups[key] == nil { rollups[key] = Aggregate(number) } else { rollups[key]!.merge(Aggregate(number)) }
                    }
                }
            }
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
            guard var state = changed[id] else { continue }
            state.completeFragments()
            let location = try? state.entity.location()
            // An entity known to exist is updated in place (cheaper than an upsert).
            let statement = existed.contains(id) ? updateEntity : upsertEntity
            try statement.bind(1, batch.tenant.name)
            try statement.bind(2, id.rawValue)
            if statement === upsertEntity { try statement.bind(3, id.type) }
            try statement.bind(4, state.body)
            if let location {
                try statement.bind(5, location.latitude)
                try statement.bind(6, location.longitude)
            } else {
                try statement.bind(5, nil as String?)
                try statement.bind(6, nil as String?)
            }
            try statement.bind(7, received)
            try statement.run()
            if latest.count >= Self.latestCacheLimit { latest.removeAll(keepingCapacity: true) }
            latest[id] = state
        }
        if let gateway = batch.gateway {
            try upsertGateway.bind(1, batch.tenant.name)
            try upsertGateway.bind(2, gateway.rawValue)
            try upsertGateway.bind(3, Int64(batch.highestSequence ?? 0))
            try upsertGateway.bind(4, received)
            try upsertGateway.run()
        }
        return result
    }

    private func latestState(tenant: Tenant, id: EntityID) throws -> State? {
        if let cached = latest[id] { return cached }
        try selectEntity.bind(1, tenant.name)
        try selectEntity.bind(2, id.rawValue)
        defer { selectEntity.reset() }
        guard try selectEntity.step() else { return nil }
        return State(try NGSIEntity(bytes: selectEntity.bytes(0), form: .normalized))
    }

    private func seriesID(entity: EntityID, attribute: String, value: PropertyValue, unit: MeasurementUnit?) throws -> Int64 {
        let key = SeriesKey(entity: entity, attribute: attribute)
        if let known = seriesIDs[key] { return known }
        try selectSeries.bind(1, entity.tenant.name)
        try selectSeries.bind(2, entity.rawValue)
        try selectSeries.bind(3, attribute)
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
            default: kind = .number
            }
            try insertSeries.bind(1, entity.tenant.name)
            try insertSeries.bind(2, entity.rawValue)
            try insertSeries.bind(3, entity.type)
            try insertSeries.bind(4, attribute)
            try insertSeries.bind(5, kind.rawValue)
            try insertSeries.bind(6, unit?.code)
            try insertSeries.run()
            id = connection.lastInsertRowID
        }
        seriesIDs[key] = id
        return id
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
        let materialize = try connection.prepare("""
            INSERT INTO rollups(series, resolution, bucket, n, mn, mx, sm)
            SELECT series, 60000, \(SQLiteStoreSchema.minuteBucket), count(num), min(num), max(num), sum(num) FROM observations
            WHERE series IN (SELECT id FROM series WHERE tenant = ? AND type = ? AND kind = \(SQLiteStoreSchema.Kind.number.rawValue))
              AND t < ? AND num IS NOT NULL
            GROUP BY series, \(SQLiteStoreSchema.minuteBucket)
            ON CONFLICT(series, resolution, bucket) DO UPDATE SET
              n = n + excluded.n, mn = min(mn, excluded.mn), mx = max(mx, excluded.mx), sm = sm + excluded.sm
            """)
        let deleteRaw = try connection.prepare(
            "DELETE FROM observations WHERE series IN (SELECT id FROM series WHERE tenant = ? AND type = ?) AND t < ?")
        let deleteRollups = try connection.prepare(
            "DELETE FROM rollups WHERE series IN (SELECT id FROM series WHERE tenant = ? AND type = ?) AND resolution = ? AND bucket < ?")
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
