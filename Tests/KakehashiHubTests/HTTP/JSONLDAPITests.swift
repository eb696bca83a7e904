import Foundation
import HTTPTypes
import HummingbirdTesting
import KakehashiHub
import KakehashiHubCore
import KakehashiHubTestSupport
import KakehashiModel
import KakehashiTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The hub's NGSI-LD API under clients' own `@context`s: names expanded on the way in and
/// compacted on the way out, `/jsonldContexts`, remote and preloaded contexts.
@Suite("NGSI-LD @context")
struct JSONLDAPITests {
    static let sdm = "https://smartdatamodels.org/dataModel.Environment/"
    static let contextRelation = "http://www.w3.org/ns/json-ld#context"

    /// A Spanish-speaking city's client: its context inline in a JSON-LD body.
    static let spanish = """
        {"sdm":"\(sdm)","nivel":"sdm:waterLevel","Aforo":"sdm:WaterObserved","nombre":"https://schema.org/name"}
        """
    /// An English one's: hosted on the hub, named by a Link header.
    static let english = """
        {"@context":{"level":"\(sdm)waterLevel","Gauge":"\(sdm)WaterObserved","label":"https://schema.org/name"}}
        """

    static func gauge(_ code: String, _ level: Double) -> String {
        """
        {"@context":[\(spanish),"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"],
         "id":"urn:ngsi-ld:WaterObserved:\(code)","type":"Aforo",
         "nivel":{"type":"Property","value":\(level),"unitCode":"MTR","observedAt":"\(Readings.t0.iso8601)"},
         "nombre":{"type":"Property","value":"瀬ノ下"},
         "location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[130.49,33.32]}}}
        """
    }

    static func link(_ url: String) -> HTTPFields {
        [HTTPField.Name("Link")!: "<\(url)>; rel=\"\(contextRelation)\"; type=\"application/ld+json\""]
    }

    /// Hosts the English context and returns its URL.
    static func hostEnglish(_ client: some TestClientProtocol) async throws -> String {
        let hosted = try await client.call(.post, "/ngsi-ld/v1/jsonldContexts", tenant: nil, body: english)
        #expect(hosted.status == .created, "\(hosted.text)")
        return try #require(hosted.headers[.location])
    }

    @Test func twoClientsSeeTheSameEntityUnderTheirOwnNames() async throws {
        try await HubHarness.withHub { hub, client in
            let created = try await client.call(.post, "/ngsi-ld/v1/entities", body: Self.gauge("senoshita", 2.5), contentType: "application/ld+json")
            #expect(created.status == .created, "\(created.text)")
            // Stored under the IRIs the core context leaves them as.
            let stored = try #require(try await hub.store.entities(tenant: Readings.kurume, types: nil, ids: nil).first)
            #expect(stored.type == Self.sdm + "WaterObserved")
            #expect(Set(stored.attributes.keys) == [Self.sdm + "waterLevel", "https://schema.org/name", "location"])

            let english = try await Self.hostEnglish(client)
            let query = try await client.call(.get, "/ngsi-ld/v1/entities?type=Gauge&q=level>2&attrs=level,label", headers: Self.link(english))
            #expect(query.status == .ok, "\(query.text)")
            let seen = try #require(query.json.arrayValue?.first)
            #expect(seen["type"] == "Gauge" && seen["level"]?["value"] == 2.5 && seen["label"]?["value"] == "瀬ノ下", "\(query.text)")
            #expect(seen["location"] == nil, "attrs picked level and label only")
            #expect(query.headers[HTTPField.Name("Link")!]?.contains(english) == true)
            // q in the client's names: a value below the threshold finds nothing.
            let none = try await client.call(.get, "/ngsi-ld/v1/entities?type=Gauge&q=level>3", headers: Self.link(english))
            #expect(none.json == .array([]))

            // Without a context: the expanded names (no core term stands for them).
            let plain = try await client.call(.get, "/ngsi-ld/v1/entities/urn:ngsi-ld:WaterObserved:senoshita")
            #expect(plain.json["type"] == .string(Self.sdm + "WaterObserved") && plain.json[Self.sdm + "waterLevel"]?["value"] == 2.5)

            // JSON-LD: the client's context in the body; keyValues names too.
            var headers = Self.link(english)
            headers[.accept] = "application/ld+json"
            let ld = try await client.call(.get, "/ngsi-ld/v1/entities/urn:ngsi-ld:WaterObserved:senoshita?options=keyValues", headers: headers)
            #expect(ld.json["@context"] == .string(english) && ld.json["level"] == 2.5 && ld.json["label"] == "瀬ノ下", "\(ld.text)")

            // A write in the English names lands on the same attribute.
            let update = #"{"level":{"type":"Property","value":3.75,"unitCode":"MTR"}}"#
            let patched = try await client.call(
                .patch,
                "/ngsi-ld/v1/entities/urn:ngsi-ld:WaterObserved:senoshita/attrs",
                headers: Self.link(english),
                body: update
            )
            #expect(patched.status == .noContent, "\(patched.text)")
            let spanish = try await client.call(
                .post,
                "/ngsi-ld/v1/entityOperations/query",
                body: #"{"type":"Query","entities":[{"type":"Aforo"}],"attrs":["nivel"],"@context":[\#(Self.spanish)]}"#,
                contentType: "application/ld+json"
            )
            #expect(spanish.json.arrayValue?.first?["nivel"]?["value"] == 3.75, "\(spanish.text)")

            // An attribute by its short name in the path; discovery in the client's names.
            let attribute = try await client.call(
                .delete,
                "/ngsi-ld/v1/entities/urn:ngsi-ld:WaterObserved:senoshita/attrs/label",
                headers: Self.link(english)
            )
            #expect(attribute.status == .noContent, "\(attribute.text)")
            let types = try await client.call(.get, "/ngsi-ld/v1/types?details=true", headers: Self.link(english))
            #expect(
                types.json.arrayValue?.first?["typeName"] == "Gauge" && types.json.arrayValue?.first?["attributeNames"] == ["level", "location"],
                "\(types.text)"
            )
        }
    }

    @Test func batchEntitiesEachBringTheirOwnContext() async throws {
        try await HubHarness.withHub { hub, client in
            let core = #"{"id":"urn:ngsi-ld:WaterObserved:plain","type":"WaterObserved","waterLevel":{"type":"Property","value":1}}"#
            let body = "[\(Self.gauge("a", 1.5)),\(core)]"
            let upserted = try await client.call(.post, "/ngsi-ld/v1/entityOperations/upsert", body: body, contentType: "application/ld+json")
            #expect(upserted.status == .created || upserted.status == .noContent, "\(upserted.text)")
            let entities = try await hub.store.entities(tenant: Readings.kurume, types: nil, ids: nil)
            #expect(Set(entities.map(\.type)) == [Self.sdm + "WaterObserved", "WaterObserved"])
            #expect(entities.contains { $0.attributes["waterLevel"] != nil } && entities.contains { $0.attributes[Self.sdm + "waterLevel"] != nil })
        }
    }

    @Test func contextsAreHostedListedServedAndDeleted() async throws {
        try await HubHarness.withHub { _, client in
            let url = try await Self.hostEnglish(client)
            let id = String(url.split(separator: "/").last!)
            #expect(url.hasSuffix("/ngsi-ld/v1/jsonldContexts/\(id)"))
            let listed = try await client.call(.get, "/ngsi-ld/v1/jsonldContexts", tenant: nil)
            #expect(listed.json.arrayValue?.contains(.string(url)) == true, "\(listed.text)")
            let details = try await client.call(.get, "/ngsi-ld/v1/jsonldContexts?details=true&kind=Hosted", tenant: nil)
            #expect(details.json.arrayValue?.first?["kind"] == "Hosted" && details.json.arrayValue?.first?["localId"] == .string(id))
            let served = try await client.call(.get, "/ngsi-ld/v1/jsonldContexts/\(id)", tenant: nil)
            #expect(served.status == .ok && served.json["@context"]?["level"] == .string(Self.sdm + "waterLevel"))
            #expect(served.headers[.contentType] == "application/ld+json")
            let core = try await client.call(.get, "/ngsi-ld/v1/jsonldContexts/\(HubAPI.pathEncoded(NGSIContext.core))", tenant: nil)
            #expect(core.json["@context"]?["@vocab"] == "https://uri.etsi.org/ngsi-ld/default-context/")

            #expect(try await client.call(.delete, "/ngsi-ld/v1/jsonldContexts/\(id)", tenant: nil).status == .noContent)
            #expect(try await client.call(.get, "/ngsi-ld/v1/jsonldContexts/\(id)", tenant: nil).status == .notFound)
            // A request naming it now cannot have it.
            let gone = try await client.call(.get, "/ngsi-ld/v1/entities?type=Gauge", headers: Self.link(url))
            #expect(gone.status == .serviceUnavailable && gone.problemType == "LdContextNotAvailable", "\(gone.text)")
            let core2 = try await client.call(.delete, "/ngsi-ld/v1/jsonldContexts/\(HubAPI.pathEncoded(NGSIContext.core))", tenant: nil)
            #expect(core2.status == .badRequest)
        }
    }

    /// A context on another server is fetched once (here from a second hub that hosts it) and
    /// then served from the cache; one that cannot be fetched is a 503 at once, not a hang.
    @Test func remoteContextsAreFetchedOnceAndCached() async throws {
        let other = try await LiveHub(HubHarness.configuration())
        defer { Task { await other.stop() } }
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(other.port)/ngsi-ld/v1/jsonldContexts")!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(Self.english.utf8)
        let (_, response) = try await URLSession.shared.data(for: request)
        let remote = try #require((response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Location"))
        #expect(remote.hasPrefix("http://127.0.0.1:\(other.port)/"))

        try await HubHarness.withHub { _, client in
            _ = try await client.call(.post, "/ngsi-ld/v1/entities", body: Self.gauge("remote", 1.25), contentType: "application/ld+json")
            let read = try await client.call(.get, "/ngsi-ld/v1/entities?type=Gauge", headers: Self.link(remote))
            #expect(read.json.arrayValue?.first?["level"]?["value"] == 1.25, "\(read.text)")
            let cached = try await client.call(.get, "/ngsi-ld/v1/jsonldContexts?details=true&kind=Cached", tenant: nil)
            #expect(cached.json.arrayValue?.first?["URL"] == .string(remote), "\(cached.text)")
            // Served from the cache with the other hub gone.
            await other.stop()
            let again = try await client.call(.get, "/ngsi-ld/v1/entities?type=Gauge", headers: Self.link(remote))
            #expect(again.json.arrayValue?.first?["level"]?["value"] == 1.25, "\(again.text)")
            // A reload needs the server: it is gone, so the cached copy cannot be refreshed.
            let reload = try await client.call(.delete, "/ngsi-ld/v1/jsonldContexts/\(HubAPI.pathEncoded(remote))?reload=true", tenant: nil)
            #expect(reload.status == .serviceUnavailable, "\(reload.text)")

            let nowhere = "http://127.0.0.1:\(try TestBroker.freePort())/context.jsonld"
            let started = ContinuousClock.now
            let missing = try await client.call(.get, "/ngsi-ld/v1/entities?type=Gauge", headers: Self.link(nowhere))
            #expect(missing.status == .serviceUnavailable && missing.problemType == "LdContextNotAvailable", "\(missing.text)")
            #expect(missing.json["detail"]?.stringValue?.contains(nowhere) == true)
            #expect(ContinuousClock.now - started < .seconds(30))
        }
    }

    /// A hub without internet preloads the contexts its clients name, from files.
    @Test func preloadedContextsNeedNoNetwork() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-jsonld-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.english.write(toFile: "\(directory)/english.jsonld", atomically: true, encoding: .utf8)
        let url = "https://city.example.org/contexts/english.jsonld"
        let yaml = """
            storage: { path: hub.sqlite }
            tenants: { kurume: }
            jsonld: { contexts: { "\(url)": english.jsonld }, fetch_timeout: 2s }
            """
        let parsed = try HubConfiguration.parse(yaml: yaml, file: "hub.yaml", baseDirectory: directory)
        #expect(parsed.jsonld.fetchTimeout == .seconds(2))
        var configuration = HubHarness.configuration()
        configuration.jsonld = parsed.jsonld
        try await HubHarness.withHub(configuration) { _, client in
            _ = try await client.call(.post, "/ngsi-ld/v1/entities", body: Self.gauge("offline", 0.5), contentType: "application/ld+json")
            let read = try await client.call(.get, "/ngsi-ld/v1/entities?type=Gauge", headers: Self.link(url))
            #expect(read.json.arrayValue?.first?["level"]?["value"] == 0.5, "\(read.text)")
            let listed = try await client.call(.get, "/ngsi-ld/v1/jsonldContexts?details=true", tenant: nil)
            #expect(listed.json.arrayValue?.first?["kind"] == "Preloaded")
        }
        // A file that is not a context is named at load time.
        try "[1,2".write(toFile: "\(directory)/broken.jsonld", atomically: true, encoding: .utf8)
        let broken = yaml.replacingOccurrences(of: "english.jsonld", with: "broken.jsonld")
        #expect(throws: (any Error).self) { try HubConfiguration.parse(yaml: broken, file: "hub.yaml", baseDirectory: directory) }
    }
}
