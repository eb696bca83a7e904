import KakehashiModel

/// One reading a simulator sends: which sensor, when it measured, and what.
public struct SimReading: Sendable, Hashable {
    /// What a sensor measured, before it is put in a device's payload.
    public enum Value: Sendable, Hashable {
        /// A water level in metres, as the trace gives it (its decimal text is kept exact).
        case level(metres: Double)
        /// People counted during the reading's interval.
        case count(Int)
    }

    /// The sensor's id, as its topic names it.
    public let sensor: String
    /// When the sensor measured.
    public var time: Timestamp
    public let value: Value

    public init(sensor: String, time: Timestamp, value: Value) {
        self.sensor = sensor
        self.time = time
        self.value = value
    }
}

/// A message ready for the broker.
public struct SimMessage: Sendable, Hashable {
    public let topic: String
    public let payload: [UInt8]
    /// The reading's (possibly shifted) time, which paces the replay.
    public let time: Timestamp

    public init(topic: String, payload: [UInt8], time: Timestamp) {
        self.topic = topic
        self.payload = payload
        self.time = time
    }

    /// `topic<TAB>payload`: text payloads as they are, binary ones as `hex:` and their bytes.
    public var line: String {
        if let text = String(validating: payload, as: UTF8.self), !text.contains(where: { $0 == "\n" || $0 == "\t" }),
            payload.allSatisfy({ $0 >= 0x20 })
        {
            return topic + "\t" + text
        }
        let digits = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(payload.count * 2)
        for byte in payload {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return topic + "\thex:" + String(decoding: hex, as: UTF8.self)
    }
}

/// A problem a simulator refuses to go on with, said plainly.
public struct SimulationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
