import KakehashiModel

/// The validated readings of one batch, as ingest hands them to storage.
public struct IngestBatch: Sendable {
    /// The owning tenant; every entity belongs to it.
    public let tenant: Tenant
    /// The gateway that sent it; nil for the HTTP ingest path.
    public let gateway: GatewayID?
    /// The highest outbox sequence in the batch (MQTT batches).
    public let highestSequence: UInt64?
    /// The lowest outbox sequence in the batch (MQTT batches).
    public let lowestSequence: UInt64?
    /// Entity fragments, in the order received.
    public let entities: [NGSIEntity]
    /// Per entity (empty, or one per entity): each attribute's normalized JSON as received, kept
    /// as the stored latest value instead of being written again.
    public let received: [[String: [UInt8]]]
    /// When the hub received the batch.
    public let receivedAt: Timestamp
    /// Readings observed before this time are not stored (they are past raw retention, and
    /// storing them again would count them twice in rollups); nil stores everything.
    public let oldestAccepted: Timestamp?
    /// Whether each entity's state is replaced (attributes the batch does not name are removed)
    /// rather than merged.
    public let replacing: Bool

    /// Creates a batch.
    public init(
        tenant: Tenant,
        gateway: GatewayID?,
        highestSequence: UInt64? = nil,
        lowestSequence: UInt64? = nil,
        entities: [NGSIEntity],
        received: [[String: [UInt8]]] = [],
        receivedAt: Timestamp,
        oldestAccepted: Timestamp? = nil,
        replacing: Bool = false
    ) {
        precondition(received.isEmpty || received.count == entities.count, "received bytes are given for every entity or none")
        self.tenant = tenant
        self.gateway = gateway
        self.highestSequence = highestSequence
        self.lowestSequence = lowestSequence ?? highestSequence
        self.entities = entities
        self.received = received
        self.receivedAt = receivedAt
        self.oldestAccepted = oldestAccepted
        self.replacing = replacing
    }
}

extension IngestBatch {
    /// The batch without the entities at `positions` (and their received bytes).
    public func removing(_ positions: Set<Int>) -> IngestBatch {
        let kept = entities.indices.filter { !positions.contains($0) }
        return IngestBatch(
            tenant: tenant,
            gateway: gateway,
            highestSequence: highestSequence,
            lowestSequence: lowestSequence,
            entities: kept.map { entities[$0] },
            received: received.isEmpty ? [] : kept.map { received[$0] },
            receivedAt: receivedAt,
            oldestAccepted: oldestAccepted,
            replacing: replacing
        )
    }
}

/// What storing a batch did.
public struct IngestResult: Sendable, Hashable {
    /// Observations stored for the first time.
    public var stored = 0
    /// Observations already stored (same tenant, entity, attribute and observedAt): unchanged.
    public var duplicates = 0
    /// Observations older than raw retention: not stored.
    public var expired = 0
    /// Entities that did not exist before this batch.
    public var created: [EntityID] = []
    /// Entities that existed and were updated.
    public var updated: [EntityID] = []

    /// An empty result.
    public init() {}
}

/// A value stored in a time series.
public struct StoredValue: Sendable, Hashable {
    /// When the sensor measured it.
    public let observedAt: Timestamp
    /// The value.
    public let value: PropertyValue

    /// Creates a stored value.
    public init(observedAt: Timestamp, value: PropertyValue) {
        self.observedAt = observedAt
        self.value = value
    }
}

/// One time series: an attribute of an entity, with its unit.
public struct SeriesInfo: Sendable, Hashable {
    /// The attribute.
    public let attribute: String
    /// The unit of its numbers, when it has one.
    public let unitCode: MeasurementUnit?
    /// Whether its values are numbers (and so rolled up).
    public let numeric: Bool
    /// The type of the entity observed (kept when the entity is deleted); nil when unknown.
    public let entityType: String?

    /// Creates a description.
    public init(attribute: String, unitCode: MeasurementUnit?, numeric: Bool, entityType: String? = nil) {
        self.attribute = attribute
        self.unitCode = unitCode
        self.numeric = numeric
        self.entityType = entityType
    }
}

/// A half-open time range `[from, to)`; either end may be open.
public struct TimeRange: Sendable, Hashable {
    /// The first instant included.
    public var from: Timestamp?
    /// The first instant excluded.
    public var to: Timestamp?

    /// Creates a range.
    public init(from: Timestamp? = nil, to: Timestamp? = nil) {
        self.from = from
        self.to = to
    }

    /// Everything.
    public static let all = TimeRange()

    /// Whether `t` lies in the range.
    public func contains(_ t: Timestamp) -> Bool {
        (from.map { t >= $0 } ?? true) && (to.map { t < $0 } ?? true)
    }
}

/// The resolution of a rollup.
public enum RollupResolution: Int64, Sendable, Hashable, CaseIterable {
    /// One bucket per minute.
    case minute = 60_000
    /// One bucket per hour.
    case hour = 3_600_000

    /// The bucket length in milliseconds.
    public var milliseconds: Int64 { rawValue }

    /// The bucket that holds `t`.
    public func bucket(of t: Timestamp) -> Int64 {
        let ms = t.millisecondsSinceEpoch
        return ms >= 0 ? ms / rawValue * rawValue : ((ms + 1) / rawValue - 1) * rawValue
    }

    /// The start of the first bucket at or after `t` (ms): a bucket starts in a range when its
    /// first millisecond is at or after the aligned-up start and before the aligned-up end.
    /// Open ends (near `Int64.min`/`max`) stay as they are.
    public func alignUp(_ t: Int64) -> Int64 {
        guard t > Int64.min + rawValue, t < Int64.max - rawValue else { return t }
        let down = bucket(of: Timestamp(millisecondsSinceEpoch: t))
        return down == t ? t : down + rawValue
    }
}

/// Count, min, max and sum of the numeric values of one bucket (a rollup row, or a period).
public struct Aggregate: Sendable, Hashable {
    /// Number of values.
    public var count: Int64
    /// Smallest value.
    public var min: Double
    /// Largest value.
    public var max: Double
    /// Sum of the values.
    public var sum: Double

    /// The aggregate of one value.
    public init(_ value: Double) {
        self.count = 1
        self.min = value
        self.max = value
        self.sum = value
    }

    /// An aggregate from its parts.
    public init(count: Int64, min: Double, max: Double, sum: Double) {
        self.count = count
        self.min = min
        self.max = max
        self.sum = sum
    }

    /// Adds another aggregate (or one value) to this one.
    public mutating func merge(_ other: Aggregate) {
        count += other.count
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
        sum += other.sum
    }
}

/// One rollup bucket of a series.
public struct RollupBucket: Sendable, Hashable {
    /// The bucket's first instant.
    public let start: Timestamp
    /// Its aggregate.
    public var aggregate: Aggregate

    /// Creates a bucket.
    public init(start: Timestamp, aggregate: Aggregate) {
        self.start = start
        self.aggregate = aggregate
    }
}

/// A rejected batch kept for operators, with the reason.
public struct HubDeadLetter: Sendable, Hashable {
    /// Assigned by storage.
    public let id: Int64
    /// When it arrived.
    public let receivedAt: Timestamp
    /// The MQTT topic, or `http` for the HTTP ingest path.
    public let source: String
    /// The tenant named by the topic or header, when it was readable.
    public let tenant: String?
    /// Why it was rejected: a closed reason name.
    public let reason: String
    /// The specific problem (field and value).
    public let detail: String
    /// The first bytes of the payload.
    public let payload: [UInt8]
    /// The payload's full size.
    public let size: Int

    /// Creates a dead letter.
    public init(id: Int64 = 0, receivedAt: Timestamp, source: String, tenant: String?, reason: String, detail: String, payload: [UInt8], size: Int) {
        self.id = id
        self.receivedAt = receivedAt
        self.source = source
        self.tenant = tenant
        self.reason = reason
        self.detail = detail
        self.payload = payload
        self.size = size
    }
}

/// What a retention pass removed.
public struct RetentionResult: Sendable, Hashable {
    /// Raw observations deleted.
    public var observations = 0
    /// Rollup rows deleted.
    public var rollups = 0

    /// Nothing removed.
    public init() {}
}

/// Row counts, for metrics and health.
public struct StoreStatistics: Sendable, Hashable {
    /// Entities stored.
    public var entities = 0
    /// Time series.
    public var series = 0
    /// Raw observations.
    public var observations = 0
    /// Dead letters kept.
    public var deadLetters = 0

    /// Zero counts.
    public init() {}
}

/// An entity's NGSI-LD system times (`options=sysAttrs`).
public struct EntitySystemTimes: Sendable, Hashable {
    /// When it was created; nil for entities created before the store kept it.
    public let createdAt: Timestamp?
    /// When a write last changed it (the time the hub received that write).
    public let modifiedAt: Timestamp

    public init(createdAt: Timestamp?, modifiedAt: Timestamp) {
        self.createdAt = createdAt
        self.modifiedAt = modifiedAt
    }
}
