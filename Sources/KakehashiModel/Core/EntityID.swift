/// An NGSI-LD entity id of the form `urn:ngsi-ld:<Type>:<tenant>:<local id>`.
///
/// - `Type` is the entity type (`WaterObserved`), a letter followed by letters and digits.
/// - `tenant` is a valid ``Tenant``.
/// - `local id` is what the tenant calls the thing (a gauge code, a pseudonym): 1 or more of
///   `A-Z a-z 0-9 . _ ~ - :`, not starting with `:`.
///
/// The whole id is at most ``ModelLimits/maxEntityIDLength`` characters.
///
/// ```swift
/// let id = try EntityID("urn:ngsi-ld:WaterObserved:kurume:3100000017")
/// id.type     // "WaterObserved"
/// id.tenant   // kurume
/// id.localID  // "3100000017"
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

    static func checkType(_ type: String, field: String) throws(ModelError) {
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

    public static func < (lhs: EntityID, rhs: EntityID) -> Bool { lhs.rawValue < rhs.rawValue }

    // The URN determines the parts (none of them holds a `:` before the local id), so equality
    // and hashing look at it alone: ids key the hub's caches on every stored reading.
    public static func == (lhs: EntityID, rhs: EntityID) -> Bool { lhs.rawValue == rhs.rawValue }

    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
}
