/// A BLE tag or beacon seen by a gateway: Smart Data Models `Device` (dataModel.Device) with
/// `deviceCategory: ["beacon"]`.
///
/// The local id is a keyed pseudonym made at the gateway; raw addresses and beacon ids never
/// reach this type. `controlledProperty` (required by the schema) lists the measured attributes
/// present (`rssi`, `batteryLevel`), or `location` when only the sighting itself is known.
public struct BeaconDevice: SmartDataModel {
    public static let entityType = "Device"
    public static let context = NGSIContext.forDomain(NGSIContext.device)
    /// The `deviceCategory` of every beacon.
    public static let category = "beacon"

    public let id: EntityID
    /// When the tag was last heard (the advertisement's time).
    public let dateLastValueReported: Timestamp
    /// Received signal strength, dBm (-127...20).
    public let rssi: Double?
    /// Battery level, 0...1 (1 = full), or -1 when it cannot be determined now.
    public let batteryLevel: Double?
    /// Where it was heard (the gateway's position).
    public let location: GeoPoint?
    /// A display name.
    public let name: String?
    /// Operational state, e.g. `present` or `absent`.
    public let deviceState: String?

    /// Validates a sighting.
    public init(
        id: EntityID,
        dateLastValueReported: Timestamp,
        rssi: Double? = nil,
        batteryLevel: Double? = nil,
        location: GeoPoint? = nil,
        name: String? = nil,
        deviceState: String? = nil
    ) throws(ModelError) {
        try Self.checkID(id)
        if let rssi { try Checks.range(rssi, -127...20, field: "rssi") }
        if let batteryLevel, batteryLevel != -1 { try Checks.range(batteryLevel, 0...1, field: "batteryLevel") }
        self.id = id
        self.dateLastValueReported = dateLastValueReported
        self.rssi = rssi
        self.batteryLevel = batteryLevel
        self.location = location
        self.name = try Checks.optionalText(name, field: "name")
        self.deviceState = try Checks.optionalText(deviceState, field: "deviceState")
    }

    /// The measured attributes present, for `controlledProperty`.
    public var controlledProperty: [String] {
        var names = [String]()
        if rssi != nil { names.append("rssi") }
        if batteryLevel != nil { names.append("batteryLevel") }
        return names.isEmpty ? ["location"] : names
    }

    public var ngsiEntity: NGSIEntity {
        var b = AttributeBuilder()
        let observed = dateLastValueReported
        b.value("deviceCategory", .list([Self.category]))
        b.value("controlledProperty", .list(controlledProperty))
        b.dateTime("dateLastValueReported", observed)
        b.value("rssi", rssi.map(PropertyValue.number), unit: .decibelMilliwatt, observedAt: observed)
        b.value("batteryLevel", batteryLevel.map(PropertyValue.number), unit: .one, observedAt: observed)
        b.location(location)
        b.text("name", name)
        b.value("deviceState", deviceState.map(PropertyValue.text), observedAt: observed)
        return Self.entity(id, b)
    }

    public init(ngsiEntity e: NGSIEntity) throws(ModelError) {
        try e.checkType(Self.entityType)
        guard let categories = try e.list("deviceCategory") else { throw ModelError(field: "deviceCategory", .missing) }
        guard categories.contains(Self.category) else {
            throw ModelError(field: "deviceCategory", .invalid("a beacon Device has deviceCategory [\"beacon\"], got \(categories)"))
        }
        let rssi = try e.quantity("rssi", in: .decibelMilliwatt)
        let battery = try e.quantity("batteryLevel", in: .one)
        guard let observed = try e.timestamp("dateLastValueReported") ?? rssi?.observedAt ?? battery?.observedAt else {
            throw ModelError(field: "dateLastValueReported", .missing)
        }
        try self.init(
            id: e.id,
            dateLastValueReported: observed,
            rssi: rssi?.quantity.value,
            batteryLevel: battery?.quantity.value,
            location: e.location(),
            name: e.text("name"),
            deviceState: e.text("deviceState")
        )
    }
}
