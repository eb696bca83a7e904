/// One measurement of one property by a device: Smart Data Models `DeviceMeasurement`
/// (dataModel.Device). Used for readings that no richer model covers (a gauge's battery voltage,
/// a cabinet temperature).
public struct DeviceMeasurement: SmartDataModel {
    public static let entityType = "DeviceMeasurement"
    public static let context = NGSIContext.forDomain(NGSIContext.device)

    /// A measurement's value: a quantity (`numValue` + `unit`) or a text (`textValue`).
    public enum Value: Sendable, Hashable {
        case quantity(Quantity)
        case text(String)
    }

    public let id: EntityID
    /// The property measured, e.g. `batteryVoltage`.
    public let controlledProperty: String
    /// The value.
    public let value: Value
    /// When it was measured.
    public let dateObserved: Timestamp
    /// The device that measured, by entity id.
    public let refDevice: String?
    /// The kind of device, e.g. `sensor`.
    public let deviceType: String?
    /// The kind of measurement.
    public let measurementType: String?
    /// Where it was measured.
    public let location: GeoPoint?
    /// Marks a value to be processed specially.
    public let outlier: Bool?

    /// Validates a measurement.
    public init(
        id: EntityID,
        controlledProperty: String,
        value: Value,
        dateObserved: Timestamp,
        refDevice: String? = nil,
        deviceType: String? = nil,
        measurementType: String? = nil,
        location: GeoPoint? = nil,
        outlier: Bool? = nil
    ) throws(ModelError) {
        try Self.checkID(id)
        guard !controlledProperty.isEmpty else { throw ModelError(field: "controlledProperty", .missing) }
        self.controlledProperty = try ModelLimits.checkLength(controlledProperty, field: "controlledProperty", limit: 64)
        if case .text(let text) = value { _ = try ModelLimits.checkLength(text, field: "textValue") }
        self.id = id
        self.value = value
        self.dateObserved = dateObserved
        self.refDevice = try refDevice.map { (ref) throws(ModelError) in try NGSIEntity.checkReference(ref, field: "refDevice") }
        self.deviceType = try Checks.optionalText(deviceType, field: "deviceType")
        self.measurementType = try Checks.optionalText(measurementType, field: "measurementType")
        self.location = location
        self.outlier = outlier
    }

    public var ngsiEntity: NGSIEntity {
        var b = AttributeBuilder()
        b.text("controlledProperty", controlledProperty)
        b.dateTime("dateObserved", dateObserved)
        switch value {
        case .quantity(let quantity):
            b.quantity("numValue", quantity, observedAt: dateObserved)
            b.text("unit", quantity.unit.code)
        case .text(let text):
            b.value("textValue", .text(text), observedAt: dateObserved)
        }
        b.relationship("refDevice", refDevice)
        b.text("deviceType", deviceType)
        b.text("measurementType", measurementType)
        b.location(location)
        b.value("outlier", outlier.map(PropertyValue.boolean))
        return Self.entity(id, b)
    }

    public init(ngsiEntity e: NGSIEntity) throws(ModelError) {
        try e.checkType(Self.entityType)
        let value: Value
        var observed: Timestamp?
        if let numeric = try e.property("numValue") {
            guard case .number(let number) = numeric.value else { throw ModelError(field: "numValue", .wrongType(expected: "a number")) }
            var unit = numeric.unitCode
            if let code = try e.text("unit") {
                let named = try MeasurementUnit(code: code, field: "unit")
                if let given = unit, given != named {
                    throw ModelError(field: "unit", .invalid("unit \(code) disagrees with numValue.unitCode \(given.code)"))
                }
                unit = named
            }
            guard let unit else { throw ModelError(field: "unit", .missing) }
            value = .quantity(try Quantity(number, unit, field: "numValue"))
            observed = numeric.observedAt
        } else if let textual = try e.property("textValue") {
            guard case .text(let text) = textual.value else { throw ModelError(field: "textValue", .wrongType(expected: "a string")) }
            value = .text(text)
            observed = textual.observedAt
        } else {
            throw ModelError(field: "numValue", .invalid("a DeviceMeasurement needs numValue or textValue"))
        }
        guard let dateObserved = try e.timestamp("dateObserved") ?? observed else { throw ModelError(field: "dateObserved", .missing) }
        try self.init(
            id: e.id,
            controlledProperty: e.requiredText("controlledProperty"),
            value: value,
            dateObserved: dateObserved,
            refDevice: e.reference("refDevice"),
            deviceType: e.text("deviceType"),
            measurementType: e.text("measurementType"),
            location: e.location(),
            outlier: e.boolean("outlier")
        )
    }
}
