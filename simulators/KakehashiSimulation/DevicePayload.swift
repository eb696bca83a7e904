import KakehashiModel

/// The payloads cheap field devices send, as the sample gateway configuration
/// (deploy/gateway/gateway.yaml) decodes them:
///
/// | format | topic (default) | payload |
/// | --- | --- | --- |
/// | `json` | `flood/{sensor}/level` | `{"level":123.4,"ts":"2026-06-02T09:10:00+09:00"}`, level in centimetres |
/// | `csv` | `counters/{sensor}` | `1262350800,1261`: epoch seconds, people counted (occupancy left out) |
/// | `binary` | `lpwa/{sensor}/up` | 8 bytes: u32 BE epoch seconds, i16 BE level in millimetres, u16 BE battery mV |
public enum DevicePayload: String, Sendable, CaseIterable {
    case json, csv, binary

    /// The default topic template, `{sensor}` standing for the sensor id.
    public var defaultTopic: String {
        switch self {
        case .json: "flood/{sensor}/level"
        case .csv: "counters/{sensor}"
        case .binary: "lpwa/{sensor}/up"
        }
    }

    /// The battery voltage the binary format carries; traces do not record one.
    public static let batteryMillivolts: UInt16 = 3600

    /// The payload of `reading`; `offsetSeconds` is the zone the device writes its JSON time in.
    public func encode(_ reading: SimReading, offsetSeconds: Int = 0) throws(SimulationError) -> [UInt8] {
        switch (self, reading.value) {
        case (.json, .level(let metres)):
            // Local time at the device's offset, to the second; UTC with milliseconds otherwise.
            let ts =
                offsetSeconds != 0 && reading.time.millisecondsSinceEpoch % 1000 == 0
                ? reading.time.iso8601(offsetSeconds: offsetSeconds) : reading.time.iso8601
            return Array("{\"level\":\(Self.centimetres(metres)),\"ts\":\"\(ts)\"}".utf8)
        case (.csv, .count(let people)):
            return Array("\(Self.epochSeconds(reading.time)),\(people)".utf8)
        case (.binary, .level(let metres)):
            let millimetres = (metres * 1000).rounded()
            guard millimetres >= Double(Int16.min), millimetres <= Double(Int16.max) else {
                throw SimulationError(
                    "\(reading.sensor) at \(reading.time): \(metres) m does not fit the binary format's signed 16-bit millimetres (±32.767 m)"
                )
            }
            let seconds = Self.epochSeconds(reading.time)
            guard seconds >= 0, seconds <= Int64(UInt32.max) else {
                throw SimulationError("\(reading.sensor) at \(reading.time): the binary format's u32 epoch seconds cannot hold this time")
            }
            let s = UInt32(seconds), mm = UInt16(bitPattern: Int16(millimetres)), mv = Self.batteryMillivolts
            return [
                UInt8(s >> 24), UInt8(s >> 16 & 0xFF), UInt8(s >> 8 & 0xFF), UInt8(s & 0xFF),
                UInt8(mm >> 8), UInt8(mm & 0xFF), UInt8(mv >> 8), UInt8(mv & 0xFF),
            ]
        case (.json, .count(let people)):
            return Array("{\"count\":\(people),\"ts\":\"\(reading.time.iso8601(offsetSeconds: offsetSeconds))\"}".utf8)
        case (.csv, .level(let metres)):
            return Array("\(Self.epochSeconds(reading.time)),\(Self.centimetres(metres))".utf8)
        case (.binary, .count):
            throw SimulationError("the binary format carries water levels, not counts")
        }
    }

    /// Whole seconds since 1970 (times before it round down).
    static func epochSeconds(_ time: Timestamp) -> Int64 {
        let ms = time.millisecondsSinceEpoch
        return ms >= 0 ? ms / 1000 : (ms - 999) / 1000
    }

    /// Metres as centimetres, shifting the decimal point of the value's shortest text, so
    /// 2.07 m is exactly `207`, never `206.99999999999997`.
    public static func centimetres(_ metres: Double) -> String {
        var text = metres.description
        if text.contains("e") || text.contains("E") { return (metres * 100).description }
        var negative = false
        if text.hasPrefix("-") { negative = true; text.removeFirst() }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        var whole = String(parts[0])
        var fraction = parts.count > 1 ? String(parts[1]) : ""
        if fraction == "0" { fraction = "" }
        while fraction.count < 2 { fraction += "0" }
        whole += fraction.prefix(2)
        fraction = String(fraction.dropFirst(2))
        while whole.count > 1 && whole.hasPrefix("0") { whole.removeFirst() }
        var out = whole
        if !fraction.isEmpty { out += "." + fraction }
        if negative && out != "0" { out = "-" + out }
        return out
    }
}

/// A topic with `{sensor}` standing for the sensor's id: `flood/{sensor}/level`.
public struct TopicTemplate: Sendable, Hashable {
    public let text: String

    public init(_ text: String) throws(SimulationError) {
        guard text.contains("{sensor}") else { throw SimulationError("the topic template '\(text)' has no {sensor}") }
        guard !text.contains("#"), !text.contains("+") else {
            throw SimulationError("the topic template '\(text)' has a wildcard (+ or #); a topic to publish to has none")
        }
        self.text = text
    }

    public func topic(sensor: String) -> String {
        text.replacing("{sensor}", with: sensor)
    }
}
