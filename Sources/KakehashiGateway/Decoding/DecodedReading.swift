import KakehashiModel

/// What a decoder read from one sensor message: the sensor, its own time, and named values.
public struct DecodedReading: Sendable, Hashable {
    /// One value, already scaled, in `unit` when the decoder declared one.
    public struct Value: Sendable, Hashable {
        public let attribute: String
        public let number: Double
        public let unit: MeasurementUnit?

        public init(attribute: String, number: Double, unit: MeasurementUnit?) {
            self.attribute = attribute
            self.number = number
            self.unit = unit
        }
    }

    /// The sensor's id as the source names it (the device registry's key).
    public let sensor: String
    /// When the sensor measured.
    public let observedAt: Timestamp
    public let values: [Value]

    public init(sensor: String, observedAt: Timestamp, values: [Value]) {
        self.sensor = sensor
        self.observedAt = observedAt
        self.values = values
    }
}
