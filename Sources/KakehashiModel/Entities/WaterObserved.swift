/// A water-level (or flow) observation at a gauge: Smart Data Models `WaterObserved`
/// (dataModel.Environment), with FloodMonitoring's threshold attributes when the gauge has stages.
///
/// Levels are kept in metres (`MTR`) and flows in m³/s (`MQS`); other units are converted exactly
/// on the way in. Levels are elevations on the gauge's datum and may be negative.
///
/// ```swift
/// let gauge = try WaterObserved(
///     id: EntityID(type: "WaterObserved", tenant: Tenant("kurume"), localID: "3100000017"),
///     location: GeoPoint(latitude: 33.3193, longitude: 130.5083),
///     dateObserved: Timestamp(iso8601: "2026-06-01T03:07:00Z"),
///     waterLevel: Quantity(1.14, .metre),
///     thresholds: FloodThresholds(observationStartLevel: 0.5, alertLevel: 2.1, dangerLevel: 2.8))
/// gauge.floodLevelStatus // .normal
/// ```
public struct WaterObserved: SmartDataModel {
    public static let entityType = "WaterObserved"
    public static let context = NGSIContext.forDomain(NGSIContext.environment)

    public let id: EntityID
    /// Where the gauge stands.
    public let location: GeoPoint
    /// When the sensor measured (its own clock, UTC).
    public let dateObserved: Timestamp
    /// The water level, in metres on the gauge's datum.
    public let waterLevel: Quantity?
    /// The flow, in m³/s (never negative).
    public let flow: Quantity?
    /// The gauge's name.
    public let name: String?
    /// Where the gauge is, as an address.
    public let address: PostalAddress?
    /// The device that measured, by entity id.
    public let refDevice: String?
    /// The gauge's stage thresholds.
    public let thresholds: FloodThresholds?

    /// Validates and canonicalizes an observation.
    public init(
        id: EntityID,
        location: GeoPoint,
        dateObserved: Timestamp,
        waterLevel: Quantity? = nil,
        flow: Quantity? = nil,
        name: String? = nil,
        address: PostalAddress? = nil,
        refDevice: String? = nil,
        thresholds: FloodThresholds? = nil
    ) throws(ModelError) {
        try Self.checkID(id)
        self.id = id
        self.location = location
        self.dateObserved = dateObserved
        self.waterLevel = try Checks.quantity(waterLevel, canonical: .metre, field: "waterLevel")
        self.flow = try Checks.quantity(flow, canonical: .cubicMetrePerSecond, field: "flow")
        if let flow = self.flow, flow.value < 0 {
            throw ModelError(field: "flow", .outOfRange(value: flow.value, range: "0...∞"))
        }
        self.name = try Checks.optionalText(name, field: "name")
        self.address = address
        self.refDevice = try refDevice.map { (ref) throws(ModelError) in try NGSIEntity.checkReference(ref, field: "refDevice") }
        self.thresholds = thresholds?.isEmpty == true ? nil : thresholds
    }

    /// The water level against the thresholds, when both are known.
    public var floodLevelStatus: FloodLevelStatus? {
        guard let waterLevel, let thresholds, thresholds.alertLevel != nil || thresholds.dangerLevel != nil else { return nil }
        return thresholds.status(of: waterLevel.value)
    }

    public var ngsiEntity: NGSIEntity {
        var b = AttributeBuilder()
        b.location(location)
        b.dateTime("dateObserved", dateObserved)
        b.quantity("waterLevel", waterLevel, observedAt: dateObserved)
        b.quantity("flow", flow, observedAt: dateObserved)
        b.text("name", name)
        b.value("address", address.map { .structured($0.json) })
        b.relationship("refDevice", refDevice)
        if let thresholds {
            b.value("observationStartLevel", thresholds.observationStartLevel.map(PropertyValue.number), unit: .metre)
            b.value("alertLevel", thresholds.alertLevel.map(PropertyValue.number), unit: .metre)
            b.value("dangerLevel", thresholds.dangerLevel.map(PropertyValue.number), unit: .metre)
        }
        b.value("floodLevelStatus", floodLevelStatus.map { .text($0.rawValue) }, observedAt: dateObserved)
        return Self.entity(id, b)
    }

    public init(ngsiEntity e: NGSIEntity) throws(ModelError) {
        try e.checkType(Self.entityType)
        let level = try e.quantity("waterLevel", in: .metre)
        let flow = try e.quantity("flow", in: .cubicMetrePerSecond)
        guard let observed = try e.timestamp("dateObserved") ?? level?.observedAt ?? flow?.observedAt else {
            throw ModelError(field: "dateObserved", .missing)
        }
        if let status = try e.text("floodLevelStatus"), FloodLevelStatus(rawValue: status) == nil {
            throw ModelError(field: "floodLevelStatus", .invalid("\"\(status)\" is not one of Normal, Alert, Danger"))
        }
        let thresholds = try FloodThresholds(
            observationStartLevel: e.quantity("observationStartLevel", in: .metre)?.quantity.value,
            alertLevel: e.quantity("alertLevel", in: .metre)?.quantity.value,
            dangerLevel: e.quantity("dangerLevel", in: .metre)?.quantity.value
        )
        try self.init(
            id: e.id,
            location: e.requiredLocation(),
            dateObserved: observed,
            waterLevel: level?.quantity,
            flow: flow?.quantity,
            name: e.text("name"),
            address: PostalAddress.decode(from: e),
            refDevice: e.reference("refDevice"),
            thresholds: thresholds
        )
    }
}
