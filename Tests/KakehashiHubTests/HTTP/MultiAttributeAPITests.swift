import HTTPTypes
import HummingbirdTesting
import KakehashiHub
import KakehashiHubCore
import KakehashiHubTestSupport
import KakehashiModel
import Testing

/// Multi-attributes (NGSI-LD 4.5.5): instances of one attribute told apart by `datasetId`, each
/// with its own history, written, read, projected, updated and deleted one by one.
@Suite("NGSI-LD multi-attributes")
struct MultiAttributeAPITests {
    static let path = "/ngsi-ld/v1/entities"
    static let id = "urn:ngsi-ld:WaterObserved:senoshita"
    static let radar = "urn:ngsi-ld:Dataset:radar"

    static func level(_ value: Double, minutes: Int, dataset: String? = nil) -> String {
        let at = Timestamp(millisecondsSinceEpoch: Readings.t0.millisecondsSinceEpoch + Int64(minutes) * 60_000).iso8601
        return #"{"type":"Property","value":\#(value),"unitCode":"MTR","observedAt":"\#(at)""# + (dataset.map { #","datasetId":"\#($0)""# } ?? "")
            + "}"
    }

    @Test func instancesAreKeptReadAndChangedByTheirDatasetId() async throws {
        try await HubHarness.withHub { hub, client in
            let body =
                #"{"id":"\#(Self.id)","type":"WaterObserved","waterLevel":[\#(Self.level(1.5, minutes: 0)),\#(Self.level(1.7, minutes: 0, dataset: Self.radar))],"name":{"type":"Property","value":"瀬ノ下"}}"#
            let created = try await client.call(.post, Self.path, body: body)
            #expect(created.status == .created, "\(created.text)")
            let stored = try #require(
                try await hub.store.entity(tenant: Readings.kurume, id: try EntityID(uri: Self.id, type: "WaterObserved", tenant: Readings.kurume))
            )
            #expect(stored.instanceNames(of: "waterLevel") == ["waterLevel", NGSIEntity.keptName("waterLevel", datasetId: Self.radar)])

            // Read: an array of instances, the default one first; keyValues and concise alike.
            let read = try await client.call(.get, "\(Self.path)/\(Self.id)")
            let instances = try #require(read.json["waterLevel"]?.arrayValue)
            #expect(instances.count == 2 && instances[0]["datasetId"] == nil && instances[1]["datasetId"] == .string(Self.radar))
            #expect(instances.map { $0["value"] } == [1.5, 1.7])
            #expect(try await client.call(.get, "\(Self.path)/\(Self.id)?options=keyValues").json["waterLevel"] == [1.5, 1.7])
            let concise = try await client.call(.get, "\(Self.path)/\(Self.id)?options=concise").json["waterLevel"]?.arrayValue
            #expect(concise?[1]["datasetId"] == .string(Self.radar) && concise?[1]["type"] == nil && concise?[0]["value"] == 1.5)
            // attrs picks every instance; the entity matches a query by the attribute.
            let picked = try await client.call(.get, "\(Self.path)?type=WaterObserved&attrs=waterLevel").json.arrayValue?.first
            #expect(picked?["waterLevel"]?.arrayValue?.count == 2 && picked?["name"] == nil)

            // One instance changed by its datasetId; the other stays.
            let patch =
                #"{"value":1.9,"observedAt":"\#(Timestamp(millisecondsSinceEpoch: Readings.t0.millisecondsSinceEpoch + 300_000).iso8601)","datasetId":"\#(Self.radar)"}"#
            #expect(try await client.call(.patch, "\(Self.path)/\(Self.id)/attrs/waterLevel", body: patch).status == .noContent)
            let after = try await client.call(.get, "\(Self.path)/\(Self.id)?options=keyValues").json
            #expect(after["waterLevel"] == [1.5, 1.9], "\(after)")
            let unknown = #"{"value":2,"datasetId":"urn:ngsi-ld:Dataset:none"}"#
            #expect(try await client.call(.patch, "\(Self.path)/\(Self.id)/attrs/waterLevel", body: unknown).status == .notFound)

            // Each instance has its own history, marked with its datasetId.
            let temporal = try await client.call(.get, "/ngsi-ld/v1/temporal/entities/\(Self.id)?attrs=waterLevel")
            let history = try #require(temporal.json["waterLevel"]?.arrayValue, "\(temporal.text)")
            #expect(history.filter { $0["datasetId"] == .string(Self.radar) }.map { $0["value"] } == [1.7, 1.9])
            #expect(history.filter { $0["datasetId"] == nil }.map { $0["value"] } == [1.5])

            // Discovery counts the attribute once.
            let attributes = try await client.call(.get, "/ngsi-ld/v1/attributes/waterLevel")
            #expect(attributes.json["attributeCount"] == 1, "\(attributes.text)")

            // Delete one instance, then (deleteAll) every one.
            #expect(try await client.call(.delete, "\(Self.path)/\(Self.id)/attrs/waterLevel?datasetId=\(Self.radar)").status == .noContent)
            #expect(try await client.call(.get, "\(Self.path)/\(Self.id)?options=keyValues").json["waterLevel"] == 1.5)
            #expect(try await client.call(.delete, "\(Self.path)/\(Self.id)/attrs/waterLevel?datasetId=\(Self.radar)").status == .notFound)
            let again = #"{"waterLevel":\#(Self.level(2.5, minutes: 10, dataset: Self.radar))}"#
            #expect(try await client.call(.post, "\(Self.path)/\(Self.id)/attrs", body: again).status == .noContent)
            #expect(try await client.call(.delete, "\(Self.path)/\(Self.id)/attrs/waterLevel?deleteAll=true").status == .noContent)
            #expect(try await client.call(.get, "\(Self.path)/\(Self.id)").json["waterLevel"] == nil)
        }
    }

    @Test(arguments: [
        (#"[{"type":"Property","value":1},{"type":"Property","value":2}]"#, "two instances without a datasetId"),
        (
            #"[{"type":"Property","value":1,"datasetId":"urn:a:1"},{"type":"Property","value":2,"datasetId":"urn:a:1"}]"#,
            "datasetId urn:a:1 is given twice"
        ),
        (#"[{"type":"Property","value":1,"datasetId":"not a uri"}]"#, "datasetId"),
        (#"[{"type":"Property","value":1,"datasetId":5}]"#, "datasetId"),
    ])
    func badInstancesAreRefusedWithTheirReason(_ attribute: String, _ words: String) async throws {
        try await HubHarness.withHub { _, client in
            let reply = try await client.call(.post, Self.path, body: #"{"id":"urn:ngsi-ld:X:1","type":"X","level":\#(attribute)}"#)
            #expect(reply.status == .badRequest && reply.problemType == "BadRequestData", "\(reply.text)")
            #expect(reply.json["detail"]?.stringValue?.contains(words) == true, "\(reply.text)")
        }
    }
}
