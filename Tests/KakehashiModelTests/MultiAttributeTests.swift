import KakehashiModel
import Testing

/// Multi-attributes in the model: decoded into one kept attribute per datasetId, encoded back as
/// the array they came as, in normalized, concise and keyValues forms.
@Suite struct MultiAttributeTests {
    static let entity: JSONValue = [
        "id": "urn:ngsi-ld:WaterObserved:g1", "type": "WaterObserved",
        "waterLevel": [
            ["type": "Property", "value": 1.5],
            ["type": "Property", "value": 1.7, "datasetId": "urn:ngsi-ld:Dataset:b"],
            ["type": "Property", "value": 1.6, "datasetId": "urn:ngsi-ld:Dataset:a"],
        ],
        "name": ["type": "Property", "value": "g1", "datasetId": "urn:ngsi-ld:Dataset:a"],
    ]

    @Test func instancesAreKeptApartAndShownAsTheyCame() throws {
        let tenant = try Tenant("kurume")
        let decoded = try NGSIEntity(json: Self.entity, form: .normalized, tenant: tenant)
        #expect(
            decoded.instanceNames(of: "waterLevel") == [
                "waterLevel", "waterLevel\u{1F}urn:ngsi-ld:Dataset:a", "waterLevel\u{1F}urn:ngsi-ld:Dataset:b",
            ]
        )
        #expect(NGSIEntity.splitName("waterLevel\u{1F}urn:x:1") == ("waterLevel", "urn:x:1"))
        #expect(decoded.hasAttribute("name") && decoded.attributes["name"] == nil)
        let normalized = decoded.json(.normalized)
        // The default instance first, then by datasetId; a lone instance with a datasetId is an array of one.
        #expect(normalized["waterLevel"]?.arrayValue?.map { $0["value"] } == [1.5, 1.6, 1.7])
        #expect(normalized["waterLevel"]?.arrayValue?.map { $0["datasetId"] } == [nil, "urn:ngsi-ld:Dataset:a", "urn:ngsi-ld:Dataset:b"])
        #expect(normalized["name"]?.arrayValue?.first?["datasetId"] == "urn:ngsi-ld:Dataset:a")
        #expect(decoded.json(.keyValues)["waterLevel"] == [1.5, 1.6, 1.7])
        // Decoding what it shows gives the same entity, also through the concise form.
        #expect(try NGSIEntity(json: normalized, form: .normalized, tenant: tenant) == decoded)
        let concise = NGSIConcise.compactEntity(normalized)
        #expect(concise["waterLevel"]?.arrayValue?.first == ["value": 1.5])
        #expect(try NGSIEntity(json: NGSIConcise.expandEntity(concise), form: .normalized, tenant: tenant) == decoded)
    }

    @Test(arguments: [
        (JSONValue.array([["type": "Property", "value": 1], ["type": "Property", "value": 2]]), "two instances without a datasetId"),
        (
            JSONValue.array([["type": "Property", "value": 1, "datasetId": "urn:a:1"], ["type": "Property", "value": 2, "datasetId": "urn:a:1"]]),
            "given twice"
        ),
        (JSONValue.object(["type": "Property", "value": 1, "datasetId": "no uri"]), "not an absolute URI"),
        (JSONValue.array([]), "not an empty array"),
    ])
    func badInstancesAreNamed(_ attribute: JSONValue, _ words: String) {
        let entity: JSONValue = ["id": "urn:x:1", "type": "X", "level": attribute]
        #expect(throws: ModelError.self) { try NGSIEntity(json: entity, form: .normalized, tenant: try Tenant("kurume")) }
        do { _ = try NGSIEntity(json: entity, form: .normalized, tenant: try Tenant("kurume")) } catch {
            #expect(error.description.contains(words), "\(error)")
        }
    }
}
