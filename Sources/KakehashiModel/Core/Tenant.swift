/// A tenant: one city (municipality) sharing a Kakehashi platform.
///
/// The name appears in entity ids, MQTT topics and the `NGSILD-Tenant` header, so it follows the
/// DNS label rules: 1–63 characters of lowercase `a-z`, digits and `-`, neither starting nor ending
/// with `-`.
///
/// ```swift
/// let city = try Tenant("kurume")
/// ```
public struct Tenant: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The validated name.
    public let name: String

    /// The longest tenant name accepted.
    public static let maxLength = 63

    /// Validates `name`; the error names `field` (default `tenant`).
    public init(_ name: String, field: String = "tenant") throws(ModelError) {
        guard !name.isEmpty else { throw ModelError(field: field, .missing) }
        guard name.utf8.count <= Self.maxLength else {
            throw ModelError(field: field, .tooLong(length: name.count, limit: Self.maxLength))
        }
        for byte in name.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"): continue
            default:
                throw ModelError(field: field, .invalid("tenant \"\(name)\" may only hold lowercase a-z, digits and '-'"))
            }
        }
        guard name.first != "-", name.last != "-" else {
            throw ModelError(field: field, .invalid("tenant \"\(name)\" must not start or end with '-'"))
        }
        self.name = name
    }

    public var description: String { name }

    public static func < (lhs: Tenant, rhs: Tenant) -> Bool { lhs.name < rhs.name }
}

/// The id of one edge gateway within its tenant.
///
/// It is the MQTT username of the gateway and a topic level of `kakehashi/v1/<tenant>/<gateway>/obs`,
/// so it holds 1–64 characters of `A-Z a-z 0-9 . _ -` and never MQTT wildcards or `/`.
public struct GatewayID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The validated id.
    public let rawValue: String

    /// The longest gateway id accepted.
    public static let maxLength = 64

    /// Validates `rawValue`; the error names `field` (default `gateway`).
    public init(_ rawValue: String, field: String = "gateway") throws(ModelError) {
        guard !rawValue.isEmpty else { throw ModelError(field: field, .missing) }
        guard rawValue.utf8.count <= Self.maxLength else {
            throw ModelError(field: field, .tooLong(length: rawValue.count, limit: Self.maxLength))
        }
        guard rawValue.utf8.allSatisfy(Self.isAllowed) else {
            throw ModelError(field: field, .invalid("gateway id \"\(rawValue)\" may only hold A-Z, a-z, 0-9, '.', '_' and '-'"))
        }
        self.rawValue = rawValue
    }

    static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    public var description: String { rawValue }

    public static func < (lhs: GatewayID, rhs: GatewayID) -> Bool { lhs.rawValue < rhs.rawValue }
}
