import Testing

@testable import KakehashiModel

struct TimestampTests {
    static let valid: [(String, Int64)] = [
        ("2026-06-01T03:07:00.000Z", 1_780_283_220_000),
        ("2026-06-01T03:07:00Z", 1_780_283_220_000),
        ("2026-06-01t03:07:00z", 1_780_283_220_000),
        ("2026-06-01 03:07:00Z", 1_780_283_220_000),
        ("2026-06-01T12:07:00+09:00", 1_780_283_220_000),
        ("2026-05-31T22:37:00-04:30", 1_780_283_220_000),
        ("2026-06-01T03:07:00.5Z", 1_780_283_220_500),
        ("2026-06-01T03:07:00.123456789Z", 1_780_283_220_123),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999Z", -1),
        ("2024-02-29T00:00:00Z", 1_709_164_800_000),
        ("2000-02-29T00:00:00Z", 951_782_400_000),
        ("0001-01-01T00:00:00Z", -62_135_596_800_000),
        ("9999-12-31T23:59:59.999Z", 253_402_300_799_999),
    ]

    @Test(arguments: valid)
    func parsesRFC3339(text: String, milliseconds: Int64) throws {
        #expect(try Timestamp(iso8601: text).millisecondsSinceEpoch == milliseconds)
    }

    static let invalid: [(String, String)] = [
        ("", "missing"),
        ("2026-06-01T03:07:00", "has no time zone"),
        ("2026-06-01", "lacks the 'T'"),
        ("2026-06-01T03:07Z", "seconds are required"),
        ("2026-13-01T00:00:00Z", "month 13"),
        ("2026-02-29T00:00:00Z", "day 29"),
        ("2100-02-29T00:00:00Z", "day 29"),
        ("2026-06-31T00:00:00Z", "day 31"),
        ("2026-06-01T24:00:00Z", "hour 24"),
        ("2026-06-01T23:60:00Z", "minute 60"),
        ("2026-06-01T23:59:60Z", "leap seconds"),
        ("2026-06-01T03:07:00.Z", "without fraction digits"),
        ("2026-06-01T03:07:00.1234567890Z", "more than 9 fraction digits"),
        ("2026-06-01T03:07:00+0900", "':' in the zone offset"),
        ("2026-06-01T03:07:00+24:00", "outside ±23:59"),
        ("2026-06-01T03:07:00Zjunk", "trailing characters"),
        ("20260601T030700Z", "lacks '-' after the year"),
        ("yesterday", "non-digit"),
        ("0000-01-01T00:00:00Z", "year 0000"),
        ("2026-06-01T03:07:00.000Z" + String(repeating: " ", count: 80), "too long"),
    ]

    @Test(arguments: invalid)
    func rejectsMalformedWithReason(text: String, reason: String) {
        expectModelError(field: "when", containing: reason) { _ = try Timestamp(iso8601: text, field: "when") }
    }

    @Test func assumedOffsetAppliesOnlyWithoutZone() throws {
        let jst = 9 * 3600
        #expect(try Timestamp(iso8601: "2026-06-01T12:07:00", assumedOffsetSeconds: jst).iso8601 == "2026-06-01T03:07:00.000Z")
        #expect(try Timestamp(iso8601: "2026-06-01T12:07:00Z", assumedOffsetSeconds: jst).iso8601 == "2026-06-01T12:07:00.000Z")
    }

    @Test func formatsUTCWithMilliseconds() {
        #expect(Timestamp(millisecondsSinceEpoch: 1_780_283_220_123).iso8601 == "2026-06-01T03:07:00.123Z")
        #expect(Timestamp(millisecondsSinceEpoch: -1).iso8601 == "1969-12-31T23:59:59.999Z")
        #expect(Timestamp.minimum.iso8601 == "0001-01-01T00:00:00.000Z")
        #expect(Timestamp.maximum.iso8601 == "9999-12-31T23:59:59.999Z")
    }

    @Test func textRoundTripsForEveryDayAcrossCenturies() throws {
        // Every 7th day plus an odd millisecond offset, 1600 to 2400: covers leap rules and signs.
        var ms: Int64 = -11_676_096_000_000
        while ms < 13_569_465_600_000 {
            let t = Timestamp(millisecondsSinceEpoch: ms)
            #expect(try Timestamp(iso8601: t.iso8601) == t)
            ms += 7 * 86_400_000 + 3_723_457
        }
    }
}
