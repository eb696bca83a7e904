/// An NGSI-LD entity in its generic form: an id and named attributes.
///
/// The typed Smart Data Models (``WaterObserved``, ``CrowdFlowObserved``, ``BeaconDevice``,
/// ``DeviceMeasurement``, ``Alert``) convert to and from this form; it is what goes on the wire and
/// what the hub stores, and it encodes to and decodes from both NGSI-LD representations.
///
/// ```swift
/// let entity = try NGSIEntity(json: JSONValue(parsing: text), form: .normalized)
/// let level = entity.attributes["waterLevel"]
/// let json = entity.json(.keyValues)
/// ```
public struct NGSIEntity: Sendable, Hashable {
    /// The entity id; its type component is the entity type.
    public var id: EntityID
    /// The attributes by name (not including `id`, `type`, `@context`).
    public var attributes: [String: NGSIAttribute]
    /// The JSON-LD `@context`; empty on the wire, where the type implies it.
    public var context: [String]

    /// The entity type.
    public var type: String { id.type }

    /// Creates an entity; attribute names are validated.
    public init(id: EntityID, attributes: [String: NGSIAttribute] = [:], context: [String] = []) throws(ModelError) {
        for name in attributes.keys { try Self.checkAttributeName(name) }
        self.id = id
        self.attributes = attributes
        self.context = context
    }

    /// For attribute names that are constants of this module, known to be valid.
    init(trustedID id: EntityID, attributes: [String: NGSIAttribute]) {
        self.id = id
        self.attributes = attributes
        self.context = []
    }

    /// Names reserved by NGSI-LD that cannot be attributes.
    static let reservedNames: Set<String> = ["id", "type", "@context", "scope", "createdAt", "modifiedAt", "deletedAt"]

    static func checkAttributeName(_ name: String) throws(ModelError) {
        // An instance of a multi-attribute: the attribute's name, then its datasetId (a URI).
        if name.contains(datasetSeparator) {
            let (attribute, dataset) = splitName(name)
            try checkAttributeName(attribute)
            return try EntityID.checkURI(dataset ?? "", field: attribute + ".datasetId")
        }
        guard !reservedNames.contains(name) else {
            throw ModelError(field: name, .invalid("\"\(name)\" is reserved by NGSI-LD and cannot be an attribute"))
        }
        // An expanded name (an IRI no context compacts), as JSON-LD clients may give.
        if name.utf8.contains(UInt8(ascii: ":")) {
            guard name.utf8.count <= ModelLimits.maxExpandedNameLength else {
                throw ModelError(field: String(name.prefix(40)) + "…", .tooLong(length: name.utf8.count, limit: ModelLimits.maxExpandedNameLength))
            }
            return try EntityID.checkURI(name, field: "attribute name")
        }
        guard let first = name.utf8.first,
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first),
            name.utf8.count <= ModelLimits.maxAttributeNameLength,
            name.utf8.allSatisfy({ b in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) || b == UInt8(ascii: "_")
            })
        else {
            let shown = name.count > 40 ? String(name.prefix(40)) + "…" : name
            throw ModelError(
                field: shown,
                .invalid("attribute names are a letter followed by up to \(ModelLimits.maxAttributeNameLength - 1) letters, digits or '_'")
            )
        }
    }
}
