/// An alert raised about a place or a sensor: Smart Data Models `Alert` (dataModel.Alert).
///
/// ```swift
/// let alert = try Alert(
///     id: EntityID(type: "Alert", tenant: Tenant("kurume"), localID: "river-3100000017-1"),
///     category: .naturalDisaster, subCategory: "flood", severity: .high,
///     dateIssued: Timestamp(iso8601: "2026-06-02T01:10:00Z"),
///     alertSource: "urn:ngsi-ld:WaterObserved:kurume:3100000017")
/// ```
public struct Alert: SmartDataModel {
    public static let entityType = "Alert"
    public static let context = NGSIContext.forDomain(NGSIContext.alert)

    /// The Smart Data Models alert categories.
    public enum Category: String, Sendable, Hashable, CaseIterable {
        case traffic, naturalDisaster, weather, environment, health, security, agriculture
    }

    /// The Smart Data Models alert severities, least to most severe.
    public enum Severity: String, Sendable, Hashable, CaseIterable, Comparable {
        case informational, low, medium, high, critical

        public static func < (lhs: Severity, rhs: Severity) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// The sub-categories the Alert schema allows (its own list and the weather alert categories).
    public static let subCategories: Set<String> = [
        "airPollution", "assault", "asthmaAttack", "avalancheRisk", "bacteria", "badSeaState", "bikerOnRoad",
        "buildingFire", "bumpedPatient", "carAccident", "carStopped", "carWrongDirection", "coastalEvent",
        "civilDisorder", "coldWave", "crowdRisk", "earthquake", "fallenPatient", "fertilisation", "fireRisk", "flood",
        "floodRisk", "fog", "forestFire", "fungus", "hazardOnRoad", "heartAttack", "heatWave",
        "highAtmosphericPressure", "highHumidity", "highTemperature", "hurricane", "ice", "injuredBiker", "insect",
        "irrigation", "lowAtmosphericPressure", "lowHumidity", "lowTemperature", "microbe", "mite", "nematodes",
        "noxiousWeed", "pedestrianOnRoad", "pollenConcentration", "pothole", "rainfall", "roadClosed", "roadWorks",
        "robbery", "rodent", "snail", "snow", "snow/ice", "suspiciousAction", "thunderstorms", "tornado", "trafficJam",
        "tramApproaching", "tropicalCyclone", "tsunami", "virus", "waterPollution", "wind",
        // WeatherAlertCategories (dataModel.Weather)
        "avalanches", "rain_flood", "snow_ice",
    ]

    public let id: EntityID
    /// The category.
    public let category: Category
    /// The sub-category, one of ``subCategories``.
    public let subCategory: String?
    /// How severe.
    public let severity: Severity?
    /// When the alert was issued.
    public let dateIssued: Timestamp
    /// Start of validity.
    public let validFrom: Timestamp?
    /// End of validity (not before ``validFrom``).
    public let validTo: Timestamp?
    /// What raised it: a sensor's entity id or a URL.
    public let alertSource: String
    /// A human-readable description.
    public let alertDescription: String?
    /// Where it applies.
    public let location: GeoPoint?
    /// A short name.
    public let name: String?

    /// Validates an alert.
    public init(
        id: EntityID,
        category: Category,
        subCategory: String? = nil,
        severity: Severity? = nil,
        dateIssued: Timestamp,
        validFrom: Timestamp? = nil,
        validTo: Timestamp? = nil,
        alertSource: String,
        description: String? = nil,
        location: GeoPoint? = nil,
        name: String? = nil
    ) throws(ModelError) {
        try Self.checkID(id)
        if let subCategory, !Self.subCategories.contains(subCategory) {
            throw ModelError(field: "subCategory", .invalid("\"\(subCategory.prefix(60))\" is not a Smart Data Models alert sub-category"))
        }
        if let validFrom, let validTo, validTo < validFrom {
            throw ModelError(field: "validTo", .invalid("\(validTo) is before validFrom \(validFrom)"))
        }
        self.id = id
        self.category = category
        self.subCategory = subCategory
        self.severity = severity
        self.dateIssued = dateIssued
        self.validFrom = validFrom
        self.validTo = validTo
        self.alertSource = try NGSIEntity.checkReference(alertSource, field: "alertSource")
        self.alertDescription = try Checks.optionalText(description, field: "description")
        self.location = location
        self.name = try Checks.optionalText(name, field: "name")
    }

    public var ngsiEntity: NGSIEntity {
        var b = AttributeBuilder()
        b.text("category", category.rawValue)
        b.text("subCategory", subCategory)
        b.text("severity", severity?.rawValue)
        b.dateTime("dateIssued", dateIssued)
        b.dateTime("validFrom", validFrom)
        b.dateTime("validTo", validTo)
        b.relationship("alertSource", alertSource)
        b.text("description", alertDescription)
        b.location(location)
        b.text("name", name)
        return Self.entity(id, b)
    }

    public init(ngsiEntity e: NGSIEntity) throws(ModelError) {
        try e.checkType(Self.entityType)
        let categoryText = try e.requiredText("category")
        guard let category = Category(rawValue: categoryText) else {
            throw ModelError(
                field: "category",
                .invalid("\"\(categoryText.prefix(60))\" is not one of \(Category.allCases.map(\.rawValue).joined(separator: ", "))")
            )
        }
        var severity: Severity?
        if let text = try e.text("severity") {
            guard let parsed = Severity(rawValue: text) else {
                throw ModelError(
                    field: "severity",
                    .invalid("\"\(text.prefix(60))\" is not one of \(Severity.allCases.map(\.rawValue).joined(separator: ", "))")
                )
            }
            severity = parsed
        }
        guard let source = try e.reference("alertSource") else { throw ModelError(field: "alertSource", .missing) }
        try self.init(
            id: e.id,
            category: category,
            subCategory: e.text("subCategory"),
            severity: severity,
            dateIssued: e.requiredTimestamp("dateIssued"),
            validFrom: e.timestamp("validFrom"),
            validTo: e.timestamp("validTo"),
            alertSource: source,
            description: e.text("description"),
            location: e.location(),
            name: e.text("name")
        )
    }
}
