import KakehashiConfig
import KakehashiModel
import Testing

@testable import KakehashiGateway

@Suite struct PayloadDecoderTests {
    static let now = Timestamp(millisecondsSinceEpoch: 1_780_400_000_000)

    static let json = PayloadDecoder(
        format: .json,
        sensor: .topic("sensor"),
        timestamp: .field(.json(try! FieldPath("ts")), .iso8601(assumedOffsetSeconds: 9 * 3600)),
        values: [.init(attribute: "waterLevel", location: .json(try! FieldPath("data.level")), unit: .centimetre, range: -1000...5000)]
    )

    enum Expected: Sendable {
        case ok(String, Double)
        case rejected(Rejection.Reason)
        static func success(_ v: (String, Double)) -> Expected { .ok(v.0, v.1) }
        static func failure(_ r: Rejection.Reason) -> Expected { .rejected(r) }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let payload: String
        let expected: Expected
        var testDescription: String { String(payload.prefix(60)) }
        init(_ payload: String, _ expected: Expected) {
            self.payload = payload
            self.expected = expected
        }
    }

    @Test(arguments: [
        Case(#"{"data":{"level":123.4},"ts":"2026-06-02T09:10:00"}"#, .success(("2026-06-02T00:10:00.000Z", 123.4))),
        Case(#"{"data":{"level":-5},"ts":"2026-06-02T00:10:00Z"}"#, .success(("2026-06-02T00:10:00.000Z", -5))),
        Case(#"{"data":{"level":1},"ts":"2026-06-02T09:10:00.250+09:00"}"#, .success(("2026-06-02T00:10:00.250Z", 1))),
        Case(#"{"data":{"level":"1"},"ts":"2026-06-02T09:10:00"}"#, .failure(.wrongType)),
        Case(#"{"data":{},"ts":"2026-06-02T09:10:00"}"#, .failure(.missingField)),
        Case(#"{"data":{"level":null},"ts":"2026-06-02T09:10:00"}"#, .failure(.missingField)),
        Case(#"{"data":{"level":1e300},"ts":"2026-06-02T09:10:00"}"#, .failure(.outOfRange)),
        Case(#"{"data":{"level":1},"ts":"02/06/2026 09:10"}"#, .failure(.badTimestamp)),
        Case(#"{"data":{"level":1},"ts":1780359000}"#, .failure(.wrongType)),
        Case(#"{"data":{"level":1},"ts":"2026-06-02T09:10:00""#, .failure(.malformedJSON)),
        Case(#"[1,2]"#, .failure(.wrongType)),
        Case(#"{"data":{"level":NaN},"ts":"2026-06-02T09:10:00"}"#, .failure(.malformedJSON)),
    ])
    func json(_ c: Case) {
        let result = Result<DecodedReading, Rejection> { () throws(Rejection) in
            try Self.json.decode(Array(c.payload.utf8), topicLevels: ["sensor": "s1"], receivedAt: Self.now)
        }
        switch (result, c.expected) {
        case (.success(let reading), .ok(let time, let value)):
            #expect(reading.sensor == "s1")
            #expect(reading.observedAt.iso8601 == time)
            #expect(reading.values == [.init(attribute: "waterLevel", number: value, unit: .centimetre)])
        case (.failure(let rejection), .rejected(let reason)):
            #expect(rejection.reason == reason, "\(rejection)")
        default:
            Issue.record("got \(result), expected \(c.expected)")
        }
    }

    @Test func invalidUTF8IsItsOwnReason() {
        #expect(throws: Rejection(.invalidUTF8, "the payload is not valid UTF-8")) {
            try Self.json.decode([0x7B, 0xFF, 0x7D], topicLevels: ["sensor": "s1"], receivedAt: Self.now)
        }
    }

    @Test(arguments: [
        ("1780358400,42,12.5", CSVExpected.ok([42, 12.5])),
        ("1780358400000,42,12.5\r\n", .failure(.badTimestamp)),
        ("1780358400,forty,1", .failure(.wrongType)),
        ("1780358400,42", .failure(.missingField)),
        ("1780358400,,3", .failure(.missingField)),
        ("yesterday,1,2", .failure(.badTimestamp)),
        ("1,2,3\n4,5,6", .failure(.malformedCSV)),
        ("", .failure(.malformedCSV)),
    ])
    func csv(_ line: String, _ expected: CSVExpected) {
        let decoder = PayloadDecoder(
            format: .csv,
            sensor: .topic("sensor"),
            timestamp: .field(.column(0), .epochSeconds),
            values: [
                .init(attribute: "peopleCount", location: .column(1)),
                .init(attribute: "occupancy", location: .column(2), unit: .percent, range: 0...100),
            ]
        )
        // The epoch in milliseconds where seconds are expected lands beyond year 9999: rejected, never misread.
        let result = Result<DecodedReading, Rejection> { () throws(Rejection) in
            try decoder.decode(Array(line.utf8), topicLevels: ["sensor": "c"], receivedAt: Self.now)
        }
        switch (result, expected) {
        case (.success(let reading), .ok(let values)):
            #expect(reading.values.map(\.number) == values)
            #expect(reading.observedAt.iso8601 == "2026-06-02T00:00:00.000Z")
        case (.failure(let rejection), .failure(let reason)):
            #expect(rejection.reason == reason, "\(rejection)")
        default:
            Issue.record("got \(result), expected \(expected)")
        }
    }

    enum CSVExpected: Sendable {
        case ok([Double])
        case failure(Rejection.Reason)
    }

    @Test func binaryLayoutsReadEveryTypeAndEndianness() throws {
        let bytes: [UInt8] = [0x6A, 0x1E, 0x3B, 0x00, 0xFB, 0x2E, 0x10, 0x0E, 0x41, 0x20, 0x00, 0x00]
        let cases: [(BinaryField, Double?)] = [
            (BinaryField(offset: 0, kind: .u32), 1_780_366_080),
            (BinaryField(offset: 4, kind: .i16), -1234),
            (BinaryField(offset: 4, kind: .u16), 64302),
            (BinaryField(offset: 6, kind: .u16, endianness: .little), 3600),
            (BinaryField(offset: 8, kind: .f32), 10),
            (BinaryField(offset: 4, kind: .i8), -5),
            (BinaryField(offset: 10, kind: .u32), nil),
        ]
        for (field, expected) in cases { #expect(field.read(bytes) == expected, "\(field)") }

        let decoder = PayloadDecoder(
            format: .binary,
            sensor: .topic("sensor"),
            timestamp: .field(.binary(BinaryField(offset: 0, kind: .u32)), .epochSeconds),
            values: [.init(attribute: "waterLevel", location: .binary(BinaryField(offset: 4, kind: .i16)), unit: .millimetre)]
        )
        let reading = try decoder.decode(bytes, topicLevels: ["sensor": "b"], receivedAt: Self.now)
        #expect(reading.values == [.init(attribute: "waterLevel", number: -1234, unit: .millimetre)])
        #expect(reading.observedAt == Timestamp(millisecondsSinceEpoch: 1_780_366_080_000))
        #expect(throws: Rejection.self) { try decoder.decode(Array(bytes.prefix(5)), topicLevels: ["sensor": "b"], receivedAt: Self.now) }
    }

    @Test func topicPatternsCaptureNamedLevels() throws {
        let pattern = try TopicPattern("flood/{sensor}/level")
        #expect(pattern.filter == "flood/+/level")
        #expect(pattern.match("flood/kurume-01/level") == ["sensor": "kurume-01"])
        #expect(pattern.match("flood/kurume-01/temp") == nil)
        #expect(pattern.match("flood/kurume-01/level/x") == nil)
        #expect(try TopicPattern("city/{ward}/{sensor}/#").match("city/east/s9/a/b") == ["ward": "east", "sensor": "s9"])
        for bad in ["a/{x}/{x}", "a/b#", "a/#/b", "a/x{y}", ""] {
            #expect(throws: PatternError.self, "\(bad)") { try TopicPattern(bad) }
        }
    }
}
