/// An NGSI-LD entity id: any absolute URI, unique within its tenant, with the entity's type and
/// the tenant that owns it.
///
/// The tenant and type come from where the entity arrived (the `NGSILD-Tenant` header or the
/// key, the body's `type`), never from the id: ``init(uri:type:tenant:field:)``. Gateways name
/// their entities by a convention, `urn:ngsi-ld:<Type>:<tenant>:<local id>`, which
/// ``init(type:tenant:localID:field:)`` builds and ``init(_:field:)`` reads back:
///
/// - `Type` is the entity type (`WaterObserved`), a letter followed by letters and digits.
/// - `tenant` is a valid ``Tenant``.
/// - `local id` is what the tenant calls the thing (a gauge code, a pseudonym): 1 or more of
///   `A-Z a-z 0-9 . _ ~ - :`, not starting with `:`.
///
/// The whole id is at most ``ModelLimits/maxEntityIDLength`` characters. Two tenants may use the
/// same id: ids are equal when their URI and tenant are.
///
/// ```swift
/// let id = try EntityID("urn:ngsi-ld:WaterObserved:kurume:3100000017")
/// id.type     // "WaterObserved"
/// id.tenant   // kurume
/// id.localID  // "3100000017"
/// let other = try EntityID(uri: "https://city.example/gauges/17", type: "WaterObserved", tenant: kurume)
/// other.localID  // "https://city.example/gauges/17"
/// ```
public struct EntityID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The entity type named in the id.
    public let type: String
    /// The tenant that owns the entity.
    public let tenant: Tenant
    /// The tenant's own id for the thing.
    public let localID: String
    /// The full URN.
    public let rawValue: String

    static let prefix = "urn:ngsi-ld:"

    /// Builds an id from its parts, validating each.
    public init(type: String, tenant: Tenant, localID: String, field: String = "id") throws(ModelError) {
        try Self.checkType(type, field: field)
        try Self.checkLocalID(localID, field: field)
        let raw = Self.prefix + type + ":" + tenant.name + ":" + localID
        guard raw.utf8.count <= ModelLimits.maxEntityIDLength else {
            throw ModelError(field: field, .tooLong(length: raw.count, limit: ModelLimits.maxEntityIDLength))
        }
        self.type = type
        self.tenant = tenant
        self.localID = localID
        self.rawValue = raw
    }

    /// Parses and validates a full URN; the error names `field` (default `id`).
    public init(_ rawValue: String, field: String = "id") throws(ModelError) {
        guard !rawValue.isEmpty else { throw ModelError(field: field, .missing) }
        guard rawValue.utf8.count <= ModelLimits.maxEntityIDLength else {
            throw ModelError(field: field, .tooLong(length: rawValue.count, limit: ModelLimits.maxEntityIDLength))
        }
        guard rawValue.hasPrefix(Self.prefix) else {
            throw ModelError(field: field, .invalid("entity id \"\(rawValue)\" must start with \"urn:ngsi-ld:\""))
        }
        // Split on bytes (a Character split pays for grapheme breaking on every reading).
        let bytes = rawValue.utf8
        let rest = bytes.index(bytes.startIndex, offsetBy: Self.prefix.utf8.count)
        guard let firstColon = bytes[rest...].firstIndex(of: UInt8(ascii: ":")),
            let secondColon = bytes[bytes.index(after: firstColon)...].firstIndex(of: UInt8(ascii: ":"))
        else {
            throw ModelError(field: field, .invalid("entity id \"\(rawValue)\" must read urn:ngsi-ld:<Type>:<tenant>:<local id>"))
        }
        let type = String(Substring(bytes[rest..<firstColon]))
        let tenant: Tenant
        do { tenant = try Tenant(String(Substring(bytes[bytes.index(after: firstColon)..<secondColon])), field: field) } catch {
            throw ModelError(field: field, .invalid("entity id \"\(rawValue)\" has an invalid tenant part: \(error.reason)"))
        }
        let localID = String(Substring(bytes[bytes.index(after: secondColon)...]))
        try Self.checkType(type, field: field)
        try Self.checkLocalID(localID, field: field)
        self.type = type
        self.tenant = tenant
        self.localID = localID
        self.rawValue = rawValue
    }

    /// Any absolute URI (`scheme:rest`, RFC 3986) as the id of an entity of `type` owned by
    /// `tenant`. ``localID`` is the part after `urn:ngsi-ld:<Type>:<tenant>:` (or
    /// `urn:ngsi-ld:<Type>:`) when the id follows the convention, else the whole id.
    public init(uri rawValue: String, type: String, tenant: Tenant, field: String = "id") throws(ModelError) {
        try Self.checkURI(rawValue, field: field)
        try Self.checkType(type, field: "type")
        self.type = type
        self.tenant = tenant
        self.rawValue = rawValue
        let own = Self.prefix + type + ":" + tenant.name + ":"
        let typed = Self.prefix + type + ":"
        if rawValue.hasPrefix(own) && rawValue.utf8.count > own.utf8.count {
            localID = String(rawValue.dropFirst(own.count))
        } else if rawValue.hasPrefix(typed) && rawValue.utf8.count > typed.utf8.count {
            localID = String(rawValue.dropFirst(typed.count))
        } else {
            localID = rawValue
        }
    }

    /// A reference to an entity of `tenant` by its URI alone, before its type is known (an id in
    /// a path or a query): ``type`` is the one a convention URN names, else empty. It equals the
    /// stored entity's id, whose type storage gives.
    public init(reference rawValue: String, tenant: Tenant, field: String = "id") throws(ModelError) {
        try Self.checkURI(rawValue, field: field)
        let conventional = try? EntityID(rawValue)
        self.init(rawValue: rawValue, type: conventional?.type ?? "", tenant: tenant, localID: conventional?.localID ?? rawValue)
    }

    /// The same URI as an id of another tenant (two tenants may use one id).
    public func inTenant(_ other: Tenant) -> EntityID {
        other == tenant ? self : EntityID(rawValue: rawValue, type: type, tenant: other, localID: localID)
    }

    private init(rawValue: String, type: String, tenant: Tenant, localID: String) {
        self.rawValue = rawValue
        self.type = type
        self.tenant = tenant
        self.localID = localID
    }

    /// An id read back from storage: its `type` as stored, or (for rows from before types were
    /// stored beside ids) the type its convention URN names.
    public init(stored rawValue: String, type: String?, tenant: Tenant) throws(ModelError) {
        if let type { try self.init(uri: rawValue, type: type, tenant: tenant); return }
        let parsed = try EntityID(rawValue)
        try self.init(uri: rawValue, type: parsed.type, tenant: tenant)
    }

    /// Checks that `text` is an absolute URI: a scheme (a letter, then letters, digits, `+`,
    /// `-`, `.`), a colon, and a non-empty rest without spaces, controls or `<>"{}|\^``.
    public static func checkURI(_ text: String, field: String) throws(ModelError) {
        guard !text.isEmpty else { throw ModelError(field: field, .missing) }
        guard text.utf8.count <= ModelLimits.maxEntityIDLength else {
            throw ModelError(field: field, .tooLong(length: text.count, limit: ModelLimits.maxEntityIDLength))
        }
        let shown = text.count > 80 ? String(text.prefix(80)) + "…" : text
        let bytes = Array(text.utf8)
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > 0, isLetter(bytes[0]),
            bytes[1..<colon].allSatisfy({
                isLetter($0) || isDigit($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
            })
        else {
            throw ModelError(field: field, .invalid("\"\(shown)\" is not an absolute URI (it needs a scheme, as in urn:ngsi-ld:… or https://…)"))
        }
        guard colon + 1 < bytes.count else { throw ModelError(field: field, .invalid("\"\(shown)\" has nothing after its scheme")) }
        let forbidden: Set<UInt8> = Set("<>\"{}|\\^`".utf8)
        guard bytes[(colon + 1)...].allSatisfy({ $0 > 0x20 && $0 != 0x7F && !forbidden.contains($0) }) else {
            throw ModelError(field: field, .invalid("\"\(shown)\" is not a valid URI: it holds a space, a control character or one of <>\"{}|\\^`"))
        }
    }

    static func checkType(_ type: String, field: String) throws(ModelError) {
        // An expanded type (an IRI no context compacts), as JSON-LD clients may give.
        if type.utf8.contains(UInt8(ascii: ":")), type.utf8.count <= ModelLimits.maxExpandedNameLength {
            return try checkURI(type, field: field)
        }
        guard let first = type.utf8.first, isLetter(first), type.utf8.count <= 64,
            type.utf8.allSatisfy({ isLetter($0) || isDigit($0) })
        else {
            throw ModelError(field: field, .invalid("entity type \"\(type)\" must be a letter followed by up to 63 letters and digits"))
        }
    }

    static func checkLocalID(_ localID: String, field: String) throws(ModelError) {
        guard let first = localID.utf8.first else {
            throw ModelError(field: field, .invalid("the local id part of an entity id must not be empty"))
        }
        guard first != UInt8(ascii: ":"), localID.utf8.allSatisfy(isLocalIDByte) else {
            throw ModelError(field: field, .invalid("local id \"\(localID)\" may only hold A-Z, a-z, 0-9, '.', '_', '~', '-' and ':' (not first)"))
        }
    }

    private static func isLetter(_ b: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b)
    }
    private static func isDigit(_ b: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }
    private static func isLocalIDByte(_ b: UInt8) -> Bool {
        isLetter(b) || isDigit(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
            || b == UInt8(ascii: "-") || b == UInt8(ascii: ":")
    }

    public var description: String { rawValue }

    public static func < (lhs: EntityID, rhs: EntityID) -> Bool {
        lhs.rawValue != rhs.rawValue ? lhs.rawValue < rhs.rawValue : lhs.tenant.name < rhs.tenant.name
    }

    // An id is unique within its tenant (the type goes with it): equality looks at the URI and
    // the tenant, hashing at the URI alone, as ids key the hub's caches on every stored reading.
    public static func == (lhs: EntityID, rhs: EntityID) -> Bool { lhs.rawValue == rhs.rawValue && lhs.tenant == rhs.tenant }

    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
}
