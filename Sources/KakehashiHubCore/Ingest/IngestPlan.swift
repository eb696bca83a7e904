import KakehashiModel

/// What storing a batch means, worked out without a database: the observations it holds, the
/// rollup sums of those a store inserts, and each entity's latest state once merged. A store only
/// binds and runs it (the SQLite store under its writer lock, a PostgreSQL one in a transaction),
/// so every store applies the same rules:
///
/// - **Observations:** every attribute that ``NGSIEntity/observedValue(_:)`` accepts, unless it
///   was observed before the batch's `oldestAccepted` (past raw retention: counted as expired).
/// - **Rollups** count only the readings the store actually inserted, so a batch delivered again
///   never counts twice.
/// - **Latest state:** attributes are merged in batch order; an attribute replaces the stored one
///   unless the stored one was observed later (a late reading does not hide a newer one).
///
/// ```swift
/// let plan = IngestPlan(batch)                      // outside any lock
/// let inserted = plan.readings.map { insert($0) }   // the store's step
/// for (key, sum) in plan.rollups(inserted: inserted, resolutions: [.hour]) { upsert(key, sum) }
/// for change in plan.changes { write(change.merged(into: stored(change.id))) }
/// ```
public struct IngestPlan: Sendable {
    /// One observed series: an entity's attribute (the entity id names the tenant too).
    public struct SeriesKey: Sendable, Hashable {
        public let entity: EntityID
        public let attribute: String

        public init(entity: EntityID, attribute: String) {
            self.entity = entity
            self.attribute = attribute
        }
    }

    /// One series the batch observes, with the kind and unit of its first reading (what a store
    /// records when it creates the series).
    public struct Series: Sendable, Hashable {
        public let key: SeriesKey
        public let value: ObservedScalar
        public let unit: MeasurementUnit?
    }

    /// One observation to insert.
    public struct Reading: Sendable, Hashable {
        /// Its series, as a position in ``series``.
        public let series: Int
        public let observedAt: Timestamp
        public let value: ObservedScalar
    }

    /// One rollup bucket of a series (a position in ``series``).
    public struct RollupKey: Sendable, Hashable {
        public let series: Int
        public let resolution: RollupResolution
        public let bucket: Int64

        public init(series: Int, resolution: RollupResolution, bucket: Int64) {
            self.series = series
            self.resolution = resolution
            self.bucket = bucket
        }
    }

    /// One attribute as the batch gives it, in batch order.
    public struct Update: Sendable {
        public let name: String
        public let attribute: NGSIAttribute
        /// Its normalized JSON as received; nil when the store must write it (HTTP posts).
        public var fragment: [UInt8]?
    }

    /// Everything the batch says about one entity, in batch order.
    public struct Change: Sendable {
        public let id: EntityID
        public var updates: [Update]
        /// Whether the change replaces the entity: attributes it does not name are removed
        /// (NGSI-LD replace; a merge keeps them).
        public var replaces = false

        /// The entity's state once this change is merged into `stored` (nil: the entity is new).
        public func merged(into stored: consuming EntityState?) throws(ModelError) -> EntityState {
            var state: EntityState
            if let stored { state = stored } else { state = EntityState(try NGSIEntity(id: id)) }
            merge(into: &state)
            return state
        }

        /// Merges this change into `state`, in place.
        public func merge(into state: inout EntityState) {
            if replaces {
                let named = Set(updates.map(\.name))
                for name in state.entity.attributes.keys where !named.contains(name) {
                    state.entity.attributes[name] = nil
                    state.fragments[name] = nil
                }
            }
            for update in updates {
                if let known = state.entity.attributes[update.name]?.observedAt, let incoming = update.attribute.observedAt, incoming < known {
                    continue
                }
                state.entity.attributes[update.name] = update.attribute
                // Empty until known: a reading superseded later in the batch is never serialized.
                state.fragments[update.name] = update.fragment ?? []
            }
            state.completeFragments()
        }
    }

    /// The series observed, in the order they first appear.
    public let series: [Series]
    /// The observations, in batch order.
    public let readings: [Reading]
    /// Observations past raw retention, not stored.
    public let expired: Int
    /// One change per entity, in the order entities first appear.
    public let changes: [Change]

    /// Plans `batch`.
    public init(_ batch: IngestBatch) {
        var readings = [Reading]()
        readings.reserveCapacity(batch.entities.count)
        var series = [Series]()
        var seriesPosition = [SeriesKey: Int]()
        var expired = 0
        var changes = [Change]()
        var position = [EntityID: Int]()
        for (index, entity) in batch.entities.enumerated() {
            let received = batch.received.isEmpty ? [:] : batch.received[index]
            let slot: Int
            if let known = position[entity.id] {
                slot = known
            } else {
                slot = changes.count
                position[entity.id] = slot
                changes.append(Change(id: entity.id, updates: [], replaces: batch.replacing))
            }
            for (name, attribute) in entity.attributes {
                changes[slot].updates.append(Update(name: name, attribute: attribute, fragment: received[name]))
                guard let observed = NGSIEntity.observedValue(attribute) else { continue }
                if let oldest = batch.oldestAccepted, observed.observedAt < oldest {
                    expired += 1
                    continue
                }
                let key = SeriesKey(entity: entity.id, attribute: name)
                let position: Int
                if let known = seriesPosition[key] {
                    position = known
                } else {
                    position = series.count
                    seriesPosition[key] = position
                    series.append(Series(key: key, value: observed.value, unit: observed.unit))
                }
                readings.append(Reading(series: position, observedAt: observed.observedAt, value: observed.value))
            }
        }
        if batch.received.isEmpty {
            // Written here, outside the store's lock: the JSON of each attribute that can become
            // the latest value (the batch's own winner; one it supersedes is never written).
            for slot in changes.indices {
                var winner = [String: Int]()
                for (i, update) in changes[slot].updates.enumerated() {
                    if let current = winner[update.name], let known = changes[slot].updates[current].attribute.observedAt,
                        let incoming = update.attribute.observedAt, incoming < known
                    {
                        continue
                    }
                    winner[update.name] = i
                }
                for i in winner.values { changes[slot].updates[i].fragment = NGSIEntity.normalizedFragment(changes[slot].updates[i].attribute) }
            }
        }
        self.series = series
        self.readings = readings
        self.expired = expired
        self.changes = changes
    }

    /// The sums to add to each rollup bucket at `resolutions`, from the numeric readings the
    /// store inserted (`inserted[i]` for `readings[i]`; duplicates add nothing).
    public func rollups(inserted: [Bool], resolutions: [RollupResolution]) -> [RollupKey: Aggregate] {
        var sums = [RollupKey: Aggregate]()
        for (reading, isNew) in zip(readings, inserted) where isNew {
            guard case .number(let number) = reading.value else { continue }
            for resolution in resolutions {
                let key = RollupKey(series: reading.series, resolution: resolution, bucket: resolution.bucket(of: reading.observedAt))
                if sums[key] == nil { sums[key] = Aggregate(number) } else { sums[key]!.merge(Aggregate(number)) }
            }
        }
        return sums
    }
}

/// An entity's latest state as a store keeps it: the entity and each attribute's normalized JSON,
/// from which its body is put together without serializing every attribute again.
public struct EntityState: Sendable {
    public var entity: NGSIEntity
    public var fragments: [String: [UInt8]]

    /// The state of `entity`, serializing each attribute.
    public init(_ entity: NGSIEntity) {
        self.entity = entity
        self.fragments = entity.attributes.mapValues(NGSIEntity.normalizedFragment)
    }

    /// Serializes the attributes whose JSON is not known yet (kept empty by the merge).
    mutating func completeFragments() {
        for (name, fragment) in fragments where fragment.isEmpty {
            if let attribute = entity.attributes[name] { fragments[name] = NGSIEntity.normalizedFragment(attribute) }
        }
    }

    /// The entity's normalized JSON.
    public var body: [UInt8] {
        entity.context.isEmpty ? NGSIEntity.assembleNormalized(id: entity.id, fragments: fragments) : entity.serialized(.normalized)
    }
}
