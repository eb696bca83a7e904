/// People counted at a place over an interval: Smart Data Models `CrowdFlowObserved`
/// (dataModel.Transportation).
///
/// `dateObserved` is the interval `from/to` (ISO 8601); `dateObservedFrom` and `dateObservedTo`
/// carry its ends. Measured attributes are observed at the end of the interval.
public struct CrowdFlowObserved: SmartDataModel {
    public static let entityType = "CrowdFlowObserved"
    public static let context = NGSIContext.forDomain(NGSIContext.transportation)

    /// Usual direction of travel, relative to the city centre.
    public enum Direction: String, Sendable, Hashable, CaseIterable {
        case inbound, outbound
    }

    public let id: EntityID
    /// Where the counter stands.
    public let location: GeoPoint?
    /// Start of the counting interval.
    public let dateObservedFrom: Timestamp
    /// End of the counting interval (after the start).
    public let dateObservedTo: Timestamp
    /// People counted in the interval.
    public let peopleCount: Int?
    /// Fraction of the interval the walkway was occupied, 0...1.
    public let occupancy: Double?
    /// Whether the walkway was congested.
    public let congested: Bool?
    /// The counter's direction.
    public let direction: Direction?
    /// The counter's name.
    public let name: String?
    /// The counting device, by entity id.
    public let refDevice: String?

    /// Validates an observation; the interval must not be empty or reversed.
    public init(
        id: EntityID,
        location: GeoPoint? = nil,
        dateObservedFrom: Timestamp,
        dateObservedTo: Timestamp,
        peopleCount: Int? = nil,
        occupancy: Double? = nil,
        congested: Bool? = nil,
        direction: Direction? = nil,
        name: String? = nil,
        refDevice: String? = nil
    ) throws(ModelError) {
        try Self.checkID(id)
        guard dateObservedFrom < dateObservedTo else {
            throw ModelError(field: "dateObserved", .invalid("interval start \(dateObservedFrom) is not before its end \(dateObservedTo)"))
        }
        if let peopleCount, peopleCount < 0 {
            throw ModelError(field: "peopleCount", .outOfRange(value: Double(peopleCount), range: "0...∞"))
        }
        if let occupancy { try Checks.range(occupancy, 0...1, field: "occupancy") }
        self.id = id
        self.location = location
        self.dateObservedFrom = dateObservedFrom
        self.dateObservedTo = dateObservedTo
        self.peopleCount = peopleCount
        self.occupancy = occupancy
        self.congested = congested
        self.direction = direction
        self.name = try Checks.optionalText(name, field: "name")
        self.refDevice = try refDevice.map { (ref) throws(ModelError) in try NGSIEntity.checkReference(ref, field: "refDevice") }
    }

    public var ngsiEntity: NGSIEntity {
        var b = AttributeBuilder()
        let observed = dateObservedTo
        b.location(location)
        b.text("dateObserved", dateObservedFrom.iso8601 + "/" + dateObservedTo.iso8601)
        b.dateTime("dateObservedFrom", dateObservedFrom)
        b.dateTime("dateObservedTo", dateObservedTo)
        b.value("peopleCount", peopleCount.map { .number(Double($0)) }, unit: .person, observedAt: observed)
        b.value("occupancy", occupancy.map(PropertyValue.number), unit: .one, observedAt: observed)
        b.value("congested", congested.map(PropertyValue.boolean), observedAt: observed)
        b.text("direction", direction?.rawValue)
        b.text("name", name)
        b.relationship("refDevice", refDevice)
        return Self.entity(id, b)
    }

    public init(ngsiEntity e: NGSIEntity) throws(ModelError) {
        try e.checkType(Self.entityType)
        let from: Timestamp, to: Timestamp
        if let start = try e.timestamp("dateObservedFrom"), let end = try e.timestamp("dateObservedTo") {
            (from, to) = (start, end)
        } else {
            guard let interval = try e.text("dateObserved") else { throw ModelError(field: "dateObserved", .missing) }
            let ends = interval.split(separator: "/", omittingEmptySubsequences: false)
            guard ends.count == 2 else {
                throw ModelError(field: "dateObserved", .invalid("\"\(interval.prefix(60))\" is not an ISO 8601 interval start/end"))
            }
            from = try Timestamp(iso8601: String(ends[0]), field: "dateObserved")
            to = try Timestamp(iso8601: String(ends[1]), field: "dateObserved")
        }
        var count: Int?
        if let number = try e.number("peopleCount") {
            guard number == number.rounded(), abs(number) < 1e15 else {
                throw ModelError(field: "peopleCount", .wrongType(expected: "a whole number"))
            }
            count = Int(number)
        }
        var direction: Direction?
        if let text = try e.text("direction") {
            guard let parsed = Direction(rawValue: text) else {
                throw ModelError(field: "direction", .invalid("\"\(text)\" is not inbound or outbound"))
            }
            direction = parsed
        }
        try self.init(
            id: e.id,
            location: e.location(),
            dateObservedFrom: from,
            dateObservedTo: to,
            peopleCount: count,
            occupancy: e.quantity("occupancy", in: .one)?.quantity.value,
            congested: e.boolean("congested"),
            direction: direction,
            name: e.text("name"),
            refDevice: e.reference("refDevice")
        )
    }
}
