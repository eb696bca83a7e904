import KakehashiModel

/// What a tenant's entities are made of, for NGSI-LD's discovery routes (`/types`,
/// `/attributes`): each entity type with its entity count and attribute names, each attribute
/// with its kinds (Property, Relationship, GeoProperty), count and the types that have it.
///
/// ```swift
/// let summary = Discovery(entities: try await store.entities(tenant: kurume, types: nil, ids: nil))
/// summary.types["WaterObserved"]?.entityCount   // 729
/// ```
public struct Discovery: Sendable, Hashable {
    /// One entity type.
    public struct TypeInfo: Sendable, Hashable {
        public var entityCount = 0
        /// Attribute name → the kinds it was seen as, within this type.
        public var attributes: [String: Set<String>] = [:]
    }

    /// One attribute name, over all types.
    public struct AttributeInfo: Sendable, Hashable {
        /// Entities that have it.
        public var count = 0
        public var kinds: Set<String> = []
        public var typeNames: Set<String> = []
    }

    public private(set) var types: [String: TypeInfo] = [:]
    public private(set) var attributes: [String: AttributeInfo] = [:]

    /// The vocabulary names without an `@context` of their own expand to (the core context's `@vocab`).
    public static let defaultVocabulary = "https://uri.etsi.org/ngsi-ld/default-context/"

    public init(entities: [NGSIEntity]) {
        for entity in entities {
            let type = entity.id.type
            types[type, default: TypeInfo()].entityCount += 1
            var counted = Set<String>()
            for (kept, attribute) in entity.attributes {
                let name = NGSIEntity.splitName(kept).attribute
                let kind = Self.kind(of: attribute)
                types[type]!.attributes[name, default: []].insert(kind)
                attributes[name, default: AttributeInfo()].count += counted.insert(name).inserted ? 1 : 0
                attributes[name]!.kinds.insert(kind)
                attributes[name]!.typeNames.insert(type)
            }
        }
    }

    /// The NGSI-LD kind of an attribute.
    public static func kind(of attribute: NGSIAttribute) -> String {
        switch attribute {
        case .property: "Property"
        case .relationship: "Relationship"
        case .geoProperty: "GeoProperty"
        case .languageProperty: "LanguageProperty"
        }
    }

    /// The full name of a term (the default vocabulary's; a term that is already an IRI stays).
    public static func fullName(_ term: String) -> String {
        term.contains(":") ? term : defaultVocabulary + term
    }
}
