/// Why a value was rejected by the model, with the field it concerns.
///
/// Every validating initializer and decoder in `KakehashiModel` throws this error. The message
/// names the field as a path into the input (`waterLevel.value`, `location.value.coordinates[1]`,
/// `entities[3].entity.id`) and says why, so a dead-letter record is readable without the payload:
///
/// ```swift
/// do { _ = try GeoPoint(latitude: 91, longitude: 140) }
/// catch { print(error) } // "latitude: 91.0 is outside -90...90"
/// ```
public struct ModelError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The path of the offending field in the input, empty when the whole input is concerned.
    public var field: String
    /// What is wrong with it.
    public var reason: Reason

    /// Creates an error for `field`.
    public init(field: String, _ reason: Reason) {
        self.field = field
        self.reason = reason
    }

    /// The closed set of reasons, so callers (metrics, dead-letter records) can count by kind.
    public enum Reason: Sendable, Hashable {
        /// A required field is absent.
        case missing
        /// The field has the wrong JSON type (`expected` names the type wanted).
        case wrongType(expected: String)
        /// A number is NaN or infinite.
        case notFinite
        /// A number is outside its allowed range.
        case outOfRange(value: Double, range: String)
        /// A unit code is not one Kakehashi knows.
        case unknownUnit(String)
        /// A unit is known but measures something else than the field.
        case wrongDimension(unit: String, expected: String)
        /// A timestamp does not follow RFC 3339 / ISO 8601.
        case malformedTimestamp(String)
        /// A text is longer than allowed.
        case tooLong(length: Int, limit: Int)
        /// A text or identifier does not follow its syntax (`detail` says which rule).
        case invalid(String)
        /// The input is not JSON at all.
        case malformedJSON(String)
    }

    /// The same error with its field path placed under `prefix` (`entities[3]` + `id`).
    public func nested(under prefix: String) -> ModelError {
        ModelError(field: field.isEmpty ? prefix : (field.hasPrefix("[") ? prefix + field : prefix + "." + field), reason)
    }

    public var description: String {
        let why: String
        switch reason {
        case .missing: why = "is required but missing"
        case .wrongType(let expected): why = "must be \(expected)"
        case .notFinite: why = "must be a finite number (NaN and infinity are rejected)"
        case .outOfRange(let value, let range): why = "\(value) is outside \(range)"
        case .unknownUnit(let code): why = "unknown unit code \"\(code)\" (expected a UN/CEFACT code such as MTR, CMT, CEL, P1)"
        case .wrongDimension(let unit, let expected): why = "unit \(unit) does not measure \(expected)"
        case .malformedTimestamp(let detail): why = "malformed timestamp: \(detail)"
        case .tooLong(let length, let limit): why = "text of \(length) characters exceeds the limit of \(limit)"
        case .invalid(let detail): why = detail
        case .malformedJSON(let detail): why = "is not valid JSON: \(detail)"
        }
        return field.isEmpty ? why : "\(field): \(why)"
    }
}
