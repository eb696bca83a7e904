/// A typed FIWARE Smart Data Model entity that converts to and from ``NGSIEntity``.
///
/// Conforming types validate everything in their initializers, so a value that exists is valid,
/// and its NGSI-LD output validates against the official Smart Data Models JSON Schema.
///
/// ```swift
/// let json = gauge.json(.normalized)                       // with @context
/// let back = try WaterObserved(json: json, form: .normalized)
/// ```
public protocol SmartDataModel: Sendable, Hashable {
    /// The NGSI-LD entity type, e.g. `WaterObserved`.
    static var entityType: String { get }
    /// The `@context` the Smart Data Models publish for the type.
    static var context: [String] { get }
    /// The entity id; its type component is ``entityType``.
    var id: EntityID { get }
    /// The generic NGSI-LD form (without `@context`).
    var ngsiEntity: NGSIEntity { get }
    /// Reads and validates the typed entity from its generic form.
    init(ngsiEntity: NGSIEntity) throws(ModelError)
}

extension SmartDataModel {
    /// NGSI-LD JSON in `form`, with the model's `@context` unless `includeContext` is false.
    public func json(_ form: NGSIForm, includeContext: Bool = true) -> JSONValue {
        var entity = ngsiEntity
        if includeContext { entity.context = Self.context }
        return entity.json(form)
    }

    /// Decodes and validates the typed entity from NGSI-LD JSON in `form`.
    public init(json: JSONValue, form: NGSIForm) throws(ModelError) {
        try self.init(ngsiEntity: NGSIEntity(json: json, form: form))
    }

    /// Throws unless `id` names this model's type.
    static func checkID(_ id: EntityID) throws(ModelError) {
        guard id.type == entityType else {
            throw ModelError(field: "id", .invalid("\(id.rawValue) is not a \(entityType) id (urn:ngsi-ld:\(entityType):<tenant>:<local id>)"))
        }
    }

    /// Builds the generic entity; the typed models use constant, valid attribute names.
    static func entity(_ id: EntityID, _ builder: AttributeBuilder) -> NGSIEntity {
        NGSIEntity(trustedID: id, attributes: builder.attributes)
    }
}

/// A postal address (the `address` attribute of Smart Data Models' Location-Commons).
public struct PostalAddress: Sendable, Hashable {
    /// Country, ISO 3166 alpha-2 where known (`JP`).
    public var addressCountry: String?
    /// Prefecture, state or region.
    public var addressRegion: String?
    /// City, town or village.
    public var addressLocality: String?

    /// Creates an address; each part is limited to ``ModelLimits/maxTextLength`` characters.
    public init(addressCountry: String? = nil, addressRegion: String? = nil, addressLocality: String? = nil) throws(ModelError) {
        if let addressCountry { _ = try ModelLimits.checkLength(addressCountry, field: "address.addressCountry") }
        if let addressRegion { _ = try ModelLimits.checkLength(addressRegion, field: "address.addressRegion") }
        if let addressLocality { _ = try ModelLimits.checkLength(addressLocality, field: "address.addressLocality") }
        self.addressCountry = addressCountry
        self.addressRegion = addressRegion
        self.addressLocality = addressLocality
    }

    var json: JSONValue {
        var members = [String: JSONValue]()
        if let addressCountry { members["addressCountry"] = .string(addressCountry) }
        if let addressRegion { members["addressRegion"] = .string(addressRegion) }
        if let addressLocality { members["addressLocality"] = .string(addressLocality) }
        return .object(members)
    }

    init(json: JSONValue, field: String) throws(ModelError) {
        guard case .object(let members) = json else { throw ModelError(field: field, .wrongType(expected: "an address object")) }
        func part(_ key: String) throws(ModelError) -> String? {
            switch members[key] {
            case nil: return nil
            case .string(let text)?: return text
            default: throw ModelError(field: field + "." + key, .wrongType(expected: "a string"))
            }
        }
        try self.init(addressCountry: part("addressCountry"), addressRegion: part("addressRegion"), addressLocality: part("addressLocality"))
    }

    static func decode(from entity: NGSIEntity) throws(ModelError) -> PostalAddress? {
        guard let property = try entity.property("address") else { return nil }
        guard case .structured(let json) = property.value else { throw ModelError(field: "address", .wrongType(expected: "an address object")) }
        return try PostalAddress(json: json, field: "address")
    }
}

/// Text checks shared by the typed models.
enum Checks {
    static func optionalText(_ text: String?, field: String) throws(ModelError) -> String? {
        guard let text else { return nil }
        return try ModelLimits.checkLength(text, field: field)
    }

    static func quantity(_ quantity: Quantity?, canonical: MeasurementUnit, field: String) throws(ModelError) -> Quantity? {
        guard let quantity else { return nil }
        return try quantity.converted(to: canonical, field: field + ".unitCode")
    }

    static func range(_ value: Double, _ range: ClosedRange<Double>, field: String) throws(ModelError) {
        _ = try ModelLimits.checkFinite(value, field: field)
        guard range.contains(value) else {
            throw ModelError(field: field, .outOfRange(value: value, range: "\(range.lowerBound)...\(range.upperBound)"))
        }
    }
}
