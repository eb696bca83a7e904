import HTTPTypes
import HummingbirdTesting
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiHubTestSupport
import KakehashiModel
import Synchronization
import Testing

/// NGSI-LD writes (ETSI GS CIM 009, 5.6): each route's status, headers and body, and what a
/// read sees after it. The bad requests are in ``ProblemDetailsTests``.
@Suite("NGSI-LD entity and attribute writes")
struct EntityWritesAPITests {
    static let path = "/ngsi-ld/v1/entities"
    static let gauge = "urn:ngsi-ld:WaterObserved:senoshita"

    /// A gauge in the shape clients send it (JSON-LD, its context in the body).
    static func entity(_ id: String = gauge, level: Double = 1.5, minutes: Int = 0, extra: String = "") -> String {
        let at = Timestamp(millisecondsSinceEpoch: Readings.t0.millisecondsSinceEpoch + Int64(minutes) * 60_000).iso8601
        return """
            {"id":"\(id)","type":"WaterObserved",
             "@context":["https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"],
             "waterLevel":{"type":"Property","value":\(level),"unitCode":"MTR","observedAt":"\(at)"},
             "name":{"type":"Property","value":"瀬ノ下"},
             "location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[130.49,33.32]}}\(extra)}
            """
    }

    static func get(_ client: some TestClientProtocol, _ id: String, tenant: Tenant = Readings.kurume) async throws -> Reply {
        try await client.call(.get, "\(path)/\(HubAPI.pathEncoded(id))", tenant: tenant)
    }

    @Test func anEntityIsCreatedMergedReplacedAndDeleted() async throws {
        try await HubHarness.withHub { _, client in
            let created = try await client.call(.post, Self.path, body: Self.entity(), contentType: "application/ld+json")
            #expect(created.status == .created, "\(created.text)")
            #expect(created.headers[.location] == "/ngsi-ld/v1/entities/urn:ngsi-ld:WaterObserved:senoshita")
            #expect(created.text.isEmpty)
            let read = try await client.call(.get, created.headers[.location] ?? "")
            #expect(read.json["waterLevel"]?["value"]?.numberValue == 1.5 && read.json["name"]?["value"] == "瀬ノ下")
            #expect(read.json["type"] == "WaterObserved" && read.json["id"]?.stringValue == Self.gauge)

            // Merge: the attributes given replace theirs, the others stay.
            let merge = #"{"waterLevel":{"type":"Property","value":2.25,"unitCode":"MTR"},"status":{"type":"Property","value":"ok"}}"#
            #expect(try await client.call(.patch, "\(Self.path)/\(Self.gauge)", body: merge).status == .noContent)
            var now = try await Self.get(client, Self.gauge).json
            #expect(now["waterLevel"]?["value"]?.numberValue == 2.25 && now["status"]?["value"] == "ok" && now["name"] != nil)

            // Replace: only what is given is left.
            let replace = #"{"type":"WaterObserved","status":{"type":"Property","value":"replaced"}}"#
            #expect(try await client.call(.put, "\(Self.path)/\(Self.gauge)", body: replace).status == .noContent)
            now = try await Self.get(client, Self.gauge).json
            #expect(now["status"]?["value"] == "replaced" && now["waterLevel"] == nil && now["name"] == nil && now["location"] == nil, "\(now)")

            // Delete: gone from reads and queries; its history stays for temporal queries.
            #expect(try await client.call(.delete, "\(Self.path)/\(Self.gauge)").status == .noContent)
            #expect(try await Self.get(client, Self.gauge).status == .notFound)
            #expect(try await client.call(.get, "\(Self.path)?type=WaterObserved").json == .array([]))
            #expect(try await client.call(.delete, "\(Self.path)/\(Self.gauge)").status == .notFound)
            let history = try await client.call(.get, "/ngsi-ld/v1/temporal/entities/\(Self.gauge)")
            #expect(history.status == .ok, "\(history.text)")
            #expect(history.json["waterLevel"]?.arrayValue?.map { $0["value"]?.numberValue } == [1.5])

            // And it can be created anew.
            #expect(try await client.call(.post, Self.path + "/", body: Self.entity(), contentType: "application/ld+json").status == .created)
        }
    }

    /// Any absolute URI is an id: a URL with `/` and `?` in it travels percent-encoded in the path.
    @Test(arguments: ["https://city.example/gauges/17?v=2", "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e", "urn:ngsi-ld:WaterObserved:omuta:x"])
    func anyAbsoluteURIIsAnID(id: String) async throws {
        try await HubHarness.withHub { _, client in
            let created = try await client.call(.post, Self.path, body: Self.entity(id), contentType: "application/ld+json")
            #expect(created.status == .created, "\(created.text)")
            #expect(created.headers[.location] == "/ngsi-ld/v1/entities/\(HubAPI.pathEncoded(id))")
            let read = try await client.call(.get, created.headers[.location] ?? "")
            #expect(read.status == .ok && read.json["id"]?.stringValue == id, "\(read.text)")
            let listed = try await client.call(.get, "\(Self.path)?id=\(HubAPI.pathEncoded(id))")
            #expect(listed.json.arrayValue?.compactMap { $0["id"]?.stringValue } == [id])
            // The tenant is the header's, never the id's: omuta has nothing.
            #expect(try await Self.get(client, id, tenant: Readings.omuta).status == .notFound)
        }
    }

    @Test func attributesAreAppendedUpdatedPatchedReplacedAndDeleted() async throws {
        try await HubHarness.withHub { _, client in
            #expect(try await client.call(.post, Self.path, body: Self.entity(), contentType: "application/ld+json").status == .created)
            let attrs = "\(Self.path)/\(Self.gauge)/attrs"

            // Append: new and existing attributes; noOverwrite keeps those there (207 names them).
            let append = #"{"dangerLevel":{"type":"Property","value":3.0,"unitCode":"MTR"},"name":{"type":"Property","value":"new"}}"#
            #expect(try await client.call(.post, attrs, body: append).status == .noContent)
            #expect(try await Self.get(client, Self.gauge).json["name"]?["value"] == "new")
            let kept = try await client.call(
                .post,
                attrs + "?options=noOverwrite",
                body: #"{"name":{"type":"Property","value":"x"},"#
                    + #""refDevice":{"type":"Relationship","object":"urn:ngsi-ld:Device:d1"}}"#
            )
            #expect(kept.status.code == 207)
            #expect(kept.json["updated"] == .array(["refDevice"]))
            #expect(kept.json["notUpdated"]?.arrayValue?.first?["attributeName"] == "name")
            var now = try await Self.get(client, Self.gauge).json
            #expect(now["name"]?["value"] == "new" && now["refDevice"]?["object"] == "urn:ngsi-ld:Device:d1")

            // Update: only attributes there; the others are named in a 207.
            let update = try await client.call(
                .patch,
                attrs,
                body: #"{"name":{"type":"Property","value":"upd"},"colour":{"type":"Property","value":"red"}}"#
            )
            #expect(update.status.code == 207 && update.json["updated"] == .array(["name"]), "\(update.text)")
            #expect(update.json["notUpdated"]?.arrayValue?.first?["attributeName"] == "colour")
            now = try await Self.get(client, Self.gauge).json
            #expect(now["name"]?["value"] == "upd" && now["colour"] == nil)
            #expect(try await client.call(.patch, attrs, body: #"{"name":{"type":"Property","value":"all"}}"#).status == .noContent)

            // Partial attribute update: the value changes, its unit stays.
            let patched = try await client.call(.patch, attrs + "/dangerLevel", body: #"{"value":3.5}"#)
            #expect(patched.status == .noContent, "\(patched.text)")
            now = try await Self.get(client, Self.gauge).json
            #expect(now["dangerLevel"]?["value"]?.numberValue == 3.5 && now["dangerLevel"]?["unitCode"] == "MTR", "\(now)")
            // Replace: the attribute as given.
            #expect(try await client.call(.put, attrs + "/dangerLevel", body: #"{"type":"Property","value":4}"#).status == .noContent)
            now = try await Self.get(client, Self.gauge).json
            #expect(now["dangerLevel"]?["value"]?.numberValue == 4 && now["dangerLevel"]?["unitCode"] == nil, "\(now)")
            // Delete, and deleteAll (one instance per attribute).
            #expect(try await client.call(.delete, attrs + "/dangerLevel").status == .noContent)
            #expect(try await client.call(.delete, attrs + "/refDevice?deleteAll=true").status == .noContent)
            now = try await Self.get(client, Self.gauge).json
            #expect(now["dangerLevel"] == nil && now["refDevice"] == nil && now["waterLevel"] != nil)
        }
    }

    @Test func batchOperationsAnswerPerEntity() async throws {
        try await HubHarness.withHub { _, client in
            let batch = "/ngsi-ld/v1/entityOperations"
            func ids(_ names: [String]) -> JSONValue { .array(names.map { .string("urn:ngsi-ld:WaterObserved:\($0)") }) }
            let two = "[\(Self.entity("urn:ngsi-ld:WaterObserved:a")),\(Self.entity("urn:ngsi-ld:WaterObserved:b"))]"
            let created = try await client.call(.post, "\(batch)/create", body: two, contentType: "application/ld+json")
            #expect(created.status == .created && created.json == ids(["a", "b"]), "\(created.text)")
            let again = try await client.call(
                .post,
                "\(batch)/create",
                body: "[\(Self.entity("urn:ngsi-ld:WaterObserved:a")),\(Self.entity("urn:ngsi-ld:WaterObserved:c"))]",
                contentType: "application/ld+json"
            )
            #expect(again.status.code == 207 && again.json["success"] == ids(["c"]))
            #expect(again.json["errors"]?.arrayValue?.first?["entityId"] == "urn:ngsi-ld:WaterObserved:a")
            #expect(again.json["errors"]?.arrayValue?.first?["error"]?["type"] == "https://uri.etsi.org/ngsi-ld/errors/AlreadyExists")

            // Upsert replaces by default (name is gone), merges with options=update (name stays).
            let bare = #"{"id":"urn:ngsi-ld:WaterObserved:a","type":"WaterObserved","status":{"type":"Property","value":"s"}}"#
            #expect(try await client.call(.post, "\(batch)/upsert", body: "[\(bare)]").status == .noContent)
            #expect(try await Self.get(client, "urn:ngsi-ld:WaterObserved:a").json["name"] == nil)
            let bareB = bare.replacingOccurrences(of: ":a\"", with: ":b\"")
            #expect(try await client.call(.post, "\(batch)/upsert?options=update", body: "[\(bareB)]").status == .noContent)
            let b = try await Self.get(client, "urn:ngsi-ld:WaterObserved:b").json
            #expect(b["name"] != nil && b["status"]?["value"] == "s")
            let newOne = try await client.call(
                .post,
                "\(batch)/upsert",
                body: "[\(Self.entity("urn:ngsi-ld:WaterObserved:d"))]",
                contentType: "application/ld+json"
            )
            #expect(newOne.status == .created && newOne.json == ids(["d"]))

            // Update and merge: existing entities only; noOverwrite keeps what is there.
            let renamed =
                #"{"id":"urn:ngsi-ld:WaterObserved:b","type":"WaterObserved","name":{"type":"Property","value":"B"},"#
                + #""status":{"type":"Property","value":"t"}}"#
            #expect(try await client.call(.post, "\(batch)/update?options=noOverwrite", body: "[\(renamed)]").status == .noContent)
            #expect(try await Self.get(client, "urn:ngsi-ld:WaterObserved:b").json["name"]?["value"] == "瀬ノ下")
            #expect(try await client.call(.post, "\(batch)/merge", body: "[\(renamed)]").status == .noContent)
            #expect(try await Self.get(client, "urn:ngsi-ld:WaterObserved:b").json["name"]?["value"] == "B")
            let missing = try await client.call(.post, "\(batch)/update", body: "[\(renamed.replacingOccurrences(of: ":b\"", with: ":zz\""))]")
            #expect(missing.status.code == 207 && missing.json["success"] == .array([]))
            #expect(missing.json["errors"]?.arrayValue?.first?["error"]?["status"]?.numberValue == 404)

            // Query by POST answers as GET.
            let query = #"{"type":"Query","entities":[{"type":"WaterObserved"}],"q":"status==\"t\""}"#
            let posted = try await client.call(.post, "\(batch)/query?count=true", body: query)
            #expect(
                posted.status == .ok && posted.json.arrayValue?.compactMap { $0["id"]?.stringValue } == ["urn:ngsi-ld:WaterObserved:b"],
                "\(posted.text)"
            )
            #expect(posted.headers[HTTPField.Name("NGSILD-Results-Count")!] == "1")

            // Delete: 204 when all were there, else 207 naming the missing.
            #expect(try await client.call(.post, "\(batch)/delete", body: #"["urn:ngsi-ld:WaterObserved:c"]"#).status == .noContent)
            let partly = try await client.call(.post, "\(batch)/delete", body: #"["urn:ngsi-ld:WaterObserved:d","urn:ngsi-ld:WaterObserved:c"]"#)
            #expect(partly.status.code == 207 && partly.json["success"] == ids(["d"]))
            #expect(partly.json["errors"]?.arrayValue?.first?["entityId"] == "urn:ngsi-ld:WaterObserved:c")
            let left = try await client.call(.get, "\(Self.path)?type=WaterObserved")
            #expect(left.json.arrayValue?.compactMap { $0["id"]?.stringValue } == ["urn:ngsi-ld:WaterObserved:a", "urn:ngsi-ld:WaterObserved:b"])
        }
    }

    /// The concise representation: written (the types it leaves out are put back) and read.
    @Test func conciseInAndOut() async throws {
        try await HubHarness.withHub { _, client in
            let concise =
                #"{"id":"urn:ngsi-ld:WaterObserved:c1","type":"WaterObserved","name":"c1","#
                + #""waterLevel":{"value":1.25,"unitCode":"MTR"},"refDevice":{"object":"urn:ngsi-ld:Device:d1"},"#
                + #""location":{"value":{"type":"Point","coordinates":[130.5,33.3]}}}"#
            #expect(try await client.call(.post, Self.path, body: concise).status == .created)
            let normalized = try await Self.get(client, "urn:ngsi-ld:WaterObserved:c1").json
            #expect(normalized["name"] == ["type": "Property", "value": "c1"])
            #expect(normalized["refDevice"]?["type"] == "Relationship" && normalized["location"]?["type"] == "GeoProperty")
            #expect(normalized["waterLevel"] == ["type": "Property", "value": 1.25, "unitCode": "MTR"])
            let read = try await client.call(.get, "\(Self.path)/urn:ngsi-ld:WaterObserved:c1?options=concise").json
            #expect(read["name"] == "c1" && read["waterLevel"] == ["value": 1.25, "unitCode": "MTR"], "\(read)")
            #expect(read["refDevice"] == ["object": "urn:ngsi-ld:Device:d1"] && read["location"]?["value"]?["type"] == "Point")
            let listed = try await client.call(.get, "\(Self.path)?type=WaterObserved&format=concise").json
            #expect(listed.arrayValue?.first?["name"] == "c1")
            // A bare value appended, and a partial attribute update, in concise form too.
            #expect(try await client.call(.post, "\(Self.path)/urn:ngsi-ld:WaterObserved:c1/attrs", body: #"{"status":"ok"}"#).status == .noContent)
            #expect(try await Self.get(client, "urn:ngsi-ld:WaterObserved:c1").json["status"] == ["type": "Property", "value": "ok"])
        }
    }

    /// `options=sysAttrs`: when the entity was created and last changed, by the hub's clock.
    @Test func systemAttributesSayWhenAnEntityWasCreatedAndChanged() async throws {
        let clock = Mutex(try Timestamp(iso8601: "2026-12-01T00:00:00Z"))
        let now: WallClock = { clock.withLock { $0 } }
        try await HubHarness.withHub(now: now) { _, client in
            #expect(try await client.call(.post, Self.path, body: Self.entity(), contentType: "application/ld+json").status == .created)
            clock.withLock { $0 = try! Timestamp(iso8601: "2026-12-01T00:05:00Z") }
            #expect(try await client.call(.patch, "\(Self.path)/\(Self.gauge)", body: #"{"status":"ok"}"#).status == .noContent)
            let one = try await client.call(.get, "\(Self.path)/\(Self.gauge)?options=sysAttrs").json
            #expect(one["createdAt"] == "2026-12-01T00:00:00.000Z" && one["modifiedAt"] == "2026-12-01T00:05:00.000Z", "\(one)")
            let listed = try await client.call(.get, "\(Self.path)?type=WaterObserved&options=sysAttrs,keyValues").json.arrayValue?.first
            #expect(listed?["modifiedAt"] == "2026-12-01T00:05:00.000Z" && listed?["status"] == "ok")
            #expect(try await Self.get(client, Self.gauge).json["createdAt"] == nil)
            let picked = try await client.call(.get, "\(Self.path)/\(Self.gauge)?options=sysAttrs&pick=id,createdAt").json
            #expect(picked == ["id": .string(Self.gauge), "createdAt": "2026-12-01T00:00:00.000Z"])
        }
    }

    /// A LanguageProperty keeps a text per language; `lang` answers one of them as a Property.
    @Test func languagePropertiesAnswerInTheLanguageAsked() async throws {
        try await HubHarness.withHub { _, client in
            let names = #","name":{"type":"LanguageProperty","languageMap":{"ja":"瀬ノ下","en":"Senoshita","@none":"Senoshita gauge"}}"#
            let body = #"{"id":"urn:ngsi-ld:WaterObserved:l1","type":"WaterObserved","waterLevel":{"type":"Property","value":1}"# + names + "}"
            #expect(try await client.call(.post, Self.path, body: body).status == .created)
            let path = "\(Self.path)/urn:ngsi-ld:WaterObserved:l1"
            let all = try await client.call(.get, path).json
            #expect(all["name"] == ["type": "LanguageProperty", "languageMap": ["ja": "瀬ノ下", "en": "Senoshita", "@none": "Senoshita gauge"]])
            #expect(try await client.call(.get, path + "?lang=ja").json["name"] == ["type": "Property", "value": "瀬ノ下", "lang": "ja"])
            #expect(try await client.call(.get, path + "?lang=en-GB,ja;q=0.5").json["name"]?["lang"] == "en")
            #expect(try await client.call(.get, path + "?lang=fr").json["name"]?["lang"] == "@none")
            #expect(try await client.call(.get, path + "?lang=ja&options=keyValues").json["name"] == "瀬ノ下")
            #expect(try await client.call(.get, path + "?options=concise").json["name"]?["languageMap"]?["en"] == "Senoshita")
            let listed = try await client.call(.get, "\(Self.path)?type=WaterObserved&lang=en&options=concise").json.arrayValue?.first
            #expect(listed?["name"] == ["value": "Senoshita", "lang": "en"])
            // Concise input: languageMap says LanguageProperty.
            #expect(try await client.call(.post, path + "/attrs", body: #"{"alias":{"languageMap":{"ja":"せのした"}}}"#).status == .noContent)
            #expect(try await client.call(.get, path).json["alias"]?["type"] == "LanguageProperty")
            let bad = try await client.call(.post, path + "/attrs", body: #"{"alias":{"type":"LanguageProperty","languageMap":{"not a tag":"x"}}}"#)
            #expect(bad.status == .badRequest && bad.json["detail"]?.stringValue?.contains("language tag") == true, "\(bad.text)")
        }
    }

    /// On a hub without keys, a create under an `NGSILD-Tenant` it does not serve creates the
    /// tenant (NGSI-LD 4.14); other writes and reads there are 404 NonexistentTenant first.
    @Test func aCreateUnderAnUnknownTenantCreatesIt() async throws {
        try await HubHarness.withHub { _, client in
            let yame = try Tenant("yame")
            #expect(try await client.call(.get, "\(Self.path)?type=WaterObserved", tenant: yame).problemType == "NonexistentTenant")
            #expect(try await client.call(.patch, "\(Self.path)/\(Self.gauge)", tenant: yame, body: "{}").problemType == "NonexistentTenant")
            let created = try await client.call(.post, Self.path, tenant: yame, body: Self.entity(), contentType: "application/ld+json")
            #expect(created.status == .created, "\(created.text)")
            #expect(try await Self.get(client, Self.gauge, tenant: yame).status == .ok)
            #expect(try await Self.get(client, Self.gauge).status == .notFound)
            let batch = try await client.call(
                .post,
                "/ngsi-ld/v1/entityOperations/upsert",
                tenant: try Tenant("hirokawa"),
                body: "[\(Self.entity())]",
                contentType: "application/ld+json"
            )
            #expect(batch.status == .created)
            #expect(try await client.call(.get, "\(Self.path)?type=WaterObserved", tenant: try Tenant("hirokawa")).json.arrayValue?.count == 1)
        }
    }

    /// A write over HTTP takes the ingest path: each reading is stored once however often it is
    /// sent, and a reading older than the stored one does not hide it.
    @Test func writesTakeTheIngestPath() async throws {
        try await HubHarness.withHub { hub, client in
            #expect(
                try await client.call(.post, Self.path, body: Self.entity(level: 1.0, minutes: 10), contentType: "application/ld+json").status
                    == .created
            )
            let late = #"{"waterLevel":{"type":"Property","value":0.4,"unitCode":"MTR","observedAt":"\#(Readings.t0.iso8601)"}}"#
            for _ in 0..<3 { #expect(try await client.call(.patch, "\(Self.path)/\(Self.gauge)", body: late).status == .noContent) }
            #expect(try await Self.get(client, Self.gauge).json["waterLevel"]?["value"]?.numberValue == 1.0)
            let id = try EntityID(uri: Self.gauge, type: "WaterObserved", tenant: Readings.kurume)
            let values = try await hub.store.observations(
                tenant: Readings.kurume,
                entity: id,
                attribute: "waterLevel",
                range: TimeRange(),
                lastN: nil,
                limit: 100
            )
            #expect(values.map(\.observedAt) == [Readings.t0, Readings.t0.advanced(byMilliseconds: 600_000)])
        }
    }
}
