import HTTPTypes
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiHubTestSupport
import KakehashiModel
import Testing

@Suite("NGSI-LD entities API")
struct EntitiesAPITests {
    static let gauges = [
        Readings.level("a", 1.0, minutes: 0, latitude: 33.30, longitude: 130.50),
        Readings.level("b", 2.5, minutes: 0, latitude: 33.31, longitude: 130.51),
        Readings.level("c", 4.0, minutes: 0, latitude: 34.00, longitude: 131.00),
    ]

    /// Pages link to their neighbours (`Link` rel="next"/"prev", the same query with another
    /// offset), beside the core context's link.
    @Test func pagesLinkToTheirNeighbours() async throws {
        try await HubHarness.withHub { _, client in
            #expect(try await client.upsert(Self.gauges).status == .created)
            var links = [[String]]()
            for offset in 0..<3 {
                let reply = try await client.call(.get, "/ngsi-ld/v1/entities?type=WaterObserved&limit=1&offset=\(offset)&count=true")
                #expect(reply.status == .ok)
                #expect(reply.headers[HTTPField.Name("NGSILD-Results-Count")!] == "3")
                links.append(reply.headers[values: HTTPField.Name("Link")!].filter { !$0.contains("ngsi-ld-core-context") })
            }
            #expect(links[0] == [#"</ngsi-ld/v1/entities?type=WaterObserved&count=true&limit=1&offset=1>; rel="next""#])
            #expect(
                links[1] == [
                    #"</ngsi-ld/v1/entities?type=WaterObserved&count=true&limit=1&offset=2>; rel="next""#,
                    #"</ngsi-ld/v1/entities?type=WaterObserved&count=true&limit=1&offset=0>; rel="prev""#,
                ]
            )
            #expect(links[2] == [#"</ngsi-ld/v1/entities?type=WaterObserved&count=true&limit=1&offset=1>; rel="prev""#])
        }
    }

    /// `pick` shows only the members it names (id and type included), `omit` drops them; both at
    /// once is a 400.
    @Test func pickAndOmitShapeEachEntity() async throws {
        try await HubHarness.withHub { _, client in
            #expect(try await client.upsert(Self.gauges).status == .created)
            let picked = try await client.call(.get, "/ngsi-ld/v1/entities?type=WaterObserved&pick=id,waterLevel")
            #expect(picked.status == .ok)
            for entity in picked.json.arrayValue ?? [] {
                #expect(entity.objectValue.map { Set($0.keys) } == ["id", "waterLevel"], "\(entity)")
            }
            #expect(picked.json.arrayValue?.count == 3)
            let id = Self.gauges[0].id.rawValue
            let omitted = try await client.call(.get, "/ngsi-ld/v1/entities/\(id)?omit=location,name&options=keyValues")
            #expect(omitted.json.objectValue.map { Set($0.keys) } == ["id", "type", "waterLevel"], "\(omitted.text)")
            let both = try await client.call(.get, "/ngsi-ld/v1/entities/\(id)?pick=id&omit=name")
            #expect(both.status == .badRequest && both.problemType == "BadRequestData")
        }
    }

    /// `Accept: application/geo+json`: a FeatureCollection (one entity: a Feature) with the
    /// location as the geometry ([longitude, latitude]) and the attributes as properties.
    @Test func geoJSONRepresentation() async throws {
        try await HubHarness.withHub { _, client in
            #expect(try await client.upsert(Self.gauges).status == .created)
            let accept = ["Accept": "application/geo+json"]
            var headers = HTTPFields()
            for (name, value) in accept { headers[HTTPField.Name(name)!] = value }
            let collection = try await client.call(.get, "/ngsi-ld/v1/entities?type=WaterObserved&options=keyValues", headers: headers)
            #expect(collection.status == .ok)
            #expect(collection.headers[.contentType] == "application/geo+json")
            #expect(collection.json["type"]?.stringValue == "FeatureCollection")
            let features = collection.json["features"]?.arrayValue ?? []
            #expect(features.count == 3)
            let first = try #require(features.first { $0["id"]?.stringValue == Self.gauges[0].id.rawValue })
            let point = try Self.gauges[0].location()
            #expect(first["type"]?.stringValue == "Feature")
            #expect(first["geometry"]?["type"]?.stringValue == "Point")
            #expect(first["geometry"]?["coordinates"]?.arrayValue == point.map { [.number($0.longitude), .number($0.latitude)] })
            #expect(first["properties"]?["type"]?.stringValue == "WaterObserved")
            #expect(first["properties"]?["waterLevel"]?.numberValue != nil, "\(first)")
            let one = try await client.call(.get, "/ngsi-ld/v1/entities/\(Self.gauges[0].id.rawValue)", headers: headers)
            #expect(one.json["type"]?.stringValue == "Feature")
            #expect(one.json["properties"]?["waterLevel"]?["type"]?.stringValue == "Property")
            // A geometry property the entity does not have: a null geometry, not an error.
            let none = try await client.call(.get, "/ngsi-ld/v1/entities/\(Self.gauges[0].id.rawValue)?geometryProperty=nowhere", headers: headers)
            #expect(none.json["geometry"] == .null)
        }
    }

    @Test func upsertThenQuery() async throws {
        try await HubHarness.withHub { _, client in
            let created = try await client.upsert(Self.gauges)
            #expect(created.status == .created)
            #expect(created.json.arrayValue?.compactMap(\.stringValue).sorted() == Self.gauges.map(\.id.rawValue))
            // The same entities again: nothing new, 204.
            #expect(try await client.upsert(Self.gauges).status == .noContent)

            let all = try await client.call(.get, "/ngsi-ld/v1/entities?type=WaterObserved&count=true")
            #expect(all.status == .ok)
            #expect(all.headers[HTTPField.Name("NGSILD-Results-Count")!] == "3")
            #expect(all.headers[.contentType] == "application/json")
            #expect(all.headers[HTTPField.Name("Link")!]?.contains("ngsi-ld-core-context") == true)
            #expect(all.json.arrayValue?.compactMap { $0["id"]?.stringValue } == Self.gauges.map(\.id.rawValue))
            #expect(all.json.arrayValue?.first?["waterLevel"]?["unitCode"]?.stringValue == "MTR")

            let page = try await client.call(.get, "/ngsi-ld/v1/entities?type=WaterObserved&limit=1&offset=1")
            #expect(page.json.arrayValue?.compactMap { $0["id"]?.stringValue } == [Self.gauges[1].id.rawValue])

            let high = try await client.call(.get, "/ngsi-ld/v1/entities?type=WaterObserved&q=waterLevel%3E%3D2.5&options=keyValues")
            #expect(high.json.arrayValue?.compactMap { $0["waterLevel"]?.numberValue } == [2.5, 4.0])

            let either = try await client.call(
                .get,
                "/ngsi-ld/v1/entities?type=WaterObserved&q=(waterLevel%3C2|waterLevel%3E3);name!=%22gauge%20c%22"
            )
            #expect(either.json.arrayValue?.compactMap { $0["id"]?.stringValue } == [Self.gauges[0].id.rawValue])

            let near = try await client.call(
                .get,
                "/ngsi-ld/v1/entities?type=WaterObserved&georel=near;maxDistance==2000&geometry=Point&coordinates=%5B130.5,33.3%5D"
            )
            #expect(near.json.arrayValue?.compactMap { $0["id"]?.stringValue } == [Self.gauges[0].id.rawValue, Self.gauges[1].id.rawValue])

            let polygon = "%5B%5B%5B130.9,33.9%5D,%5B131.1,33.9%5D,%5B131.1,34.1%5D,%5B130.9,34.1%5D,%5B130.9,33.9%5D%5D%5D"
            let within = try await client.call(.get, "/ngsi-ld/v1/entities?georel=within&geometry=Polygon&coordinates=\(polygon)")
            #expect(within.json.arrayValue?.compactMap { $0["id"]?.stringValue } == [Self.gauges[2].id.rawValue])

            let projected = try await client.call(.get, "/ngsi-ld/v1/entities?type=WaterObserved&attrs=name&limit=1")
            #expect(projected.json.arrayValue?.first?.objectValue?.keys.sorted() == ["id", "name", "type"])

            let one = try await client.call(.get, "/ngsi-ld/v1/entities/\(Self.gauges[1].id.rawValue)?options=keyValues")
            #expect(one.status == .ok && one.json["waterLevel"]?.numberValue == 2.5)

            let ld = try await client.call(.get, "/ngsi-ld/v1/entities/\(Self.gauges[1].id.rawValue)", headers: [.accept: "application/ld+json"])
            #expect(ld.headers[.contentType] == "application/ld+json")
            #expect(ld.json["@context"]?.arrayValue?.last?.stringValue == NGSIContext.core)
        }
    }

    @Test func newerReadingsReplaceLatestValue() async throws {
        try await HubHarness.withHub { _, client in
            _ = try await client.upsert([Readings.level("a", 1.0, minutes: 0)])
            #expect(try await client.upsert([Readings.level("a", 1.7, minutes: 10)]).status == .noContent)
            _ = try await client.upsert([Readings.level("a", 0.2, minutes: 5)])  // late
            let one = try await client.call(.get, "/ngsi-ld/v1/entities/\(Readings.gauge("a").rawValue)?options=keyValues")
            #expect(one.json["waterLevel"]?.numberValue == 1.7)
        }
    }

    @Test func tenantsSeeOnlyTheirOwnEntities() async throws {
        try await HubHarness.withHub { _, client in
            _ = try await client.upsert([Readings.level("k1", 1, minutes: 0)], tenant: Readings.kurume)
            _ = try await client.upsert([Readings.level("o1", 2, minutes: 0, tenant: Readings.omuta)], tenant: Readings.omuta)
            let kurume = try await client.call(.get, "/ngsi-ld/v1/entities?type=WaterObserved", tenant: Readings.kurume)
            let omuta = try await client.call(.get, "/ngsi-ld/v1/entities?type=WaterObserved", tenant: Readings.omuta)
            #expect(kurume.json.arrayValue?.compactMap { $0["id"]?.stringValue } == [Readings.gauge("k1").rawValue])
            #expect(omuta.json.arrayValue?.compactMap { $0["id"]?.stringValue } == [Readings.gauge("o1", tenant: Readings.omuta).rawValue])
            let otherID = Readings.gauge("o1", tenant: Readings.omuta).rawValue
            #expect(try await client.call(.get, "/ngsi-ld/v1/entities/\(otherID)", tenant: Readings.kurume).status == .notFound)
            #expect(try await client.call(.get, "/ngsi-ld/v1/entities?id=\(otherID)", tenant: Readings.kurume).json.arrayValue?.isEmpty == true)
            #expect(try await client.call(.get, "/ngsi-ld/v1/temporal/entities/\(otherID)", tenant: Readings.kurume).status == .notFound)
            let temporal = try await client.call(.get, "/ngsi-ld/v1/temporal/entities?type=WaterObserved", tenant: Readings.kurume)
            #expect(temporal.json.arrayValue?.compactMap { $0["id"]?.stringValue } == [Readings.gauge("k1").rawValue])
            // The tenant comes from the header, never from the id: an id that names omuta, posted
            // as kurume, is kurume's entity.
            let crossed = try await client.upsert([Readings.level("o2", 2, minutes: 0, tenant: Readings.omuta)], tenant: Readings.kurume)
            #expect(crossed.status == .created)
            #expect(try await client.call(.get, "/ngsi-ld/v1/entities?type=WaterObserved", tenant: Readings.omuta).json.arrayValue?.count == 1)
            #expect(try await client.call(.get, "/ngsi-ld/v1/entities?type=WaterObserved", tenant: Readings.kurume).json.arrayValue?.count == 2)
        }
    }

    @Test func defaultTenantServesRequestsWithoutHeader() async throws {
        try await HubHarness.withHub(HubHarness.configuration(defaultTenant: Readings.omuta)) { _, client in
            _ = try await client.upsert([Readings.level("o1", 2, minutes: 0, tenant: Readings.omuta)], tenant: Readings.omuta)
            let reply = try await client.call(.get, "/ngsi-ld/v1/entities?type=WaterObserved", tenant: nil)
            #expect(reply.json.arrayValue?.count == 1)
        }
    }
}
