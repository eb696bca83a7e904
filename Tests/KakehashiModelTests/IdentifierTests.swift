import Testing

@testable import KakehashiModel

struct IdentifierTests {
    @Test func entityIDParsesItsParts() throws {
        let id = try EntityID("urn:ngsi-ld:WaterObserved:kurume:3100000017")
        #expect(id.type == "WaterObserved")
        #expect(id.tenant.name == "kurume")
        #expect(id.localID == "3100000017")
        #expect(
            try EntityID(type: "Device", tenant: Tenant("city-a"), localID: "tag:ab.c_d~e-f").rawValue == "urn:ngsi-ld:Device:city-a:tag:ab.c_d~e-f"
        )
        #expect(try EntityID("urn:ngsi-ld:Alert:k:a:b:c").localID == "a:b:c")
    }

    static let badIDs: [(String, String)] = [
        ("", "missing"),
        ("urn:ngsi:WaterObserved:kurume:1", "must start with \"urn:ngsi-ld:\""),
        ("WaterObserved:kurume:1", "must start with"),
        ("urn:ngsi-ld:WaterObserved:kurume", "urn:ngsi-ld:<Type>:<tenant>:<local id>"),
        ("urn:ngsi-ld:WaterObserved:Kurume:1", "invalid tenant part"),
        ("urn:ngsi-ld:WaterObserved::1", "invalid tenant part"),
        ("urn:ngsi-ld:Water-Observed:kurume:1", "entity type"),
        ("urn:ngsi-ld:9Water:kurume:1", "entity type"),
        ("urn:ngsi-ld:WaterObserved:kurume:", "must not be empty"),
        ("urn:ngsi-ld:WaterObserved:kurume::1", "not first"),
        ("urn:ngsi-ld:WaterObserved:kurume:a b", "may only hold"),
        ("urn:ngsi-ld:WaterObserved:kurume:a/b", "may only hold"),
        ("urn:ngsi-ld:WaterObserved:kurume:気仙", "may only hold"),
        ("urn:ngsi-ld:WaterObserved:kurume:" + String(repeating: "x", count: 300), "exceeds the limit of 256"),
    ]

    @Test(arguments: badIDs)
    func entityIDRejects(raw: String, reason: String) {
        expectModelError(field: "id", containing: reason) { _ = try EntityID(raw) }
    }

    @Test(arguments: ["kurume", "city-a", "a", "13-fukuoka", String(repeating: "a", count: 63)])
    func tenantAccepts(name: String) throws {
        #expect(try Tenant(name).name == name)
    }

    @Test(arguments: ["", "Kurume", "city_a", "-city", "city-", "a/b", "a+b", "a#", "都市", String(repeating: "a", count: 64)])
    func tenantRejects(name: String) {
        #expect(throws: ModelError.self) { try Tenant(name) }
    }

    @Test(arguments: ["gw-01", "GW_01.edge", String(repeating: "g", count: 64)])
    func gatewayAccepts(id: String) throws {
        #expect(try GatewayID(id).rawValue == id)
    }

    @Test(arguments: ["", "gw/1", "gw+", "gw#", "gw 1", String(repeating: "g", count: 65)])
    func gatewayRejects(id: String) {
        #expect(throws: ModelError.self) { try GatewayID(id) }
    }

    @Test func wireTopicRoundTripsAndRejectsOthers() throws {
        let topic = WireTopic(tenant: try Tenant("kurume"), gateway: try GatewayID("gw-01"), kind: .observations)
        #expect(topic.name == "kakehashi/v1/kurume/gw-01/obs")
        #expect(try WireTopic(parsing: topic.name) == topic)
        #expect(try WireTopic(parsing: "kakehashi/v1/kurume/gw-01/status").kind == .status)
        for bad in [
            "kakehashi/v2/kurume/gw-01/obs", "kakehashi/v1/kurume/obs", "kakehashi/v1/Kurume/gw-01/obs",
            "kakehashi/v1/kurume/gw-01/readings", "kakehashi/v1/kurume/gw-01/obs/extra",
        ] {
            #expect(throws: ModelError.self) { try WireTopic(parsing: bad) }
        }
    }
}
