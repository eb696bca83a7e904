import FoundationEssentials
import KakehashiModel

/// NGSI-LD encoding and decoding of one WaterObserved entity (the storm trace's first reading):
/// Kakehashi's writer and parser against Foundation's JSONEncoder/JSONDecoder on the same document.
enum ModelScenarios {
    /// The same normalized document as a Codable type, for the Foundation baseline.
    struct Attribute: Codable {
        var type: String
        var value: Value?
        var object: String?
        var unitCode: String?
        var observedAt: String?
    }
    enum Value: Codable {
        case number(Double), text(String), point(Point), dateTime(DateTime), address([String: String])
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let v = try? c.decode(Double.self) {
                self = .number(v)
            } else if let v = try? c.decode(String.self) {
                self = .text(v)
            } else if let v = try? c.decode(Point.self) {
                self = .point(v)
            } else if let v = try? c.decode(DateTime.self) {
                self = .dateTime(v)
            } else {
                self = .address(try c.decode([String: String].self))
            }
        }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .number(let v): try c.encode(v)
            case .text(let v): try c.encode(v)
            case .point(let v): try c.encode(v)
            case .dateTime(let v): try c.encode(v)
            case .address(let v): try c.encode(v)
            }
        }
    }
    struct Point: Codable { var type: String; var coordinates: [Double] }
    struct DateTime: Codable {
        var type: String; var value: String
        enum CodingKeys: String, CodingKey { case type = "@type", value = "@value" }
    }
    struct Entity: Codable {
        var id: String
        var type: String
        var attributes: [String: Attribute]
        struct Key: CodingKey {
            var stringValue: String
            init(stringValue: String) { self.stringValue = stringValue }
            var intValue: Int? { nil }
            init?(intValue: Int) { nil }
        }
        init(id: String, type: String, attributes: [String: Attribute]) {
            self.id = id; self.type = type; self.attributes = attributes
        }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            id = try c.decode(String.self, forKey: Key(stringValue: "id"))
            type = try c.decode(String.self, forKey: Key(stringValue: "type"))
            var attributes = [String: Attribute]()
            for key in c.allKeys where key.stringValue != "id" && key.stringValue != "type" {
                attributes[key.stringValue] = try c.decode(Attribute.self, forKey: key)
            }
            self.attributes = attributes
        }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(id, forKey: Key(stringValue: "id"))
            try c.encode(type, forKey: Key(stringValue: "type"))
            for (name, attribute) in attributes { try c.encode(attribute, forKey: Key(stringValue: name)) }
        }
    }

    static func sample() throws -> WaterObserved {
        try WaterObserved(
            id: EntityID(type: "WaterObserved", tenant: Tenant("demo"), localID: "3100000017"),
            location: GeoPoint(latitude: 35.474224, longitude: 133.75763),
            dateObserved: Timestamp(iso8601: "2026-06-01T03:07:00.000Z"),
            waterLevel: Quantity(1.14, .metre),
            name: "亀谷川（北栄町西穂波）",
            address: PostalAddress(addressCountry: "JP", addressRegion: "鳥取県", addressLocality: "鳥取県東伯郡北栄町"),
            thresholds: FloodThresholds(observationStartLevel: 0.96, alertLevel: 1.47, dangerLevel: 2.39)
        )
    }

    static func run(repeats: Int, iterations: Int) throws -> [BenchRow] {
        let gauge = try sample()
        let bytes = gauge.ngsiEntity.serialized(.normalized)
        let decoder = JSONDecoder()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        let codable = try decoder.decode(Entity.self, from: Data(bytes))

        let encode = Measurement.run(repeats: repeats, iterations: iterations) {
            gauge.ngsiEntity.serialized(.normalized).count
        }
        let encodeBaseline = try Measurement.run(repeats: repeats, iterations: iterations) {
            try encoder.encode(codable).count
        }
        let decode = try Measurement.run(repeats: repeats, iterations: iterations) {
            try WaterObserved(ngsiEntity: NGSIEntity(bytes: bytes, form: .normalized)).ngsiEntity.attributes.count
        }
        let decodeBaseline = try Measurement.run(repeats: repeats, iterations: iterations) {
            try decoder.decode(Entity.self, from: Data(bytes)).attributes.count
        }
        func micro(_ m: Measurement) -> [Double] { m.samples.map { $0 / 1000 } }
        return [
            BenchRow(
                scenario: "Encode one WaterObserved to NGSI-LD normalized (\(bytes.count) B)",
                kakehashi: micro(encode),
                baselineName: "Foundation JSONEncoder",
                baseline: micro(encodeBaseline),
                unit: "µs",
                higherIsBetter: false
            ),
            BenchRow(
                scenario: "Decode and validate one WaterObserved",
                kakehashi: micro(decode),
                baselineName: "Foundation JSONDecoder (no validation)",
                baseline: micro(decodeBaseline),
                unit: "µs",
                higherIsBetter: false
            ),
        ]
    }
}
