import KakehashiModel

/// Turns an MLIT river-gauge trace into `WaterObserved` entities: each reading joined with its
/// gauge's location, name, address and thresholds.
///
/// Readings of unknown gauges are rejected with the reason; a reading repeated with the same gauge
/// and time (the archive's snapshots overlap) is counted as a duplicate and kept once.
public struct RiverTraceNormalizer: Sendable {
    /// What normalizing a trace produced.
    public struct Result: Sendable {
        /// One entity per distinct (gauge, observedAt), in trace order.
        public var entities: [WaterObserved] = []
        /// Readings that could not be normalized.
        public var rejected: [TraceError] = []
        /// Readings repeated with the same gauge and time, skipped.
        public var duplicates = 0
    }

    /// The tenant the entities belong to.
    public let tenant: Tenant
    /// The gauges.
    public let stations: RiverGaugeStations

    /// Creates a normalizer for `tenant`.
    public init(tenant: Tenant, stations: RiverGaugeStations) {
        self.tenant = tenant
        self.stations = stations
    }

    /// Normalizes `trace`, named `file` in errors.
    public func normalize(_ trace: RiverGaugeTrace, file: String) -> Result {
        var result = Result()
        result.rejected = trace.rejected
        result.entities.reserveCapacity(trace.readings.count)
        var seen = Set<Observation.Key>()
        for reading in trace.readings {
            guard let station = stations.byCode[reading.stationCode] else {
                result.rejected.append(
                    TraceError(
                        file: file,
                        line: reading.line,
                        column: "station_code",
                        reason: "no station \(reading.stationCode) in the stations file"
                    )
                )
                continue
            }
            do {
                let entity = try station.waterObserved(tenant: tenant, level: reading.level, observedAt: reading.observedAt)
                let key = Observation.Key(tenant: tenant, entityID: entity.id, attribute: "waterLevel", observedAt: reading.observedAt)
                guard seen.insert(key).inserted else {
                    result.duplicates += 1
                    continue
                }
                result.entities.append(entity)
            } catch {
                result.rejected.append(TraceError(file: file, line: reading.line, reason: error.description))
            }
        }
        return result
    }
}
