@testable import KakehashiGateway

/// Payloads a gateway meets in the field, each with the reason it must be rejected for.
enum BadPayloadCorpus {
    struct Case {
        let name: String
        let topic: String
        let payload: [UInt8]
        let reason: Rejection.Reason
    }

    static func json(_ text: String) -> [UInt8] { Array(text.utf8) }
    static let ts = #""ts":"2026-06-02T09:10:00""#

    static var cases: [Case] {
        var list = [Case]()
        func add(_ name: String, _ topic: String, _ payload: [UInt8], _ reason: Rejection.Reason) {
            list.append(Case(name: name, topic: topic, payload: payload, reason: reason))
        }
        let flood = "flood/s1/level"
        // Malformed JSON.
        for (i, text) in [
            "", "{", "}", "[", "{\"level\":1,", "{level:1}", "{'level':1}", "{\"level\":1,}", "{\"level\":01,\(ts)}",
            "{\"level\":1 \(ts)}", "{\"level\":.5,\(ts)}", "{\"level\":1e,\(ts)}", "{\"level\":-,\(ts)}", "nul",
            "{\"level\":1,\"level\":2,\(ts)}", "{\"level\":\"\\x41\",\(ts)}", "{\"level\":\"a\nb\",\(ts)}",
            String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
        ].enumerated() {
            add("malformed json \(i)", flood, json(text), .malformedJSON)
        }
        // Non-finite numbers.
        add("NaN", flood, json("{\"level\":NaN,\(ts)}"), .malformedJSON)
        add("Infinity", flood, json("{\"level\":Infinity,\(ts)}"), .malformedJSON)
        add("overflowing number", flood, json("{\"level\":1e999,\(ts)}"), .malformedJSON)
        // Wrong types.
        for (i, value) in ["\"12.3\"", "true", "[1]", "{\"v\":1}"].enumerated() {
            add("wrong type \(i)", flood, json("{\"level\":\(value),\(ts)}"), .wrongType)
        }
        add("top-level array", flood, json("[{\"level\":1,\(ts)}]"), .wrongType)
        add("top-level number", flood, json("42"), .wrongType)
        add("timestamp as number", flood, json("{\"level\":1,\"ts\":1780358400}"), .wrongType)
        // Huge or implausible numbers.
        add("huge number", flood, json("{\"level\":1e300,\(ts)}"), .outOfRange)
        add("beyond the declared range", flood, json("{\"level\":99999,\(ts)}"), .outOfRange)
        add("negative beyond range", flood, json("{\"level\":-5000,\(ts)}"), .outOfRange)
        // Invalid UTF-8.
        add("invalid UTF-8", flood, [0x7B, 0x22, 0x6C, 0x22, 0x3A, 0xC3, 0x28, 0x7D], .invalidUTF8)
        add("overlong UTF-8", flood, json("{\"level\":1,\"x\":\"") + [0xC0, 0xAF] + json("\"}"), .invalidUTF8)
        add("lone surrogate bytes", flood, json("{\"n\":\"") + [0xED, 0xA0, 0x80] + json("\"}"), .invalidUTF8)
        // Missing fields.
        add("no level", flood, json("{\(ts)}"), .missingField)
        add("null level", flood, json("{\"level\":null,\(ts)}"), .missingField)
        add("no timestamp", flood, json("{\"level\":1}"), .missingField)
        add("empty object", flood, json("{}"), .missingField)
        // Bad timestamps.
        add("not a date", flood, json("{\"level\":1,\"ts\":\"yesterday\"}"), .badTimestamp)
        add("month 13", flood, json("{\"level\":1,\"ts\":\"2026-13-02T09:10:00\"}"), .badTimestamp)
        add("far future", flood, json("{\"level\":1,\"ts\":\"2099-01-01T00:00:00Z\"}"), .clockSkew)
        // Too large.
        add(
            "1 MiB JSON",
            flood,
            json("{\"level\":1,\"pad\":\"" + String(repeating: "x", count: 1 << 20) + "\"}").prefix(1 << 20).map { $0 },
            .payloadTooLarge
        )
        add("1 MiB zeros", "lpwa/s1/up", [UInt8](repeating: 0, count: 1 << 20), .payloadTooLarge)
        // Unknown sensors.
        for sensor in ["unknown", "s99", "S1", "s1 ", String(repeating: "z", count: 100)] {
            add("unknown sensor \(sensor.prefix(10))", "flood/\(sensor)/level", json("{\"level\":1,\(ts)}"), .unknownSensor)
        }
        add("sensor id too long", "flood/\(String(repeating: "z", count: 200))/level", json("{\"level\":1,\(ts)}"), .outOfRange)
        // CSV.
        add("csv text for a number", "counters/station-east", json("1780358400,many,1"), .wrongType)
        add("csv short", "counters/station-east", json("1780358400,4"), .missingField)
        add("csv two lines", "counters/station-east", json("1780358400,4,1\n1780358460,5,1"), .malformedCSV)
        add("csv empty", "counters/station-east", json(""), .malformedCSV)
        add("csv negative count", "counters/station-east", json("1780358400,-4,1"), .outOfRange)
        add("csv fractional count", "counters/station-east", json("1780358400,4.5,1"), .outOfRange)
        add("csv occupancy over 100%", "counters/station-east", json("1780358400,4,250"), .invalidEntity)
        add("csv unknown counter", "counters/west", json("1780358400,4,1"), .unknownSensor)
        // Binary.
        add("binary empty", "lpwa/s1/up", [], .shortPayload)
        add("binary 5 bytes", "lpwa/s1/up", [0x6A, 0x1E, 0x3B, 0x00, 0x01], .shortPayload)
        add("binary clock far ahead", "lpwa/s1/up", [0xFF, 0xFF, 0xFF, 0xFF, 0, 1], .clockSkew)
        // A sensor registered as a crowd counter cannot report a water level.
        add("attribute the entity lacks", "flood/station-east/level", json("{\"level\":1,\(ts)}"), .unsupportedAttribute)
        return list
    }
}
