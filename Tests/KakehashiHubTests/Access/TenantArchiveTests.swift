import Foundation
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiHubTestSupport
import KakehashiModel
import KakehashiSQLite
import Testing

/// A tenant exported and deleted as a whole, in both storage modes.
@Suite(.serialized) struct TenantArchiveTests {
    @Test(arguments: AccessTests.separations) func aTenantIsExportedAndDeletedAsAWhole(separation: String) async throws {
        let configuration = try AccessTests.configuration(separation: separation)
        let keys = try AccessTests.Keys(path: configuration.storagePath)
        try await HubHarness.withHub(configuration, access: true) { hub, client in
            try await AccessTests.seed(client, keys)  // kurume k1; omuta o1 with an alert
            let more = JSONValue.array([
                Readings.level("k1", 2.5, minutes: 10).json(.normalized), Readings.level("k2", 1.0, minutes: 0).json(.normalized),
            ]).jsonText
            #expect(try await client.keyed(keys.kurumeOperator, .post, "/ngsi-ld/v1/entityOperations/upsert", body: more).status.code < 300)
            #expect(try await client.keyed(keys.kurumeReader, .get, "/alerts").json.arrayValue?.count == 1)

            // A subscription of each city, to see kurume's go with it (and be exported).
            let subscribe =
                #"{"type":"Subscription","watchedAttributes":["waterLevel"],"notification":{"endpoint":{"uri":"https://hooks.example.org/n"}}}"#
            #expect(try await client.keyed(keys.kurumeOperator, .post, "/ngsi-ld/v1/subscriptions", body: subscribe).status == .created)
            #expect(try await client.keyed(keys.omutaOperator, .post, "/ngsi-ld/v1/subscriptions", body: subscribe).status == .created)

            let file = URL(fileURLWithPath: configuration.storagePath).deletingLastPathComponent().appendingPathComponent("kurume-export.sqlite").path
            let counts = try TenantArchive.export(Readings.kurume, configuration: configuration, to: file)
            // Two gauges and the alert's Alert entity.
            #expect(counts["entities"] == 3 && counts["observations"] == 3 && counts["alerts"] == 1 && counts["alert_events"] == 1, "\(counts)")
            #expect(counts["subscriptions"] == 1, "\(counts)")
            // The export is a hub database of its own, with kurume's rows only.
            let exported = try SQLiteStore(path: file)
            #expect(
                try await exported.entities(tenant: Readings.kurume, types: nil, ids: nil).map(\.id.rawValue).sorted()
                    == ["urn:ngsi-ld:Alert:kurume:1", "urn:ngsi-ld:WaterObserved:kurume:k1", "urn:ngsi-ld:WaterObserved:kurume:k2"]
            )
            #expect(
                try await exported.observations(
                    tenant: Readings.kurume,
                    entity: Readings.gauge("k1"),
                    attribute: "waterLevel",
                    range: .all,
                    lastN: nil,
                    limit: 10
                ).count == 2
            )
            #expect(try await exported.alerts(tenant: Readings.kurume, activeOnly: false, limit: 10).count == 1)
            let raw = try SQLiteConnection(path: file, readOnly: true)
            for table in ["entities", "series", "alerts", "alert_events", "subscriptions"] {
                #expect(try raw.scalar("SELECT count(*) FROM \(table) WHERE tenant != 'kurume'") == 0, "\(table) holds only kurume's rows")
            }
            #expect(throws: StorageError.self, "an existing file is not overwritten") {
                try TenantArchive.export(Readings.kurume, configuration: configuration, to: file)
            }

            // Deleted: its data, keys and subscriptions are gone, omuta's stay.
            let deleted = try TenantArchive.delete(Readings.kurume, configuration: configuration)
            #expect(deleted["subscriptions"] == 1, "\(deleted)")
            let subscriptions = try SubscriptionStore(path: configuration.storagePath)
            #expect(try subscriptions.subscriptions(tenant: Readings.kurume).isEmpty)
            #expect(try subscriptions.subscriptions(tenant: Readings.omuta).count == 1)
            #expect(try await client.keyed(keys.kurumeReader, .get, "/alerts").status == .unauthorized)
            #expect(try await client.keyed(keys.omutaReader, .get, "/ngsi-ld/v1/entities?type=WaterObserved").json.arrayValue?.count == 1)
            if separation == "shared" {
                #expect(try await hub.store.entities(tenant: Readings.kurume, types: nil, ids: nil).isEmpty)
                #expect(try await hub.store.alerts(tenant: Readings.kurume, activeOnly: false, limit: 10).isEmpty)
            } else {
                let folder = URL(fileURLWithPath: configuration.storagePath).deletingLastPathComponent().appendingPathComponent("tenants").path
                #expect(!FileManager.default.fileExists(atPath: TenantSeparatedStore.file(of: Readings.kurume, folder: folder)))
                #expect(FileManager.default.fileExists(atPath: TenantSeparatedStore.file(of: Readings.omuta, folder: folder)))
            }
        }
    }
}
