import KakehashiModel

/// Turns one sensor message into a ``DecodedReading``, as declared per topic in configuration.
///
/// Three formats: JSON (field paths), CSV lines (columns), and fixed binary layouts (offsets).
///
/// ```swift
/// let decoder = PayloadDecoder(
///     format: .json, sensor: .topic("sensor"),
///     timestamp: .field(.json(try FieldPath("ts")), .iso8601(assumedOffsetSeconds: 9 * 3600)),
///     values: [.init(attribute: "waterLevel", location: .json(try FieldPath("level")), unit: .centimetre)])
/// let reading = try decoder.decode(payload, topicLevels: ["sensor": "kurume-01"], receivedAt: now)
/// ```
public struct PayloadDecoder: Sendable, Hashable {
    public enum Format: String, Sendable, Hashable {
        case json, csv, binary
    }

    /// Where a value sits in the payload.
    public enum Location: Sendable, Hashable {
        case json(FieldPath)
        case column(Int)
        case binary(BinaryField)
    }

    /// Where the sensor's id comes from.
    public enum SensorSource: Sendable, Hashable {
        /// A named level of the topic pattern.
        case topic(String)
        /// A field of the payload.
        case payload(Location)
    }

    /// Where the sensor's time comes from.
    public enum TimestampSource: Sendable, Hashable {
        case field(Location, TimestampFormat)
        /// The gateway's arrival time: only for sensors without a clock, and only when configured.
        case arrival
    }

    /// One value to read.
    public struct ValueSpec: Sendable, Hashable {
        public let attribute: String
        public let location: Location
        /// The unit of the scaled value.
        public let unit: MeasurementUnit?
        /// The value is `raw × scale + offset`.
        public let scale: Double
        public let offset: Double
        /// Plausible values after scaling; others are rejected as out of range.
        public let range: ClosedRange<Double>
        /// A missing or empty field leaves the attribute out instead of rejecting the message.
        public let optional: Bool

        public init(
            attribute: String,
            location: Location,
            unit: MeasurementUnit? = nil,
            scale: Double = 1,
            offset: Double = 0,
            range: ClosedRange<Double> = PayloadDecoder.defaultRange,
            optional: Bool = false
        ) {
            self.attribute = attribute
            self.location = location
            self.unit = unit
            self.scale = scale
            self.offset = offset
            self.range = range
            self.optional = optional
        }
    }

    /// Values beyond ±10⁹ are no sensor's reading.
    public static let defaultRange: ClosedRange<Double> = -1e9...1e9

    public let format: Format
    public let sensor: SensorSource
    public let timestamp: TimestampSource
    public let values: [ValueSpec]
    /// CSV only: the cell separator.
    public let delimiter: Character

    public init(format: Format, sensor: SensorSource, timestamp: TimestampSource, values: [ValueSpec], delimiter: Character = ",") {
        self.format = format
        self.sensor = sensor
        self.timestamp = timestamp
        self.values = values
        self.delimiter = delimiter
    }

    /// Decodes `payload`; `topicLevels` are the named levels the topic pattern captured.
    public func decode(_ payload: [UInt8], topicLevels: [String: String], receivedAt: Timestamp) throws(Rejection) -> DecodedReading {
        switch format {
        case .json: return try decodeJSON(payload, topicLevels: topicLevels, receivedAt: receivedAt)
        case .csv: return try decodeCSV(payload, topicLevels: topicLevels, receivedAt: receivedAt)
        case .binary: return try decodeBinary(payload, topicLevels: topicLevels, receivedAt: receivedAt)
        }
    }

    func sensorID(topicLevels: [String: String], payloadText: (Location) throws(Rejection) -> String) throws(Rejection) -> String {
        let id: String
        switch sensor {
        case .topic(let name):
            guard let value = topicLevels[name] else { throw Rejection(.missingField, "the topic has no level {\(name)}") }
            id = value
        case .payload(let location): id = try payloadText(location)
        }
        guard !id.isEmpty else { throw Rejection(.missingField, "the sensor id is empty") }
        guard id.utf8.count <= 128 else { throw Rejection(.outOfRange, "the sensor id is \(id.utf8.count) bytes long (at most 128)") }
        return id
    }

    func scaled(_ raw: Double, _ spec: ValueSpec, field: String) throws(Rejection) -> DecodedReading.Value {
        guard raw.isFinite else { throw Rejection(.notFinite, "\(field) (\(spec.attribute)) is not a finite number") }
        let value = raw * spec.scale + spec.offset
        guard value.isFinite, spec.range.contains(value) else {
            throw Rejection(.outOfRange, "\(field) (\(spec.attribute)) = \(value) is outside \(spec.range.lowerBound)...\(spec.range.upperBound)")
        }
        return DecodedReading.Value(attribute: spec.attribute, number: value, unit: spec.unit)
    }

    static func validatedText(_ payload: [UInt8]) throws(Rejection) -> String {
        guard let text = String(validating: payload, as: UTF8.self) else {
            throw Rejection(.invalidUTF8, "the payload is not valid UTF-8")
        }
        return text
    }
}
