/// A river water-level gauge with its stage thresholds, as the Japanese river information service
/// (MLIT 川の防災情報) describes crisis-management gauges (危機管理型水位計).
///
/// Levels are elevations in metres on the gauge's own datum (hundreds of metres in the mountains,
/// negative near the sea), so thresholds are per gauge, never global.
public struct RiverGaugeStation: Sendable, Hashable {
    /// The MLIT station code, e.g. `3100000017`; the entity's local id.
    public let code: String
    /// The station's name (気仙小橋).
    public let name: String
    /// Prefecture (都道府県).
    public let prefecture: String
    /// City, town or village (市区町村).
    public let city: String
    /// Where the gauge stands.
    public let location: GeoPoint
    /// Observation-start, danger and flood-start levels.
    public let thresholds: FloodThresholds

    /// Creates a station; the code must be usable as an entity local id.
    public init(code: String, name: String, prefecture: String, city: String, location: GeoPoint, thresholds: FloodThresholds) throws(ModelError) {
        try EntityID.checkLocalID(code, field: "station_code")
        self.code = code
        self.name = try ModelLimits.checkLength(name, field: "name")
        self.prefecture = try ModelLimits.checkLength(prefecture, field: "prefecture")
        self.city = try ModelLimits.checkLength(city, field: "city")
        self.location = location
        self.thresholds = thresholds
    }

    /// The entity id of this gauge in `tenant`: `urn:ngsi-ld:WaterObserved:<tenant>:<code>`.
    public func entityID(tenant: Tenant) throws(ModelError) -> EntityID {
        try EntityID(type: WaterObserved.entityType, tenant: tenant, localID: code)
    }

    /// One reading of this gauge as a complete `WaterObserved` entity, with the gauge's location,
    /// name, address and thresholds.
    public func waterObserved(tenant: Tenant, level: Double, observedAt: Timestamp) throws(ModelError) -> WaterObserved {
        try WaterObserved(
            id: entityID(tenant: tenant),
            location: location,
            dateObserved: observedAt,
            waterLevel: Quantity(level, .metre, field: "waterLevel"),
            name: name,
            address: PostalAddress(addressCountry: "JP", addressRegion: prefecture, addressLocality: city),
            thresholds: thresholds
        )
    }
}
