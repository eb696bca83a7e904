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
