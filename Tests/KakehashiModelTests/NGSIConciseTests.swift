import KakehashiModel
import Testing

/// The concise representation both ways, case by case (ETSI GS CIM 009, 4.5.x).
struct NGSIConciseTests {
    struct Case: Sendable, CustomStringConvertible {
        let name: String
        let normalized: JSONValue
        let concise: JSONValue
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "a bare number", normalized: ["type": "Property", "value": 1.5], concise: 1.5),
        Case(name: "a bare text", normalized: ["type": "Property", "value": "瀬ノ下"], concise: "瀬ノ下"),
        Case(name: "a bare list", normalized: ["type": "Property", "value": ["a", "b"]], concise: ["a", "b"]),
        Case(name: "a bare boolean", normalized: ["type": "Property", "value": true], concise: true),
        Case(
            name: "a value with a unit and a time",
            normalized: ["type": "Property", "value": 1.5, "unitCode": "MTR", "observedAt": "2026-06-02T00:00:00.000Z"],
            concise: ["value": 1.5, "unitCode": "MTR", "observedAt": "2026-06-02T00:00:00.000Z"]
        ),
        Case(
            name: "an object value keeps its value member",
            normalized: ["type": "Property", "value": ["streetAddress": "1-1"]],
            concise: ["value": ["streetAddress": "1-1"]]
        ),
        Case(
            name: "a date-time keeps its value member",
            normalized: ["type": "Property", "value": ["@type": "DateTime", "@value": "2026-06-02T00:00:00.000Z"]],
            concise: ["value": ["@type": "DateTime", "@value": "2026-06-02T00:00:00.000Z"]]
        ),
        Case(
            name: "a relationship",
            normalized: ["type": "Relationship", "object": "urn:ngsi-ld:Device:d1"],
            concise: ["object": "urn:ngsi-ld:Device:d1"]
        ),
        Case(
            name: "a geoproperty",
            normalized: ["type": "GeoProperty", "value": ["type": "Point", "coordinates": [130.5, 33.3]]],
            concise: ["value": ["type": "Point", "coordinates": [130.5, 33.3]]]
        ),
        Case(
            name: "a language property",
            normalized: ["type": "LanguageProperty", "languageMap": ["ja": "瀬ノ下", "en": "Senoshita"]],
            concise: ["languageMap": ["ja": "瀬ノ下", "en": "Senoshita"]]
        ),
    ]

    @Test(arguments: cases) func compactsAndExpandsBack(_ c: Case) {
        #expect(NGSIConcise.compact(c.normalized) == c.concise)
        #expect(NGSIConcise.expand(c.concise) == c.normalized)
        // Normalized input is left as it is.
        #expect(NGSIConcise.expand(c.normalized) == c.normalized)
    }

    @Test func anEntityKeepsItsIDTypeAndContext() throws {
        let normalized: JSONValue = [
            "id": "urn:ngsi-ld:WaterObserved:x", "type": "WaterObserved", "@context": ["https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"],
            "waterLevel": ["type": "Property", "value": 1.5, "unitCode": "MTR"], "name": ["type": "Property", "value": "x"],
        ]
        let concise = NGSIConcise.compactEntity(normalized)
        #expect(concise["id"] == "urn:ngsi-ld:WaterObserved:x" && concise["type"] == "WaterObserved" && concise["name"] == "x")
        #expect(concise["@context"] == normalized["@context"])
        #expect(NGSIConcise.expandEntity(concise) == normalized)
        let entity = try NGSIEntity(json: NGSIConcise.expandEntity(concise), form: .normalized, tenant: Tenant("kurume"))
        #expect(entity.attributes["waterLevel"] == .property(NGSIProperty(.number(1.5), unitCode: .metre)))
    }
}
