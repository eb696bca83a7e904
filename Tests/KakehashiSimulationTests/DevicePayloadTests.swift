import KakehashiGateway
import KakehashiModel
import KakehashiSimulation
import KakehashiTestSupport
import Testing

/// What the simulators send is what the sample gateway configuration decodes, value for value.
struct DevicePayloadTests {
    static func sampleRoutes() throws -> [MQTTSourceConfiguration.Route] {
        let file = RepositoryPaths.root.appendingPathComponent("deploy/gateway/gateway.yaml").path
        let configuration = try GatewayConfiguration.load(file: file, environment: ["KAKEHASHI_TAG_SECRET": "a-secret-of-16-bytes-or-more"])
        return configuration.sources.flatMap { source -> [MQTTSourceConfiguration.Route] in
            if case .mqtt(let mqtt) = source.kind { return mqtt.routes }
            return []
        }
    }

    /// Decodes `message` with the sample route its topic matches.
    static func decode(_ message: SimMessage, routes: [MQTTSourceConfiguration.Route]) throws -> DecodedReading {
        for route in routes {
            if let levels = route.pattern.match(message.topic) {
                return try route.decoder.decode(message.payload, topicLevels: levels, receivedAt: Timestamp(millisecondsSinceEpoch: 0))
            }
        }
        throw SimulationError("no sample route matches \(message.topic)")
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let format: DevicePayload
        let reading: SimReading
        let payload: String
        let attribute: String
        let decoded: Double
        var testDescription: String { "\(format.rawValue) \(reading.value)" }
    }

    static let at = Timestamp(millisecondsSinceEpoch: 1_780_362_000_000)  // 2026-06-02T01:00:00Z
    static let cases: [Case] = [
        // Levels in cm keep the trace's decimals exactly (2.07 m is 207, not 206.99999999999997).
        Case(
            format: .json,
            reading: SimReading(sensor: "kurume-01", time: at, value: .level(metres: 2.07)),
            payload: #"{"level":207,"ts":"2026-06-02T10:00:00+09:00"}"#,
            attribute: "waterLevel",
            decoded: 207
        ),
        Case(
            format: .json,
            reading: SimReading(sensor: "kurume-01", time: at, value: .level(metres: -0.35)),
            payload: #"{"level":-35,"ts":"2026-06-02T10:00:00+09:00"}"#,
            attribute: "waterLevel",
            decoded: -35
        ),
        Case(
            format: .json,
            reading: SimReading(sensor: "kurume-01", time: at, value: .level(metres: 12.345)),
            payload: #"{"level":1234.5,"ts":"2026-06-02T10:00:00+09:00"}"#,
            attribute: "waterLevel",
            decoded: 1234.5
        ),
        Case(
            format: .csv,
            reading: SimReading(sensor: "station-east", time: at, value: .count(1261)),
            payload: "1780362000,1261",
            attribute: "peopleCount",
            decoded: 1261
        ),
        Case(
            format: .binary,
            reading: SimReading(sensor: "lpwa-07", time: at, value: .level(metres: 3.584)),
            payload: "hex:6a1e2b100e000e10",
            attribute: "waterLevel",
            decoded: 3584
        ),
        Case(
            format: .binary,
            reading: SimReading(sensor: "lpwa-07", time: at, value: .level(metres: -1.2)),
            payload: "hex:6a1e2b10fb500e10",
            attribute: "waterLevel",
            decoded: -1200
        ),
    ]

    @Test(arguments: cases)
    func theSampleGatewayDecodesWhatTheSimulatorSends(_ c: Case) throws {
        let bytes = try c.format.encode(c.reading, offsetSeconds: 9 * 3600)
        let message = SimMessage(
            topic: try TopicTemplate(c.format.defaultTopic).topic(sensor: c.reading.sensor),
            payload: bytes,
            time: c.reading.time
        )
        #expect(message.line == "\(message.topic)\t\(c.payload)")
        let decoded = try Self.decode(message, routes: Self.sampleRoutes())
        #expect(decoded.sensor == c.reading.sensor)
        #expect(decoded.observedAt == c.reading.time)
        #expect(decoded.values.map(\.attribute) == [c.attribute])
        #expect(decoded.values.first?.number == c.decoded)
    }

    @Test func levelsTheBinaryFormatCannotHoldAreRefusedWithTheReason() {
        let reading = SimReading(sensor: "2400000066", time: Self.at, value: .level(metres: 147.99))
        #expect(throws: SimulationError.self) { try DevicePayload.binary.encode(reading) }
        do { _ = try DevicePayload.binary.encode(reading) } catch {
            #expect(error.description.contains("147.99 m does not fit") && error.description.contains("2400000066"))
        }
    }

    @Test(arguments: [
        (2.07, "207"), (0.0, "0"), (-0.35, "-35"), (0.01, "1"), (12.345, "1234.5"), (715.07, "71507"), (1.0, "100"), (-2.0, "-200"),
    ])
    func centimetresShiftTheDecimalPoint(_ metres: Double, _ text: String) {
        #expect(DevicePayload.centimetres(metres) == text)
    }

    @Test func topicTemplatesNeedTheSensorAndNoWildcards() throws {
        #expect(try TopicTemplate("mie/flood/{sensor}/level").topic(sensor: "2400000066") == "mie/flood/2400000066/level")
        #expect(throws: SimulationError.self) { try TopicTemplate("flood/level") }
        #expect(throws: SimulationError.self) { try TopicTemplate("flood/+/{sensor}") }
    }
}
