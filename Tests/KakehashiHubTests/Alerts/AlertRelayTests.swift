import Foundation
import KakehashiHub
import KakehashiHubCore
import KakehashiHubTestSupport
import KakehashiModel
import KakehashiTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Over one PostgreSQL database, a feed client connected to a hub sees the alert events another
/// hub stores, live, once each and in id order; this hub's own events reach its clients once.
@Suite("Alert events relayed between hubs")
struct AlertRelayTests {
    @Test func aClientOfOneHubSeesTheEventsAnotherStores() async throws {
        let url = try TestPostgres.shared().createDatabase(prefix: "relay")
        func configuration(rules: Bool) throws -> HubConfiguration {
            let yaml = """
                storage: { kind: postgres, url: "\(url)", path: \(Readings.temporaryDatabase()) }
                tenants: { kurume: { gateways: [gw-01] } }
                default_tenant: kurume
                access: { require_keys: false }
                \(rules ? """
                alerts:
                  rules:
                    - { id: stage, tenant: kurume, type: WaterObserved, attribute: waterLevel, threshold: { stages: [ { name: high, level: 2.0, severity: high } ] } }
                """ : "")
                """
            return try HubConfiguration.parse(yaml: yaml, file: "hub.yaml", baseDirectory: "/")
        }
        // Hub a runs the rules; hub b only serves.
        let a = try await LiveHub(try configuration(rules: true))
        let b = try await LiveHub(try configuration(rules: false))
        let onA = try SSEClient(port: a.port, path: "/feeds/alerts", headers: ["NGSILD-Tenant": "kurume"])
        let onB = try SSEClient(port: b.port, path: "/feeds/alerts", headers: ["NGSILD-Tenant": "kurume"])
        defer {
            onA.close()
            onB.close()
        }
        try await waitUntil("both feeds answer", timeout: .seconds(120)) { onA.status == 200 && onB.status == 200 }
        func ids(_ client: SSEClient) -> [String] { client.events.compactMap(\.id) }

        // Raised, then cleared, through hub a.
        try await postEntities([Readings.level("r1", 2.5, minutes: 0)], port: a.port, tenant: "kurume")
        try await postEntities([Readings.level("r1", 1.0, minutes: 10)], port: a.port, tenant: "kurume")
        try await waitUntil("hub b's client sees both events", timeout: .seconds(60)) { ids(onB).count >= 2 }
        try await waitUntil("hub a's client sees both events", timeout: .seconds(60)) { ids(onA).count >= 2 }
        #expect(ids(onB) == ["1", "2"])
        #expect(ids(onA) == ["1", "2"], "hub a's own events reach its client once")
        #expect(onB.events.first?.data.contains("\"raised\"") == true)

        // An acknowledgement made through hub b reaches hub a's client.
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(b.port)/alerts/1/acknowledge")!)
        request.httpMethod = "POST"
        request.setValue("kurume", forHTTPHeaderField: "NGSILD-Tenant")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(#"{"by": "duty officer"}"#.utf8)
        let (answer, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200, "\(String(decoding: answer, as: UTF8.self))")
        try await waitUntil("hub a's client sees the acknowledgement", timeout: .seconds(60)) { ids(onA).count >= 3 }
        #expect(ids(onA) == ["1", "2", "3"] && ids(onB) == ["1", "2", "3"])
        await a.stop()
        await b.stop()
    }
}
