import FoundationEssentials

/// An instant in UTC with millisecond precision, the time unit of every observation.
///
/// Millisecond integers make `observedAt` exact: the hub's exactly-once key
/// (tenant, entity, attribute, observedAt) compares integers, not floating-point dates, and a
/// timestamp that goes out as text comes back equal.
///
/// Parsing accepts RFC 3339 (the ISO 8601 profile NGSI-LD uses): `2026-06-01T03:07:00Z`,
/// `2026-06-01T12:07:00.5+09:00`, fractions of 1–9 digits (kept to the millisecond, rounding
/// down). A zone is required unless the caller supplies the offset to assume.
///
/// ```swift
/// let t = try Timestamp(iso8601: "2026-06-01T12:07:00+09:00")
/// t.iso8601 // "2026-06-01T03:07:00.000Z"
/// ```
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public let millisecondsSinceEpoch: Int64

    /// The earliest instant accepted: 0001-01-01T00:00:00Z.
    public static let minimum = Timestamp(millisecondsSinceEpoch: -62_135_596_800_000)
    /// The latest instant accepted: 9999-12-31T23:59:59.999Z.
    public static let maximum = Timestamp(millisecondsSinceEpoch: 253_402_300_799_999)

    /// Wraps a count of milliseconds since the Unix epoch.
    public init(millisecondsSinceEpoch: Int64) {
        self.millisecondsSinceEpoch = millisecondsSinceEpoch
    }

    /// The instant of `date`, rounded to the nearest millisecond.
    public init(_ date: Date) {
        self.millisecondsSinceEpoch = Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    /// The instant as a `Date`.
    public var date: Date { Date(timeIntervalSince1970: Double(millisecondsSinceEpoch) / 1000) }

    /// Seconds since the Unix epoch.
    public var secondsSinceEpoch: Double { Double(millisecondsSinceEpoch) / 1000 }

    /// This instant moved by `milliseconds`.
    public func advanced(byMilliseconds milliseconds: Int64) -> Timestamp {
        Timestamp(millisecondsSinceEpoch: millisecondsSinceEpoch + milliseconds)
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch
    }

    public var description: String { iso8601 }
}

extension Timestamp {
    /// Parses an RFC 3339 date-time.
    ///
    /// - Parameters:
    ///   - text: the date-time, e.g. `2026-06-01T03:07:00.000Z`.
    ///   - assumedOffsetSeconds: the UTC offset to assume when `text` has no zone; when `nil`
    ///     (the default) a missing zone is an error, because guessing it shifts every reading.
    ///   - field: the field named in errors.
    public init(iso8601 text: String, assumedOffsetSeconds: Int? = nil, field: String = "observedAt") throws(ModelError) {
        var parser = ISO8601Scanner(text: text, field: field)
        self = try parser.parse(assumedOffsetSeconds: assumedOffsetSeconds)
    }

    /// RFC 3339 text at a numeric UTC offset, to the second: `2026-06-02T09:20:00+09:00`
    /// (`+00:00` for UTC); milliseconds are dropped.
    public func iso8601(offsetSeconds: Int) -> String {
        let local = Timestamp(millisecondsSinceEpoch: millisecondsSinceEpoch + Int64(offsetSeconds) * 1000).iso8601
        let sign = offsetSeconds < 0 ? "-" : "+"
        let magnitude = abs(offsetSeconds)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return String(local.prefix(19)) + sign + two(magnitude / 3600) + ":" + two(magnitude / 60 % 60)
    }

    /// RFC 3339 text in UTC with milliseconds: `2026-06-01T03:07:00.000Z`.
    public var iso8601: String {
        let ms = millisecondsSinceEpoch
        let days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let msOfDay = ms - days * 86_400_000
        let (year, month, day) = CivilDate.fromDays(days)
        // 24 bytes written in place (this runs for every attribute of every stored entity).
        return String(unsafeUninitializedCapacity: 24) { out in
            func put(_ value: Int64, _ width: Int, at offset: Int) {
                var v = value
                for i in stride(from: offset + width - 1, through: offset, by: -1) {
                    out[i] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: v % 10)
                    v /= 10
                }
            }
            put(year, 4, at: 0); out[4] = UInt8(ascii: "-")
            put(month, 2, at: 5); out[7] = UInt8(ascii: "-")
            put(day, 2, at: 8); out[10] = UInt8(ascii: "T")
            put(msOfDay / 3_600_000, 2, at: 11); out[13] = UInt8(ascii: ":")
            put(msOfDay / 60_000 % 60, 2, at: 14); out[16] = UInt8(ascii: ":")
            put(msOfDay / 1000 % 60, 2, at: 17); out[19] = UInt8(ascii: ".")
            put(msOfDay % 1000, 3, at: 20); out[23] = UInt8(ascii: "Z")
            return 24
        }
    }
}

/// Proleptic Gregorian calendar arithmetic on day counts since 1970-01-01 (H. Hinnant's algorithms).
enum CivilDate {
    static func toDays(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func fromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

/// A single-pass RFC 3339 scanner over UTF-8 bytes.
struct ISO8601Scanner {
    let text: String
    let field: String
    private let bytes: [UInt8]
    private var index = 0

    init(text: String, field: String) {
        self.text = text
        self.field = field
        self.bytes = Array(text.utf8)
    }

    private func fail(_ why: String) -> ModelError {
        let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
        return ModelError(field: field, .malformedTimestamp("\"\(shown)\" \(why)"))
    }

    private mutating func digits(_ count: Int, _ what: String) throws(ModelError) -> Int64 {
        guard index + count <= bytes.count else { throw fail("ends before the \(what)") }
        var value: Int64 = 0
        for _ in 0..<count {
            let b = bytes[index]
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { throw fail("has a non-digit in the \(what)") }
            value = value * 10 + Int64(b - UInt8(ascii: "0"))
            index += 1
        }
        return value
    }

    private mutating func expect(_ options: [UInt8], _ what: String) throws(ModelError) {
        guard index < bytes.count, options.contains(bytes[index]) else { throw fail("lacks \(what)") }
        index += 1
    }

    mutating func parse(assumedOffsetSeconds: Int?) throws(ModelError) -> Timestamp {
        guard !bytes.isEmpty else { throw ModelError(field: field, .missing) }
        guard bytes.count <= 64 else { throw fail("is too long for a date-time") }
        let year = try digits(4, "year")
        try expect([UInt8(ascii: "-")], "'-' after the year (expected YYYY-MM-DDThh:mm:ss)")
        let month = try digits(2, "month")
        try expect([UInt8(ascii: "-")], "'-' after the month")
        let day = try digits(2, "day")
        try expect([UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")], "the 'T' between date and time")
        let hour = try digits(2, "hour")
        try expect([UInt8(ascii: ":")], "':' after the hour")
        let minute = try digits(2, "minute")
        try expect([UInt8(ascii: ":")], "':' after the minute (seconds are required)")
        let second = try digits(2, "second")
        var millis: Int64 = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") || bytes[index] == UInt8(ascii: ",") {
            index += 1
            var count = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                if count < 3 { millis = millis * 10 + Int64(bytes[index] - UInt8(ascii: "0")) }
                count += 1
                index += 1
            }
            guard count > 0 else { throw fail("has a '.' without fraction digits") }
            guard count <= 9 else { throw fail("has more than 9 fraction digits") }
            if count < 3 { for _ in count..<3 { millis *= 10 } }
        }
        var offsetSeconds: Int64
        if index == bytes.count {
            guard let assumedOffsetSeconds else {
                throw fail("has no time zone (add 'Z' or an offset such as +09:00)")
            }
            offsetSeconds = Int64(assumedOffsetSeconds)
        } else if bytes[index] == UInt8(ascii: "Z") || bytes[index] == UInt8(ascii: "z") {
            index += 1
            offsetSeconds = 0
        } else if bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            let sign: Int64 = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            index += 1
            let oh = try digits(2, "zone offset hours")
            try expect([UInt8(ascii: ":")], "':' in the zone offset (expected ±hh:mm)")
            let om = try digits(2, "zone offset minutes")
            guard oh <= 23, om <= 59 else { throw fail("has a zone offset outside ±23:59") }
            offsetSeconds = sign * (oh * 3600 + om * 60)
        } else {
            throw fail("has an unexpected character after the time")
        }
        guard index == bytes.count else { throw fail("has trailing characters after the zone") }
        guard year >= 1 else { throw fail("has year 0000") }
        guard (1...12).contains(month) else { throw fail("has month \(month), not 01-12") }
        guard day >= 1, day <= CivilDate.daysInMonth(year: year, month: month) else {
            throw fail("has day \(day), not a day of \(year)-\(month < 10 ? "0" : "")\(month)")
        }
        guard hour <= 23 else { throw fail("has hour \(hour), not 00-23") }
        guard minute <= 59 else { throw fail("has minute \(minute), not 00-59") }
        guard second <= 59 else { throw fail("has second \(second) (leap seconds are not accepted)") }
        let days = CivilDate.toDays(year: year, month: month, day: day)
        let ms = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis - offsetSeconds * 1000
        let result = Timestamp(millisecondsSinceEpoch: ms)
        guard result >= Timestamp.minimum, result <= Timestamp.maximum else { throw fail("is outside years 0001-9999 in UTC") }
        return result
    }
}
