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
