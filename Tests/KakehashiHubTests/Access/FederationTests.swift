import Foundation
import HTTPTypes
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

/// Two hubs on loopback: hub B mirrors what a key of hub A's tenant kurume may read, shows it to
/// its own tenant yame as shared data, and catches up after the link was cut, with nothing
/// missing and nothing twice.
@Suite(.serialized) struct FederationTests {
    @Test func aPeerHubsTenantIsMirroredAndCatchesUpAfterTheLinkWasCut() async throws {
        // Hub A: kurume and omuta; small temporal pages, so that history comes in several.
        var settings = try AccessTests.configuration()
        settings.limits.maxTemporalInstances = 4
        let a = settings
        let keysA = try AccessTests.Keys(path: a.storagePath)
        let portA = try TestBroker.reusablePort()  // hub A comes back on it
        let hubA = HubBox(try await LiveHub(a, access: true, port: portA))
        @Sendable func post(_ entities: [NGSIEntity], key: String) async throws { try await postEntities(entities, port: portA, key: key) }
        try await post((0..<10).map { Readings.level("k1", 1 + Double($0) / 10, minutes: Int64($0)) }, key: keysA.kurumeOperator)
        try await post([Readings.level("o1", 1.0, minutes: 0, tenant: Readings.omuta)], key: keysA.omutaOperator)

        // Hub B: its own tenant yame, and a link to A with a reader key A issued for kurume.
        let pathB = Readings.temporaryDatabase()
        let b = try HubConfiguration.parse(
            yaml: """
                storage: { path: \(pathB), sync: normal }
                tenants: { yame: {} }
                federation:
                  - { name: hub-a, url: "http://127.0.0.1:\(portA)", key: \(keysA.kurumeReader), tenant: kurume, types: [WaterObserved], \
                  share_with: [yame], interval: 60s }
                """,
            file: "hub.yaml",
            baseDirectory: "/"
        )
        let accessB = try AccessStore(path: pathB)
        let yameKey = try accessB.createKey(tenant: try Tenant("yame"), role: .reader, label: nil, expires: nil, knownTenants: [try Tenant("yame")])
            .secret.description
        try await HubHarness.withHub(b, access: true) { hubB, client in
            let link = try #require(hubB.federation.first)
            @Sendable func history() async throws -> [Double] {
                let reply = try await client.keyed(
                    yameKey,
                    .get,
                    "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:WaterObserved:kurume:k1?options=temporalValues"
                )
                return (reply.json["waterLevel"]?["values"]?.arrayValue ?? []).compactMap { $0.arrayValue?.first?.numberValue }
            }
            // The link running as a service: A's readings appear in B, shared with yame, marked with their owner.
            let running = Task { try await link.run() }
            let deadline = ContinuousClock.now + .seconds(20)
            while try await history().count < 10 {
                guard ContinuousClock.now < deadline else { Issue.record("B did not mirror A's readings: \(link.status)"); return }
                try await Task.sleep(for: .milliseconds(50))
            }
            // Pushed: a reading stored in A now reaches B over A's entity feed, long before the 60 s interval.
            try await post([Readings.level("k9", 2.2, minutes: 0)], key: keysA.kurumeOperator)
            let pushedBy = ContinuousClock.now + .seconds(10)
            while try await client.keyed(yameKey, .get, "/ngsi-ld/v1/entities/urn:ngsi-ld:WaterObserved:kurume:k9").status != .ok {
                guard ContinuousClock.now < pushedBy else { Issue.record("A's new reading was not pushed to B: \(link.status)"); return }
                try await Task.sleep(for: .milliseconds(50))
            }
            running.cancel()
            _ = await running.result
            let shown = try await client.keyed(yameKey, .get, "/ngsi-ld/v1/entities?type=WaterObserved")
            #expect(
                AccessTests.ids(shown) == ["urn:ngsi-ld:WaterObserved:kurume:k1", "urn:ngsi-ld:WaterObserved:kurume:k9"],
                "omuta's data is not kurume's key's to read"
            )
            #expect(shown.json.arrayValue?.first?["sharedBy"]?["value"] == "kurume")
            #expect(try await client.keyed(yameKey, .get, "/healthz").json["federation"]?["hub-a"]?["lastSuccess"] != nil)

            // The link is cut (A is down) while A takes ten more readings.
            await hubA.hub?.stop()
            hubA.hub = nil
            let storeA = try SQLiteStore(path: a.storagePath)
            _ = try await storeA.ingest(Readings.batch((10..<20).map { Readings.level("k1", 1 + Double($0) / 10, minutes: Int64($0)) }))
            await #expect(throws: FederationError.self) { try await link.synchronize() }
            #expect(link.status.mirrored == 11)

            // Restored: B catches up with exactly those ten, in pages of four, and a second round adds nothing.
            hubA.hub = try await LiveHub.restart(a, access: true, port: portA)
            #expect(try await link.synchronize() == 10)
            #expect(try await link.synchronize() == 0)
            let values = try await history()
            #expect(values == (0..<20).map { 1 + Double($0) / 10 }, "every reading once, in order")
            let observations = try await hubB.store.observations(
                tenant: Readings.kurume,
                entity: Readings.gauge("k1"),
                attribute: "waterLevel",
                range: .all,
                lastN: nil,
                limit: 100
            )
            #expect(observations.count == 20 && Set(observations.map(\.observedAt)).count == 20)

            // A revokes the key: the link reports why and mirrors nothing more.
            try keysA.store.revokeKey(id: try #require(APIKeySecret(keysA.kurumeReader)).id)
            do {
                try await link.synchronize()
                Issue.record("a revoked key must not mirror")
            } catch let error as FederationError {
                #expect(error.description.contains("401") && error.description.contains("revoked"), "\(error)")
            }
        }
        await hubA.hub?.stop()
    }
}

/// The hub that is stopped and started again.
final class HubBox: @unchecked Sendable {
    var hub: LiveHub?
    init(_ hub: LiveHub) { self.hub = hub }
}

extension AccessTests {
    static func ids(_ reply: Reply) -> [String] { (reply.json.arrayValue ?? []).compactMap { $0["id"]?.stringValue }.sorted() }
}
