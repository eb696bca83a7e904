import Testing

@testable import KakehashiModel

struct WireBatchTests {
    static let gateway = try! GatewayID("gw-01")

    static func batch() throws -> WireBatch {
        try WireBatch(
            tenant: Samples.tenant,
            gateway: gateway,
            entries: [
                .init(sequence: 41, entity: Samples.gauge.ngsiEntity),
                .init(sequence: 42, entity: Samples.beacon.ngsiEntity),
                .init(sequence: 50, entity: Samples.crowd.ngsiEntity),
            ]
        )
    }

    @Test func roundTripsThroughThePayload() throws {
        let batch = try Self.batch()
        let decoded = try WireBatch(payload: batch.payload())
        #expect(decoded == batch)
        #expect(decoded.entries.map(\.sequence) == [41, 42, 50])
        #expect(try WaterObserved(ngsiEntity: decoded.entries[0].entity) == Samples.gauge)
        #expect(batch.topic.name == "kakehashi/v1/kurume/gw-01/obs")
    }

    @Test func payloadShapeIsTheContract() throws {
        let json = try JSONValue(parsing: try Self.batch().payload())
        #expect(json["v"] == 1)
        #expect(json["tenant"] == "kurume")
        #expect(json["gateway"] == "gw-01")
        let first = json["entities"]?.arrayValue?.first
        #expect(first?["seq"] == 41)
        #expect(first?["entity"]?["id"] == "urn:ngsi-ld:WaterObserved:kurume:3100000017")
        #expect(first?["entity"]?["@context"] == nil, "fragments carry no @context")
        #expect(first?["entity"]?["waterLevel"]?["unitCode"] == "MTR")
    }

    static let bad: [(String, String, String)] = [
        (#"{"tenant":"kurume","gateway":"gw-01","entities":[]}"#, "v", "is required"),
        (#"{"v":2,"tenant":"kurume","gateway":"gw-01","entities":[]}"#, "v", "unsupported wire version 2"),
        (#"{"v":1,"gateway":"gw-01","entities":[]}"#, "tenant", "is required"),
        (
            #"{"v":1,"tenant":"Kurume","gateway":"gw-01","entities":[{"seq":1,"entity":{"id":"urn:ngsi-ld:Device:kurume:1","type":"Device"}}]}"#,
            "tenant", "lowercase"
        ),
        (#"{"v":1,"tenant":"kurume","entities":[]}"#, "gateway", "is required"),
        (
            #"{"v":1,"tenant":"kurume","gateway":"gw/01","entities":[{"seq":1,"entity":{"id":"urn:ngsi-ld:Device:kurume:1","type":"Device"}}]}"#,
            "gateway", "may only hold"
        ),
        (#"{"v":1,"tenant":"kurume","gateway":"gw-01"}"#, "entities", "is required"),
        (#"{"v":1,"tenant":"kurume","gateway":"gw-01","entities":{}}"#, "entities", "must be an array"),
        (#"{"v":1,"tenant":"kurume","gateway":"gw-01","entities":[]}"#, "entities", "at least one entity"),
        (#"{"v":1,"tenant":"kurume","gateway":"gw-01","entities":[{"entity":{}}]}"#, "entities[0].seq", "is required"),
        (#"{"v":1,"tenant":"kurume","gateway":"gw-01","entities":[{"seq":1.5,"entity":{}}]}"#, "entities[0].seq", "not a whole number"),
        (#"{"v":1,"tenant":"kurume","gateway":"gw-01","entities":[{"seq":0,"entity":{}}]}"#, "entities[0].seq", "not a whole number"),
        (#"{"v":1,"tenant":"kurume","gateway":"gw-01","entities":[{"seq":1}]}"#, "entities[0].entity", "is required"),
        (
            #"{"v":1,"tenant":"kurume","gateway":"gw-01","entities":[{"seq":1,"entity":{"id":"urn:ngsi-ld:Device:kurume:1","type":"Device"}},"#
                + #"{"seq":1,"entity":{"id":"urn:ngsi-ld:Device:kurume:2","type":"Device"}}]}"#,
            "entities[1].seq", "must strictly increase"
        ),
        (
            #"{"v":1,"tenant":"kurume","gateway":"gw-01","entities":[{"seq":1,"entity":{"id":"urn:ngsi-ld:Device:other:1","type":"Device"}}]}"#,
            "entities[0].entity.id", "tenant other in a batch of tenant kurume"
        ),
        (
            #"{"v":1,"tenant":"kurume","gateway":"gw-01","entities":[{"seq":1,"entity":{"id":"urn:ngsi-ld:Device:kurume:1","type":"Device"}},"#
                + #"{"seq":2,"entity":{"id":"urn:ngsi-ld:Device:kurume:2","type":"Device","rssi":{"type":"Property","value":-70,"#
                + #""unitCode":"dBm"}}}]}"#,
            "entities[1].entity.rssi.unitCode", "unknown unit code \"dBm\""
        ),
    ]

    @Test(arguments: bad)
    func rejectsWithThePathOfTheFault(json: String, field: String, why: String) {
        expectModelError(field: field, containing: why) { _ = try WireBatch(payload: Array(json.utf8)) }
    }

    @Test func batchSizeIsBounded() throws {
        let entity = Samples.beaconMinimal.ngsiEntity
        let entries = (1...UInt64(ModelLimits.maxBatchEntries + 1)).map { WireBatch.Entry(sequence: $0, entity: entity) }
        #expect(throws: ModelError.self) { try WireBatch(tenant: Samples.tenant, gateway: Self.gateway, entries: entries) }
        #expect(throws: ModelError.self) {
            try WireBatch(tenant: Samples.tenant, gateway: Self.gateway, entries: [.init(sequence: WireBatch.maxSequence + 1, entity: entity)])
        }
    }
}
