import HTTPTypes
import HummingbirdTesting
import KakehashiHub
import KakehashiHubCore
import KakehashiHubTestSupport
import KakehashiModel
import Testing

/// Temporal provision: historical instances created and added (stored once each, the latest
/// becoming the current value), deleted with their history, and queried by POST.
@Suite("NGSI-LD temporal provision")
struct TemporalProvisionTests {
    static let id = "urn:ngsi-ld:WaterObserved:chikugo-senoshita"
    static let path = "/ngsi-ld/v1/temporal/entities"

    static func instance(_ metres: Double, _ at: String) -> String {
        #"{"type":"Property","value":\#(metres),"unitCode":"MTR","observedAt":"\#(at)"}"#
    }

    static let history = """
        {"id":"\(id)","type":"WaterObserved","waterLevel":[
          \(instance(1.20, "2026-06-02T00:00:00Z")),\(instance(1.35, "2026-06-02T00:10:00Z")),\(instance(1.50, "2026-06-02T00:20:00Z"))]}
        """

    static func levels(_ client: any TestClientProtocol, query: String = "") async throws -> [Double] {
        let reply = try await client.call(.get, "\(path)/\(id)\(query)")
        #expect(reply.status == .ok, "\(reply.text)")
        return reply.json["waterLevel"]?.arrayValue?.compactMap { $0["value"]?.numberValue } ?? []
    }

    @Test func historyIsCreatedAddedOnceAndBecomesTheCurrentValue() async throws {
        try await HubHarness.withHub { _, client in
            let created = try await client.call(.post, Self.path, body: Self.history)
            #expect(created.status == .created, "\(created.text)")
            #expect(created.headers[.location] == "\(Self.path)/\(Self.id)")
            #expect(try await Self.levels(client).sorted() == [1.20, 1.35, 1.50])
            let current = try await client.call(.get, "/ngsi-ld/v1/entities/\(Self.id)?options=keyValues")
            #expect(current.json["waterLevel"] == 1.5, "\(current.text)")

            // The same history again with one more instance: nothing twice, 204 for an entity that exists.
            let more = Self.history.replacingOccurrences(
                of: "]}",
                with: ",\(Self.instance(1.62, "2026-06-02T00:30:00Z"))]}"
            )
            #expect(try await client.call(.post, Self.path, body: more).status == .noContent)
            #expect(try await Self.levels(client).sorted() == [1.20, 1.35, 1.50, 1.62])

            // Attributes added by instances; an older one does not replace the current value.
            let attrs =
                #"{"waterFlow":[\#(Self.instance(30, "2026-06-02T00:00:00Z")),\#(Self.instance(31, "2026-06-02T00:10:00Z"))],"waterLevel":\#(Self.instance(0.9, "2026-06-01T23:50:00Z"))}"#
            let added = try await client.call(.post, "\(Self.path)/\(Self.id)/attrs", body: attrs)
            #expect(added.status == .noContent, "\(added.text)")
            let now = try await client.call(.get, "/ngsi-ld/v1/entities/\(Self.id)?options=keyValues")
            #expect(now.json["waterLevel"] == 1.62 && now.json["waterFlow"] == 31, "\(now.text)")
            #expect(try await Self.levels(client).count == 5)
            #expect(try await client.call(.post, "\(Self.path)/urn:ngsi-ld:WaterObserved:nowhere/attrs", body: attrs).status == .notFound)

            // A window of the history, by POST.
            let query = """
                {"type":"Query","entities":[{"type":"WaterObserved"}],"attrs":["waterLevel"],
                 "temporalQ":{"timerel":"between","timeAt":"2026-06-02T00:05:00Z","endTimeAt":"2026-06-02T00:25:00Z"}}
                """
            let posted = try await client.call(.post, "/ngsi-ld/v1/temporal/entityOperations/query", body: query)
            #expect(posted.status == .ok, "\(posted.text)")
            let values = posted.json.arrayValue?.first?["waterLevel"]?.arrayValue?.compactMap { $0["value"]?.numberValue }
            #expect(values?.sorted() == [1.35, 1.50], "\(posted.text)")
            let unknown = try await client.call(
                .post,
                "/ngsi-ld/v1/temporal/entityOperations/query",
                body: #"{"type":"Query","attrs":["waterLevel"],"temporalQ":{"when":"now"}}"#
            )
            #expect(unknown.status == .badRequest && unknown.text.contains("temporalQ.when"), "\(unknown.text)")
        }
    }

    @Test func instancesWithoutTimeAndBadShapesAreRefusedByName() async throws {
        try await HubHarness.withHub { _, client in
            let untimed = #"{"id":"\#(Self.id)","type":"WaterObserved","waterLevel":[{"type":"Property","value":1.2}]}"#
            let refused = try await client.call(.post, Self.path, body: untimed)
            #expect(refused.status == .badRequest && refused.text.contains("waterLevel[0] needs an observedAt"), "\(refused.text)")
            let bare = try await client.call(.post, Self.path, body: #"{"id":"\#(Self.id)","type":"WaterObserved","waterLevel":3}"#)
            #expect(bare.status == .badRequest, "\(bare.text)")
            #expect(try await client.call(.post, Self.path, body: #"{"type":"WaterObserved"}"#).status == .badRequest)
            // Nothing was stored.
            #expect(try await client.call(.get, "\(Self.path)/\(Self.id)").status == .notFound)
        }
    }

    @Test func deletionTakesTheHistoryWithIt() async throws {
        try await HubHarness.withHub { hub, client in
            #expect(try await client.call(.post, Self.path, body: Self.history).status == .created)
            let flow = #"{"waterFlow":[\#(Self.instance(30, "2026-06-02T00:00:00Z"))]}"#
            #expect(try await client.call(.post, "\(Self.path)/\(Self.id)/attrs", body: flow).status == .noContent)

            #expect(try await client.call(.delete, "\(Self.path)/\(Self.id)/attrs/waterLevel").status == .noContent)
            let left = try await client.call(.get, "\(Self.path)/\(Self.id)")
            #expect(left.json["waterLevel"] == nil && left.json["waterFlow"] != nil, "\(left.text)")
            let entity = try await client.call(.get, "/ngsi-ld/v1/entities/\(Self.id)?options=keyValues")
            #expect(entity.json["waterLevel"] == nil && entity.json["waterFlow"] == 30, "\(entity.text)")
            #expect(try await client.call(.delete, "\(Self.path)/\(Self.id)/attrs/waterLevel").status == .notFound)

            #expect(try await client.call(.delete, "\(Self.path)/\(Self.id)").status == .noContent)
            #expect(try await client.call(.get, "\(Self.path)/\(Self.id)").status == .notFound)
            #expect(try await client.call(.get, "/ngsi-ld/v1/entities/\(Self.id)").status == .notFound)
            #expect(
                try await hub.store.series(tenant: Readings.kurume, entity: EntityID(uri: Self.id, type: "WaterObserved", tenant: Readings.kurume))
                    .isEmpty
            )
            #expect(try await client.call(.delete, "\(Self.path)/\(Self.id)").status == .notFound)

            // Created again, it starts a history of its own.
            #expect(try await client.call(.post, Self.path, body: Self.history).status == .created)
            #expect(try await Self.levels(client).count == 3)
        }
    }

    @Test func anInstanceIsModifiedWithItsRollupsAndTheCurrentValue() async throws {
        try await HubHarness.withHub { _, client in
            #expect(try await client.call(.post, Self.path, body: Self.history).status == .created)
            let read = try await client.call(.get, "\(Self.path)/\(Self.id)")
            let instances = read.json["waterLevel"]?.arrayValue ?? []
            let last = try #require(instances.first { $0["value"] == 1.5 }?["instanceId"]?.stringValue, "\(read.text)")
            let first = try #require(instances.first { $0["value"] == 1.2 }?["instanceId"]?.stringValue)
            #expect(last == "urn:ngsi-ld:Instance:\(Readings.t0.advanced(byMilliseconds: 20 * 60_000).millisecondsSinceEpoch)")

            // An older instance: the history and the hour's sum change, the current value does not.
            let patched = try await client.call(
                .patch,
                "\(Self.path)/\(Self.id)/attrs/waterLevel/\(first)",
                body: #"{"type":"Property","value":1.0}"#
            )
            #expect(patched.status == .noContent, "\(patched.text)")
            #expect(try await Self.levels(client).sorted() == [1.0, 1.35, 1.5])
            let hourly = try await client.call(
                .get,
                "\(Self.path)/\(Self.id)?options=aggregatedValues&aggrMethods=sum,min&aggrPeriodDuration=PT1H&timerel=after&timeAt=2026-06-02T00:00:00Z"
            )
            let sum = hourly.json["waterLevel"]?["sum"]?.arrayValue?.first?.arrayValue?.first?.numberValue
            let min = hourly.json["waterLevel"]?["min"]?.arrayValue?.first?.arrayValue?.first?.numberValue
            #expect(sum.map { abs($0 - 3.85) < 1e-9 } == true && min == 1.0, "\(hourly.text)")
            #expect(try await client.call(.get, "/ngsi-ld/v1/entities/\(Self.id)?options=keyValues").json["waterLevel"] == 1.5)

            // The newest instance is the current value: both change.
            #expect(try await client.call(.patch, "\(Self.path)/\(Self.id)/attrs/waterLevel/\(last)", body: #"{"value":1.55}"#).status == .noContent)
            #expect(try await client.call(.get, "/ngsi-ld/v1/entities/\(Self.id)?options=keyValues").json["waterLevel"] == 1.55)

            // An instant with no instance, a foreign id, a moved observedAt.
            let missing = try await client.call(.patch, "\(Self.path)/\(Self.id)/attrs/waterLevel/urn:ngsi-ld:Instance:1", body: #"{"value":2}"#)
            #expect(missing.status == .notFound, "\(missing.text)")
            #expect(try await client.call(.patch, "\(Self.path)/\(Self.id)/attrs/waterLevel/urn:x:1", body: #"{"value":2}"#).status == .badRequest)
            let moved = try await client.call(
                .patch,
                "\(Self.path)/\(Self.id)/attrs/waterLevel/\(last)",
                body: #"{"value":2,"observedAt":"2026-06-02T05:00:00Z"}"#
            )
            #expect(moved.status == .badRequest && moved.text.contains("keeps its time"), "\(moved.text)")
        }
    }
}
