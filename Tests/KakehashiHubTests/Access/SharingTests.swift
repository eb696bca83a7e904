import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiHubTestSupport
import KakehashiModel
import KakehashiTestSupport
import Logging
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Sharing between tenants: what a grant shows (type, area, precision), marked with its owner,
/// and how revoking it takes it away, open feeds included.
@Suite(.serialized) struct SharingTests {
    static let omuta = Readings.omuta, kurume = Readings.kurume
    /// A polygon around latitude 33.3 (o1, o3), not 34.5 (o2).
    static let south: [GeoPoint] = [
        try! GeoPoint(latitude: 33.0, longitude: 130.0), try! GeoPoint(latitude: 33.0, longitude: 131.0),
        try! GeoPoint(latitude: 33.6, longitude: 131.0), try! GeoPoint(latitude: 33.6, longitude: 130.0),
        try! GeoPoint(latitude: 33.0, longitude: 130.0),
    ]

    /// Omuta's gauges o1 (33.3, in alert at 3.0 m), o2 (34.5) and o3 (33.3), and a Device; kurume's k1.
    static func seed(_ client: any TestClientProtocol, _ keys: AccessTests.Keys) async throws {
        try await AccessTests.seed(client, keys)
        let more = JSONValue.array([
            Readings.level("o2", 1.0, minutes: 0, tenant: omuta, latitude: 34.5).json(.normalized),
            Readings.level("o3", 1.5, minutes: 0, tenant: omuta).json(.normalized),
            Readings.level("o1", 3.1, minutes: 30, tenant: omuta).json(.normalized),
            try NGSIEntity(
                id: EntityID(type: "Device", tenant: omuta, localID: "tag1"),
                attributes: [
                    "location": .geoProperty(try GeoPoint(latitude: 33.3, longitude: 130.5), observedAt: nil)
                ]
            ).json(.normalized),
        ]).jsonText
        #expect(try await client.keyed(keys.omutaOperator, .post, "/ngsi-ld/v1/entityOperations/upsert", body: more).status.code < 300)
    }

    /// Entity ids are unique within a tenant only: two tenants may use one. A tenant always sees
    /// its own entity under such an id; another tenant's of the same id shows only where it has
    /// none (by id) and never beside its own in a list.
    @Test(arguments: AccessTests.separations) func twoTenantsMayUseOneIDAndEachSeesItsOwnFirst(separation: String) async throws {
        let configuration = try AccessTests.configuration(separation: separation)
        let keys = try AccessTests.Keys(path: configuration.storagePath)
        try await HubHarness.withHub(configuration, access: true) { _, client in
            func entity(_ id: String, _ level: Double) -> String {
                #"{"id":"\#(id)","type":"WaterObserved","waterLevel":{"type":"Property","value":\#(level),"unitCode":"MTR"},"#
                    + #""location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[130.5,33.3]}}}"#
            }
            let shared = "https://river.example/gauges/7", theirs = "urn:ngsi-ld:WaterObserved:only-omuta"
            let path = "/ngsi-ld/v1/entities"
            #expect(try await client.keyed(keys.kurumeOperator, .post, path, body: entity(shared, 1.0)).status == .created)
            #expect(try await client.keyed(keys.omutaOperator, .post, path, body: entity(shared, 2.0)).status == .created)
            #expect(try await client.keyed(keys.omutaOperator, .post, path, body: entity(theirs, 3.0)).status == .created)
            _ = try keys.store.grant(
                owner: Self.omuta,
                grantee: Self.kurume,
                type: "WaterObserved",
                area: nil,
                precision: .full,
                knownTenants: [Self.kurume, Self.omuta]
            )
            let encoded = HubAPI.pathEncoded(shared)

            let listed = try await client.keyed(keys.kurumeReader, .get, "\(path)?type=WaterObserved")
            let byID = Dictionary(uniqueKeysWithValues: (listed.json.arrayValue ?? []).map { ($0["id"]?.stringValue ?? "", $0) })
            #expect(Self.ids(listed) == [theirs, shared].sorted(), "\(listed.text)")
            #expect(byID[shared]?["waterLevel"]?["value"]?.numberValue == 1.0 && byID[shared]?["sharedBy"] == nil)
            #expect(byID[theirs]?["sharedBy"]?["value"] == "omuta")
            #expect(try await client.keyed(keys.kurumeReader, .get, "\(path)/\(encoded)").json["waterLevel"]?["value"]?.numberValue == 1.0)
            #expect(try await client.keyed(keys.omutaReader, .get, "\(path)/\(encoded)").json["waterLevel"]?["value"]?.numberValue == 2.0)
            #expect(try await client.keyed(keys.kurumeReader, .get, "\(path)/\(theirs)").json["sharedBy"]?["value"] == "omuta")
            #expect(try await client.keyed(keys.kurumeReader, .get, "/ngsi-ld/v1/temporal/entities/\(theirs)").status == .ok)
            // A grantee cannot write the owner's entity: the write is its own tenant's.
            #expect(try await client.keyed(keys.kurumeOperator, .delete, "\(path)/\(theirs)").status == .notFound)
            // Once kurume's own is gone, the id shows omuta's, marked.
            #expect(try await client.keyed(keys.kurumeOperator, .delete, "\(path)/\(encoded)").status == .noContent)
            let now = try await client.keyed(keys.kurumeReader, .get, "\(path)/\(encoded)").json
            #expect(now["waterLevel"]?["value"]?.numberValue == 2.0 && now["sharedBy"]?["value"] == "omuta", "\(now)")
        }
    }

    static func ids(_ reply: Reply) -> [String] { (reply.json.arrayValue ?? []).compactMap { $0["id"]?.stringValue }.sorted() }

    @Test(arguments: AccessTests.separations) func aFullGrantShowsTheOwnersEntitiesMarkedWithTheOwnerUntilRevoked(separation: String) async throws {
        let configuration = try AccessTests.configuration(separation: separation)
        let keys = try AccessTests.Keys(path: configuration.storagePath)
        let known: Set<Tenant> = [Self.kurume, Self.omuta]
        try await HubHarness.withHub(configuration, access: true) { _, client in
            try await Self.seed(client, keys)
            let query = "/ngsi-ld/v1/entities?type=WaterObserved,Device"
            #expect(Self.ids(try await client.keyed(keys.kurumeReader, .get, query)) == ["urn:ngsi-ld:WaterObserved:kurume:k1"])

            let grant = try keys.store.grant(
                owner: Self.omuta,
                grantee: Self.kurume,
                type: "WaterObserved",
                area: nil,
                precision: .full,
                knownTenants: known
            )
            let listed = try await client.keyed(keys.kurumeReader, .get, query)
            #expect(
                Self.ids(listed) == [
                    "urn:ngsi-ld:WaterObserved:kurume:k1", "urn:ngsi-ld:WaterObserved:omuta:o1",
                    "urn:ngsi-ld:WaterObserved:omuta:o2", "urn:ngsi-ld:WaterObserved:omuta:o3",
                ],
                "only the granted type"
            )
            for entity in listed.json.arrayValue ?? [] {
                let owner = entity["id"]?.stringValue?.contains(":omuta:") == true ? "omuta" : nil
                #expect(entity["sharedBy"]?["value"]?.stringValue == owner, "\(entity["id"] ?? .null) is marked with its owner")
            }
            // q works on shared values; by id; its history; on the map with its alert.
            #expect(
                Self.ids(try await client.keyed(keys.kurumeReader, .get, "/ngsi-ld/v1/entities?type=WaterObserved&q=waterLevel>3")) == [
                    "urn:ngsi-ld:WaterObserved:omuta:o1"
                ]
            )
            let one = try await client.keyed(keys.kurumeReader, .get, "/ngsi-ld/v1/entities/urn:ngsi-ld:WaterObserved:omuta:o1")
            #expect(one.status == .ok && one.json["waterLevel"]?["value"] == 3.1 && one.json["sharedBy"]?["value"] == "omuta")
            let history = try await client.keyed(
                keys.kurumeReader,
                .get,
                "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:WaterObserved:omuta:o1?options=temporalValues"
            )
            #expect(history.status == .ok && history.json["waterLevel"]?["values"]?.arrayValue?.count == 2)
            let map = try await client.keyed(keys.kurumeReader, .get, "/feeds/map.geojson").json
            let o1 = try #require(map["features"]?.arrayValue?.first { $0["id"] == "urn:ngsi-ld:WaterObserved:omuta:o1" })
            #expect(o1["properties"]?["sharedBy"] == "omuta" && o1["properties"]?["alert"]?["severity"] == "high")
            // The grant is one way; the owner's alerts stay the owner's to acknowledge.
            #expect(
                Self.ids(try await client.keyed(keys.omutaReader, .get, "/ngsi-ld/v1/entities?type=WaterObserved")).allSatisfy {
                    $0.contains(":omuta:")
                }
            )
            #expect(try await client.keyed(keys.kurumeOperator, .post, "/alerts/1/acknowledge", body: #"{"by":"x"}"#).status == .notFound)

            // Revoked: gone from the next request on.
            try keys.store.revokeGrant(id: grant.id)
            #expect(Self.ids(try await client.keyed(keys.kurumeReader, .get, query)) == ["urn:ngsi-ld:WaterObserved:kurume:k1"])
            #expect(try await client.keyed(keys.kurumeReader, .get, "/ngsi-ld/v1/entities/urn:ngsi-ld:WaterObserved:omuta:o1").status == .notFound)
            #expect(
                try await client.keyed(keys.kurumeReader, .get, "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:WaterObserved:omuta:o1").status
                    == .notFound
            )
            let after = try await client.keyed(keys.kurumeReader, .get, "/feeds/map.geojson").json
            #expect(!(after["features"]?.arrayValue ?? []).contains { $0["id"]?.stringValue?.contains(":omuta:") == true })
        }
    }

    @Test(arguments: AccessTests.separations) func anAreaAndHourlyPrecisionLimitWhatIsShown(separation: String) async throws {
        let configuration = try AccessTests.configuration(separation: separation)
        let keys = try AccessTests.Keys(path: configuration.storagePath)
        try await HubHarness.withHub(configuration, access: true) { _, client in
            try await Self.seed(client, keys)
            _ = try keys.store.grant(
                owner: Self.omuta,
                grantee: Self.kurume,
                type: "WaterObserved",
                area: Self.south,
                precision: .hourly,
                knownTenants: [Self.kurume, Self.omuta]
            )
            let listed = try await client.keyed(keys.kurumeReader, .get, "/ngsi-ld/v1/entities?type=WaterObserved")
            #expect(
                Self.ids(listed) == [
                    "urn:ngsi-ld:WaterObserved:kurume:k1", "urn:ngsi-ld:WaterObserved:omuta:o1", "urn:ngsi-ld:WaterObserved:omuta:o3",
                ],
                "o2 is outside the area"
            )
            // Hourly: no observed values in the entity, only hourly aggregates in time.
            let o1 = try #require(listed.json.arrayValue?.first { $0["id"] == "urn:ngsi-ld:WaterObserved:omuta:o1" })
            #expect(o1["waterLevel"] == nil && o1["location"] != nil && o1["sharedBy"]?["value"] == "omuta")
            #expect(try await client.keyed(keys.kurumeReader, .get, "/ngsi-ld/v1/entities/urn:ngsi-ld:WaterObserved:omuta:o2").status == .notFound)
            let raw = try await client.keyed(keys.kurumeReader, .get, "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:WaterObserved:omuta:o1")
            #expect(raw.status == .forbidden && raw.json["detail"]?.stringValue?.contains("hourly aggregates only") == true)
            let minutes = try await client.keyed(
                keys.kurumeReader,
                .get,
                "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:WaterObserved:omuta:o1?options=aggregatedValues&aggrMethods=avg&aggrPeriodDuration=PT1M"
            )
            #expect(minutes.status == .forbidden)
            let hourly = try await client.keyed(
                keys.kurumeReader,
                .get,
                "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:WaterObserved:omuta:o1?options=aggregatedValues&aggrMethods=avg,"
                    + "max&aggrPeriodDuration=PT1H"
            )
            #expect(hourly.status == .ok)
            #expect(hourly.json["waterLevel"]?["max"]?.arrayValue?.first?.arrayValue?.first == 3.1)
            #expect(hourly.json["waterLevel"]?["avg"]?.arrayValue?.first?.arrayValue?.first?.numberValue.map { abs($0 - 3.05) < 1e-9 } == true)
            // At hourly precision the map shows the sensor but not its alert.
            let map = try await client.keyed(keys.kurumeReader, .get, "/feeds/map.geojson").json
            let feature = try #require(map["features"]?.arrayValue?.first { $0["id"] == "urn:ngsi-ld:WaterObserved:omuta:o1" })
            #expect(feature["properties"]?["alert"] == .null && feature["properties"]?["waterLevel"] == nil)
        }
    }

    /// A city's admin key shares its own data and ends it; no other key may.
    @Test func aCitysAdminSharesThroughTheAPI() async throws {
        let configuration = try AccessTests.configuration()
        let keys = try AccessTests.Keys(path: configuration.storagePath)
        try await HubHarness.withHub(configuration, access: true) { _, client in
            try await Self.seed(client, keys)
            let body =
                #"{"to": "kurume", "type": "WaterObserved", "precision": "full", "area": {"type": "Polygon", "coordinates": "#
                + #"[[[130,33],[131,33],[131,33.6],[130,33.6],[130,33]]]}}"#
            #expect(try await client.keyed(keys.omutaOperator, .post, "/access/grants", body: body).status == .forbidden, "only an admin key shares")
            let created = try await client.keyed(keys.omutaAdmin, .post, "/access/grants", body: body)
            #expect(created.status == .created && created.json["owner"] == "omuta" && created.json["grantee"] == "kurume", "\(created.text)")
            let id = try #require(created.json["id"]?.numberValue.map { Int($0) })
            #expect(
                Self.ids(try await client.keyed(keys.kurumeReader, .get, "/ngsi-ld/v1/entities?type=WaterObserved"))
                    == ["urn:ngsi-ld:WaterObserved:kurume:k1", "urn:ngsi-ld:WaterObserved:omuta:o1", "urn:ngsi-ld:WaterObserved:omuta:o3"]
            )
            // Bad requests are ProblemDetails.
            #expect(
                try await client.keyed(keys.omutaAdmin, .post, "/access/grants", body: #"{"to": "nowhere", "type": "WaterObserved"}"#).status
                    == .badRequest
            )
            #expect(
                try await client.keyed(keys.omutaAdmin, .post, "/access/grants", body: #"{"to": "kurume", "type": "X", "area": [[[0,0],[1,1]]]}"#)
                    .status == .badRequest
            )
            #expect(try await client.keyed(keys.omutaAdmin, .post, "/access/grants", body: #"{"to": "omuta", "type": "X"}"#).status == .badRequest)
            // Both sides see it listed; only the owner ends it.
            #expect(try await client.keyed(keys.kurumeAdmin, .get, "/access/grants").json.arrayValue?.count == 1)
            #expect(try await client.keyed(keys.kurumeAdmin, .delete, "/access/grants/\(id)").status == .forbidden)
            #expect(try await client.keyed(keys.omutaAdmin, .delete, "/access/grants/\(id)").status == .noContent)
            #expect(try await client.keyed(keys.omutaAdmin, .delete, "/access/grants/\(id)").status == .notFound)
            #expect(
                Self.ids(try await client.keyed(keys.kurumeReader, .get, "/ngsi-ld/v1/entities?type=WaterObserved")) == [
                    "urn:ngsi-ld:WaterObserved:kurume:k1"
                ]
            )
        }
    }

    @Test(arguments: AccessTests.separations) func theAlertFeedCarriesSharedAlertsUntilTheGrantIsRevoked(separation: String) async throws {
        let configuration = try AccessTests.configuration(separation: separation)
        let keys = try AccessTests.Keys(path: configuration.storagePath)
        let grant = try keys.store.grant(
            owner: Self.omuta,
            grantee: Self.kurume,
            type: "WaterObserved",
            area: Self.south,
            precision: .full,
            knownTenants: [Self.kurume, Self.omuta]
        )
        let live = try await LiveHub(configuration, access: true)
        defer { Task { await live.stop() } }
        func post(_ key: String, _ entities: [NGSIEntity]) async throws { try await postEntities(entities, port: live.port, key: key) }
        let sse = try SSEClient(port: live.port, path: "/feeds/alerts", headers: ["Authorization": "Bearer \(keys.kurumeReader)"])
        defer { sse.close() }
        try await waitUntil("the feed answers", timeout: .seconds(20)) { sse.status != nil }
        #expect(sse.status == 200)

        // Omuta's alert inside the area arrives marked with its owner; the one outside does not.
        try await post(keys.omutaOperator, [Readings.level("o2", 3.0, minutes: 0, tenant: Self.omuta, latitude: 34.5)])
        try await post(keys.omutaOperator, [Readings.level("o1", 3.0, minutes: 0, tenant: Self.omuta)])
        try await post(keys.kurumeOperator, [Readings.level("k1", 3.0, minutes: 0)])
        try await waitUntil("omuta's o1 and kurume's k1 alerts", timeout: .seconds(10)) { sse.events.count >= 2 }
        var events = sse.events.map { (id: $0.id ?? "", json: (try? JSONValue(parsing: $0.data)) ?? .null) }
        #expect(events.map { $0.json["entity"]?.stringValue ?? "" } == ["urn:ngsi-ld:WaterObserved:omuta:o1", "urn:ngsi-ld:WaterObserved:kurume:k1"])
        #expect(events[0].json["sharedBy"] == "omuta" && events[1].json["sharedBy"] == nil)
        // Each id is the position in every source: kurume's own feed, then omuta's.
        #expect(events[0].id == "0;omuta=2" && events[1].id == "1;omuta=2", "\(events.map(\.id))")

        // A reconnect from the first event's id gets the second again and nothing else.
        let resumed = try SSEClient(
            port: live.port,
            path: "/feeds/alerts",
            headers: ["Authorization": "Bearer \(keys.kurumeReader)", "Last-Event-ID": events[0].id]
        )
        defer { resumed.close() }
        try await waitUntil("the resumed feed catches up", timeout: .seconds(10)) { resumed.events.count >= 1 }

        // Revoked while the feed is open: omuta's alerts stop, kurume's go on, the stream stays open.
        try keys.store.revokeGrant(id: grant.id)
        try await post(keys.omutaOperator, [Readings.level("o3", 3.0, minutes: 0, tenant: Self.omuta)])
        try await post(keys.kurumeOperator, [Readings.level("k2", 3.0, minutes: 0)])
        try await waitUntil("kurume's k2 alert", timeout: .seconds(10)) { sse.events.contains { $0.data.contains("kurume:k2") } }
        // One more of kurume's after it, so that omuta's o3 (raised before k2) would have come by now.
        try await post(keys.kurumeOperator, [Readings.level("k3", 3.0, minutes: 0)])
        try await waitUntil("kurume's k3 alert", timeout: .seconds(10)) { sse.events.contains { $0.data.contains("kurume:k3") } }
        events = sse.events.map { (id: $0.id ?? "", json: (try? JSONValue(parsing: $0.data)) ?? .null) }
        #expect(
            events.map { $0.json["entity"]?.stringValue ?? "" } == [
                "urn:ngsi-ld:WaterObserved:omuta:o1", "urn:ngsi-ld:WaterObserved:kurume:k1",
                "urn:ngsi-ld:WaterObserved:kurume:k2", "urn:ngsi-ld:WaterObserved:kurume:k3",
            ],
            "omuta's o3, raised after the revocation, is not in kurume's feed"
        )
        #expect(!sse.ended)
        #expect(resumed.events.map { $0.id ?? "" }.first == "1;omuta=2")
        #expect(!resumed.events.contains { $0.data.contains("omuta:o1") }, "nothing sent twice")
    }
}
