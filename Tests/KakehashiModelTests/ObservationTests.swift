import Testing

@testable import KakehashiModel

struct ObservationTests {
    @Test func measuredPropertiesBecomeObservationsStaticOnesDoNot() throws {
        let gateway = try GatewayID("gw-01")
        let received = try Timestamp(iso8601: "2026-06-01T03:07:05Z")
        let provenance = Provenance(gateway: gateway, source: .mqtt(topic: "flood/3100000017/level"))
        let observations = Samples.gauge.ngsiEntity.observations(receivedAt: received, provenance: provenance)
        // waterLevel, flow and floodLevelStatus carry observedAt; name, address, thresholds do not.
        #expect(observations.map(\.attribute) == ["floodLevelStatus", "flow", "waterLevel"])
        let level = try #require(observations.last)
        #expect(level.value == .quantity(try Quantity(1.14, .metre)))
        #expect(level.observedAt == (try Timestamp(iso8601: "2026-06-01T03:07:00Z")))
        #expect(level.receivedAt == received)
        #expect(level.tenant == Samples.tenant)
        #expect(level.entityType == "WaterObserved")
        #expect(level.location == Samples.gauge.location)
        #expect(level.provenance == provenance)
        #expect(level.unitCode == .metre)
        #expect(observations.first?.value == .text("Normal"))
    }

    @Test func keyIsTenantEntityAttributeObservedAt() throws {
        let a = try #require(Samples.gauge.ngsiEntity.observations(receivedAt: Timestamp(millisecondsSinceEpoch: 1)).last)
        let b = try #require(Samples.gauge.ngsiEntity.observations(receivedAt: Timestamp(millisecondsSinceEpoch: 2)).last)
        #expect(a != b, "arrival differs")
        #expect(a.key == b.key, "but it is the same observation")
        let beacon = Samples.beacon.ngsiEntity.observations()
        #expect(beacon.map(\.attribute) == ["batteryLevel", "deviceState", "rssi"])
        #expect(beacon.last?.value == .quantity(try Quantity(-73, .decibelMilliwatt)))
    }

    @Test func rejectsInvalidObservations() throws {
        let id = try EntityID("urn:ngsi-ld:WaterObserved:kurume:1")
        #expect(throws: ModelError.self) {
            try Observation(entityID: id, attribute: "water level", value: .number(1), observedAt: Timestamp(millisecondsSinceEpoch: 0))
        }
        #expect(throws: ModelError(field: "status", .notFinite)) {
            try Observation(entityID: id, attribute: "status", value: .number(.nan), observedAt: Timestamp(millisecondsSinceEpoch: 0))
        }
        #expect(throws: ModelError.self) {
            try Observation(entityID: id, attribute: "id", value: .number(1), observedAt: Timestamp(millisecondsSinceEpoch: 0))
        }
    }
}
