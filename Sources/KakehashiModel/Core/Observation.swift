/// One measured value of one attribute of one entity: the unit the hub stores exactly once per
/// (tenant, entity, attribute, observedAt).
///
/// `observedAt` is the sensor's time and is never replaced by the arrival time, which is kept
/// separately in ``receivedAt``.
///
/// ```swift
/// let observation = try Observation(
///     entityID: EntityID("urn:ngsi-ld:WaterObserved:kurume:3100000017"), attribute: "waterLevel",
///     value: .quantity(Quantity(1.14, .metre)), observedAt: Timestamp(iso8601: "2026-06-01T03:07:00Z"))
/// observation.key // (kurume, urn:…:3100000017, waterLevel, 2026-06-01T03:07:00.000Z)
/// ```
public struct Observation: Sendable, Hashable {
    /// The value of an observation.
    public enum Value: Sendable, Hashable {
        /// A number with its unit.
        case quantity(Quantity)
        /// A number without a unit (a status code).
        case number(Double)
        /// A text (a status such as `Alert`).
        case text(String)
        /// A boolean (a congestion flag).
        case boolean(Bool)
    }

    /// The identity of an observation for exactly-once storage.
    public struct Key: Sendable, Hashable {
        /// The owning tenant.
        public let tenant: Tenant
        /// The entity.
        public let entityID: EntityID
        /// The attribute.
        public let attribute: String
        /// The sensor's time of the value.
        public let observedAt: Timestamp

        /// Creates a key.
        public init(tenant: Tenant, entityID: EntityID, attribute: String, observedAt: Timestamp) {
            self.tenant = tenant
            self.entityID = entityID
            self.attribute = attribute
            self.observedAt = observedAt
        }
    }

    /// The entity observed; it names the tenant and the entity type.
    public let entityID: EntityID
    /// The attribute observed, e.g. `waterLevel`.
    public let attribute: String
    /// The value.
    public let value: Value
    /// When the sensor measured.
    public let observedAt: Timestamp
    /// When Kakehashi first received it, if recorded.
    public let receivedAt: Timestamp?
    /// Where the entity was when observed, if known.
    public let location: GeoPoint?
    /// Where the value came from.
    public let provenance: Provenance?

    /// Validates an observation (attribute name, finite numbers, text length).
    public init(
        entityID: EntityID,
        attribute: String,
        value: Value,
        observedAt: Timestamp,
        receivedAt: Timestamp? = nil,
        location: GeoPoint? = nil,
        provenance: Provenance? = nil
    ) throws(ModelError) {
        try NGSIEntity.checkAttributeName(attribute)
        switch value {
        case .number(let number): _ = try ModelLimits.checkFinite(number, field: attribute)
        case .text(let text): _ = try ModelLimits.checkLength(text, field: attribute)
        case .quantity, .boolean: break
        }
        self.entityID = entityID
        self.attribute = attribute
        self.value = value
        self.observedAt = observedAt
        self.receivedAt = receivedAt
        self.location = location
        self.provenance = provenance
    }

    /// The tenant that owns the observation.
    public var tenant: Tenant { entityID.tenant }
    /// The entity type.
    public var entityType: String { entityID.type }
    /// The exactly-once key.
    public var key: Key { Key(tenant: tenant, entityID: entityID, attribute: attribute, observedAt: observedAt) }
    /// The UN/CEFACT unit, for quantities.
    public var unitCode: MeasurementUnit? {
        if case .quantity(let quantity) = value { return quantity.unit }
        return nil
    }
}
