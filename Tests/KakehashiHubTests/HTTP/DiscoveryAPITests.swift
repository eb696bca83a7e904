import HTTPTypes
import KakehashiHub
import KakehashiHubCore
import KakehashiHubTestSupport
import KakehashiModel
import Testing

/// NGSI-LD discovery (`/types`, `/attributes`) over what a tenant stored, and only its own.
@Suite struct DiscoveryAPITests {
    static let gauges = [Readings.level("a", 1.2, minutes: 0), Readings.level("b", 2.4, minutes: 0)]
    static let counter = try! NGSIEntity(
        id: EntityID(type: "CrowdFlowObserved", tenant: Readings.kurume, localID: "east"),
        attributes: [
            "peopleCount": .property(NGSIProperty(.number(12), observedAt: Readings.t0)),
            "location": .geoProperty(try! GeoPoint(latitude: 33.3, longitude: 130.5), observedAt: nil),
            "refDevice": .relationship(object: "urn:ngsi-ld:Device:kurume:cam-1", observedAt: nil),
        ]
    )

    @Test func typesAndAttributesOfTheTenant() async throws {
        try await HubHarness.withHub { _, client in
            #expect(try await client.upsert(Self.gauges + [Self.counter]).status == .created)
            #expect(try await client.upsert([Readings.level("z", 9, minutes: 0, tenant: Readings.omuta)], tenant: Readings.omuta).status == .created)

            let types = try await client.call(.get, "/ngsi-ld/v1/types")
            #expect(types.status == .ok)
            #expect(types.json["type"]?.stringValue == "EntityTypeList")
            #expect(types.json["typeList"]?.arrayValue == [.string("CrowdFlowObserved"), .string("WaterObserved")])

            let detailed = try await client.call(.get, "/ngsi-ld/v1/types?details=true")
            let water = detailed.json.arrayValue?.first { $0["typeName"]?.stringValue == "WaterObserved" }
            #expect(water?["type"]?.stringValue == "EntityType")
            #expect(water?["id"]?.stringValue == "https://uri.etsi.org/ngsi-ld/default-context/WaterObserved")
            #expect(water?["attributeNames"]?.arrayValue == [.string("location"), .string("name"), .string("waterLevel")])

            let info = try await client.call(.get, "/ngsi-ld/v1/types/WaterObserved")
            #expect(info.json["type"]?.stringValue == "EntityTypeInfo")
            #expect(info.json["entityCount"]?.numberValue == 2, "only kurume's two gauges: \(info.text)")
            let location = info.json["attributeDetails"]?.arrayValue?.first { $0["attributeName"]?.stringValue == "location" }
            #expect(location?["attributeTypes"]?.arrayValue == [.string("GeoProperty")])

            let attributes = try await client.call(.get, "/ngsi-ld/v1/attributes")
            #expect(attributes.json["type"]?.stringValue == "AttributeList")
            #expect(
                attributes.json["attributeList"]?.arrayValue
                    == ["location", "name", "peopleCount", "refDevice", "waterLevel"].map(JSONValue.string)
            )
            let relation = try await client.call(.get, "/ngsi-ld/v1/attributes/refDevice")
            #expect(relation.json["attributeTypes"]?.arrayValue == [.string("Relationship")])
            let shared = try await client.call(.get, "/ngsi-ld/v1/attributes/location")
            #expect(shared.json["attributeCount"]?.numberValue == 3)
            #expect(shared.json["typeNames"]?.arrayValue == [.string("CrowdFlowObserved"), .string("WaterObserved")])
            let all = try await client.call(.get, "/ngsi-ld/v1/attributes?details=true")
            #expect(all.json.arrayValue?.count == 5)
        }
    }

    @Test func unknownNamesAndBadDetailsAreProblems() async throws {
        try await HubHarness.withHub { _, client in
            #expect(try await client.upsert(Self.gauges).status == .created)
            let type = try await client.call(.get, "/ngsi-ld/v1/types/Nothing")
            #expect(type.status == .notFound && type.problemType == "ResourceNotFound")
            let attribute = try await client.call(.get, "/ngsi-ld/v1/attributes/nothing")
            #expect(attribute.status == .notFound && attribute.problemType == "ResourceNotFound")
            let details = try await client.call(.get, "/ngsi-ld/v1/types?details=yes")
            #expect(details.status == .badRequest && details.problemType == "BadRequestData")
            let unknown = try await client.call(.get, "/ngsi-ld/v1/attributes?colour=red")
            #expect(unknown.status == .badRequest)
        }
    }
}
