import KakehashiModel

/// How a sensor writes its time.
public enum TimestampFormat: Sendable, Hashable {
    /// ISO 8601 / RFC 3339 text; without a zone, `assumedOffsetSeconds` applies (or it is an error).
    case iso8601(assumedOffsetSeconds: Int?)
    /// Seconds since 1970 (integer or fractional).
    case epochSeconds
    /// Milliseconds since 1970.
    case epochMilliseconds

    /// Parses a name from configuration: `iso8601`, `epoch_s`, `epoch_ms`.
    public init(name: String, assumedOffset: String?) throws(PatternError) {
        switch name {
        case "iso8601", "rfc3339":
            self = .iso8601(assumedOffsetSeconds: try assumedOffset.map { (text) throws(PatternError) in try Self.offset(text) })
        case "epoch_s", "epoch_seconds": self = .epochSeconds
        case "epoch_ms", "epoch_milliseconds": self = .epochMilliseconds
        default: throw PatternError("unknown timestamp format '\(name)' (iso8601, epoch_s or epoch_ms)")
        }
        if assumedOffset != nil, case .iso8601 = self {
        } else if assumedOffset != nil {
            throw PatternError("assume_offset applies to iso8601 timestamps only")
        }
    }

    /// `+09:00` → 32400 (``UTCOffset``).
    static func offset(_ text: String) throws(PatternError) -> Int {
        guard let seconds = UTCOffset.seconds(text) else { throw PatternError("assume_offset '\(text)' is not a UTC offset like +09:00") }
        return seconds
    }

    /// A timestamp from a JSON value.
    func timestamp(from value: JSONValue, field: String) throws(Rejection) -> Timestamp {
        switch (self, value) {
        case (.iso8601(let offset), .string(let text)):
            do {
                return try Timestamp(iso8601: text, assumedOffsetSeconds: offset, field: field)
            } catch {
                throw Rejection(.badTimestamp, error.description)
            }
        case (.epochSeconds, .number(let number)): return try Self.epoch(number * 1000, field: field)
        case (.epochMilliseconds, .number(let number)): return try Self.epoch(number, field: field)
        case (.iso8601, _): throw Rejection(.wrongType, "\(field): expected an ISO 8601 text, found \(value.typeName)")
        default: throw Rejection(.wrongType, "\(field): expected a number of \(unitName), found \(value.typeName)")
        }
    }

    /// A timestamp from text (a CSV cell).
    func timestamp(from text: Substring, field: String) throws(Rejection) -> Timestamp {
        switch self {
        case .iso8601: return try timestamp(from: .string(String(text)), field: field)
        case .epochSeconds, .epochMilliseconds:
            guard let number = Double(text.trimmingSpaces) else {
                throw Rejection(.badTimestamp, "\(field): '\(text.prefix(40))' is not a number of \(unitName)")
            }
            return try timestamp(from: .number(number), field: field)
        }
    }

    /// A timestamp from an integer read from binary.
    func timestamp(from number: Double, field: String) throws(Rejection) -> Timestamp {
        switch self {
        case .iso8601: throw Rejection(.badTimestamp, "\(field): a binary field cannot hold ISO 8601 text")
        case .epochSeconds: return try Self.epoch(number * 1000, field: field)
        case .epochMilliseconds: return try Self.epoch(number, field: field)
        }
    }

    var unitName: String {
        switch self {
        case .iso8601: "ISO 8601"
        case .epochSeconds: "seconds since 1970"
        case .epochMilliseconds: "milliseconds since 1970"
        }
    }

    static func epoch(_ milliseconds: Double, field: String) throws(Rejection) -> Timestamp {
        guard milliseconds.isFinite else { throw Rejection(.notFinite, "\(field): the time is not a finite number") }
        let range = Double(Timestamp.minimum.millisecondsSinceEpoch)...Double(Timestamp.maximum.millisecondsSinceEpoch)
        guard range.contains(milliseconds) else { throw Rejection(.badTimestamp, "\(field): \(milliseconds) ms since 1970 is outside years 1–9999") }
        return Timestamp(millisecondsSinceEpoch: Int64(milliseconds.rounded()))
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" || s.last == "\r" { s.removeLast() }
        return s
    }
}
