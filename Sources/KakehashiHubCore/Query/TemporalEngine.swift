import KakehashiModel

/// Answers temporal queries for one series from a store: raw instances, or aggregates per period
/// taken from rollups when the period and range line up with a rollup resolution (raw rows
/// otherwise, and for the unaligned tail of a range).
public struct TemporalEngine: Sendable {
    let store: any ObservationStore
    let maxInstances: Int

    /// Creates an engine.
    public init(store: any ObservationStore, maxInstances: Int) {
        self.store = store
        self.maxInstances = maxInstances
    }

    /// One aggregation period and its aggregate.
    public struct Period: Sendable, Hashable {
        /// The first instant.
        public let start: Timestamp
        /// The first instant after it.
        public let end: Timestamp
        /// Count, min, max, sum (min/max/sum meaningless for non-numeric series).
        public let aggregate: Aggregate
    }

    /// The raw instances of a series, and whether they were cut at the instance limit.
    public func instances(
        tenant: Tenant,
        entity: EntityID,
        attribute: String,
        request: TemporalRequest
    ) async throws(StorageError) -> (values: [StoredValue], truncated: Bool) {
        let values = try await store.observations(
            tenant: tenant,
            entity: entity,
            attribute: attribute,
            range: request.range,
            lastN: request.lastN,
            limit: maxInstances + 1
        )
        return values.count > maxInstances ? (Array(values.prefix(maxInstances)), true) : (values, false)
    }

    /// The resolution whose buckets fit exactly in the periods, if any.
    static func resolution(period: Int64, origin: Int64, from: Int64?) -> RollupResolution? {
        for resolution in [RollupResolution.hour, .minute] {
            let r = resolution.milliseconds
            if (period == 0 || period % r == 0) && (period == 0 || origin % r == 0) && (from.map { $0 % r == 0 } ?? true) {
                return resolution
            }
        }
        return nil
    }

    /// Aggregates of a series per period of `period` ms starting at `request.origin` (one period
    /// for the whole range when `period` is 0); only periods holding values, oldest first.
    public func periods(
        tenant: Tenant,
        entity: EntityID,
        series: SeriesInfo,
        period: Int64,
        request: TemporalRequest
    ) async throws(StorageError) -> [Period] {
        let range = request.range
        let origin = request.origin.millisecondsSinceEpoch
        var sums = [Int64: Aggregate]()
        var first: Int64?
        var last: Int64?
        func add(_ t: Int64, _ aggregate: Aggregate) {
            let key = period == 0 ? 0 : Self.floorDiv(t - origin, period)
            if sums[key] == nil { sums[key] = aggregate } else { sums[key]!.merge(aggregate) }
            first = min(first ?? t, t)
            last = max(last ?? t, t)
        }
        func addRaw(_ values: [StoredValue]) {
            for value in values {
                let number: Double
                switch value.value {
                case .number(let n): number = n
                case .boolean(let b): number = b ? 1 : 0
                default: number = .nan
                }
                add(value.observedAt.millisecondsSinceEpoch, Aggregate(number))
            }
        }
        if series.numeric, let resolution = Self.resolution(period: period, origin: origin, from: range.from?.millisecondsSinceEpoch) {
            let r = resolution.milliseconds
            let alignedEnd = range.to.map { Timestamp(millisecondsSinceEpoch: Self.floorDiv($0.millisecondsSinceEpoch, r) * r) }
            let buckets = try await store.rollups(
                tenant: tenant,
                entity: entity,
                attribute: series.attribute,
                resolution: resolution,
                range: TimeRange(from: range.from, to: alignedEnd)
            )
            for bucket in buckets { add(bucket.start.millisecondsSinceEpoch, bucket.aggregate) }
            if let alignedEnd, let end = range.to, alignedEnd < end {
                addRaw(
                    try await store.observations(
                        tenant: tenant,
                        entity: entity,
                        attribute: series.attribute,
                        range: TimeRange(from: alignedEnd, to: end),
                        lastN: nil,
                        limit: Int.max
                    )
                )
            }
        } else {
            addRaw(
                try await store.observations(
                    tenant: tenant,
                    entity: entity,
                    attribute: series.attribute,
                    range: range,
                    lastN: nil,
                    limit: Int.max
                )
            )
        }
        var periods = sums.sorted { $0.key < $1.key }.map { key, aggregate -> Period in
            if period == 0 {
                let start = range.from?.millisecondsSinceEpoch ?? first ?? 0
                let end = range.to?.millisecondsSinceEpoch ?? ((last ?? start) + 1)
                return Period(start: Timestamp(millisecondsSinceEpoch: start), end: Timestamp(millisecondsSinceEpoch: end), aggregate: aggregate)
            }
            let start = origin + key * period
            return Period(
                start: Timestamp(millisecondsSinceEpoch: start),
                end: Timestamp(millisecondsSinceEpoch: start + period),
                aggregate: aggregate
            )
        }
        if let n = request.lastN, periods.count > n { periods = Array(periods.suffix(n)) }
        return periods
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}
