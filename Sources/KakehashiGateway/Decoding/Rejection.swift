/// Why a sensor message was not turned into readings. The reason is a closed set (the metrics
/// label); the detail says exactly what was wrong, without echoing the payload.
public struct Rejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// The class of problem, used as the metrics label and in the dead-letter table.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        case payloadTooLarge = "payload_too_large"
        case invalidUTF8 = "invalid_utf8"
        case malformedJSON = "malformed_json"
        case malformedCSV = "malformed_csv"
        case shortPayload = "short_payload"
        case missingField = "missing_field"
        case wrongType = "wrong_type"
        case notFinite = "not_finite"
        case outOfRange = "out_of_range"
        case badTimestamp = "bad_timestamp"
        case clockSkew = "clock_skew"
        case unknownSensor = "unknown_sensor"
        case unsupportedAttribute = "unsupported_attribute"
        case invalidEntity = "invalid_entity"
        case malformedCapture = "malformed_capture"
    }

    public let reason: Reason
    public let detail: String

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "\(reason.rawValue): \(detail)" }
}
