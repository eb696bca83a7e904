import KakehashiModel

/// Synthetic water-level readings for benchmarks: `sensors` gauges named `load-0001…`, taking turns,
/// `rate` readings per second in all for `duration` seconds from `start`. Levels are random walks
/// from a seeded generator, so a seed always gives the same readings.
public struct SyntheticLoad: Sendable {
    public let sensors: Int
    public let rate: Double
    public let durationSeconds: Double
    public let seed: UInt64
    public let start: Timestamp

    public init(sensors: Int, rate: Double, durationSeconds: Double, seed: UInt64, start: Timestamp) throws(SimulationError) {
        guard sensors >= 1, sensors <= 1_000_000 else { throw SimulationError("--sensors must be 1...1000000, not \(sensors)") }
        guard rate > 0, rate.isFinite, rate <= 1_000_000 else {
            throw SimulationError("--rate must be above 0 and at most 1000000 per second, not \(rate)")
        }
        guard durationSeconds > 0, durationSeconds.isFinite, rate * durationSeconds <= 100_000_000 else {
            throw SimulationError("--duration must be above 0 and rate × duration at most 100,000,000 readings")
        }
        // Each sensor's readings must have distinct times (the hub keeps one reading per sensor and time).
        guard rate / Double(sensors) <= 1000 else {
            throw SimulationError(
                "\(Int(rate)) readings/s over \(sensors) sensors is more than 1000 per sensor per second (times are in milliseconds): add sensors"
            )
        }
        self.sensors = sensors
        self.rate = rate
        self.durationSeconds = durationSeconds
        self.seed = seed
        self.start = start
    }

    /// How many readings the run sends.
    public var count: Int { Int((rate * durationSeconds).rounded(.down)) }

    /// The sensor ids.
    public var sensorIDs: [String] { (0..<sensors).map(Self.sensorID) }

    public static func sensorID(_ index: Int) -> String {
        let digits = String(index + 1)
        return "load-" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// The time of reading `index`.
    public func time(of index: Int) -> Timestamp {
        start.advanced(byMilliseconds: Int64((Double(index) * 1000 / rate).rounded(.down)))
    }

    /// The readings, in time order.
    public func readings() -> [SimReading] { Array(IteratorSequence(makeIterator())) }

    public func makeIterator() -> Iterator { Iterator(load: self) }

    /// Generates the readings one by one.
    public struct Iterator: IteratorProtocol, Sendable {
        let load: SyntheticLoad
        let ids: [String]
        var generator: SplitMix64
        var levels: [Double]
        var index = 0

        init(load: SyntheticLoad) {
            self.load = load
            ids = load.sensorIDs
            generator = SplitMix64(seed: load.seed)
            var g = generator
            levels = (0..<load.sensors).map { _ in 0.5 + Double(g.next() % 300) / 100 }  // 0.50–3.49 m
            generator = g
        }

        public mutating func next() -> SimReading? {
            guard index < load.count else { return nil }
            let sensor = index % load.sensors
            let step = Double(Int(generator.next() % 11) - 5) / 100  // −5…+5 cm
            levels[sensor] = min(9.99, max(0, ((levels[sensor] + step) * 100).rounded() / 100))
            defer { index += 1 }
            return SimReading(sensor: ids[sensor], time: load.time(of: index), value: .level(metres: levels[sensor]))
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and the same sequence on every platform.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
