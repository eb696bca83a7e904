import HTTPTypes
import HummingbirdTesting
import KakehashiHub
import KakehashiHubCore
import KakehashiHubTestSupport
import KakehashiModel
import Testing

/// `/ngsi-ld/v1/subscriptions`: create, list, read, change and delete, per tenant, kept across a
/// restart of the hub, with the operator's endpoint rule.
@Suite("NGSI-LD subscriptions")
struct SubscriptionsAPITests {
    static let path = "/ngsi-ld/v1/subscriptions"
    static let body = """
        {"id":"urn:ngsi-ld:Subscription:senoshita-high","type":"Subscription","subscriptionName":"瀬ノ下 above alert level",
         "entities":[{"type":"WaterObserved","id":"urn:ngsi-ld:WaterObserved:senoshita"}],"watchedAttributes":["waterLevel"],
         "q":"waterLevel>=4.5","notification":{"attributes":["waterLevel"],"format":"keyValues",
         "endpoint":{"uri":"https://hooks.city.example.lg.jp/kakehashi","accept":"application/json"}},"throttling":60}
        """

    @Test func aSubscriptionIsCreatedListedReadChangedAndDeleted() async throws {
        let path = Readings.temporaryDatabase()
        try await HubHarness.withHub(HubHarness.configuration(path: path)) { _, client in
            let created = try await client.call(.post, Self.path, body: Self.body)
            #expect(created.status == .created, "\(created.text)")
            #expect(created.headers[.location] == "/ngsi-ld/v1/subscriptions/urn:ngsi-ld:Subscription:senoshita-high")
            #expect(try await client.call(.post, Self.path, body: Self.body).status == .conflict)

            let read = try await client.call(.get, "\(Self.path)/urn:ngsi-ld:Subscription:senoshita-high")
            #expect(read.status == .ok && read.json["status"] == "active" && read.json["q"] == "waterLevel>=4.5", "\(read.text)")
            #expect(read.json["notification"]?["format"] == "keyValues" && read.json["notification"]?["timesSent"] == 0)
            #expect(read.json["subscriptionName"] == "瀬ノ下 above alert level" && read.json["createdAt"] != nil)

            let patched = try await client.call(
                .patch,
                "\(Self.path)/urn:ngsi-ld:Subscription:senoshita-high",
                body: #"{"isActive":false,"q":"waterLevel>=5"}"#
            )
            #expect(patched.status == .noContent, "\(patched.text)")
            let list = try await client.call(.get, "\(Self.path)?count=true")
            #expect(list.json.arrayValue?.count == 1 && list.headers[HTTPField.Name("NGSILD-Results-Count")!] == "1")
            #expect(list.json.arrayValue?.first?["status"] == "paused" && list.json.arrayValue?.first?["q"] == "waterLevel>=5")
            // Another tenant sees none of them.
            #expect(try await client.call(.get, Self.path, tenant: Readings.omuta).json == .array([]))
            #expect(try await client.call(.get, "\(Self.path)/urn:ngsi-ld:Subscription:senoshita-high", tenant: Readings.omuta).status == .notFound)
        }
        // Kept in the hub database: a hub started again on it has them.
        try await HubHarness.withHub(HubHarness.configuration(path: path)) { _, client in
            let again = try await client.call(.get, "\(Self.path)/urn:ngsi-ld:Subscription:senoshita-high")
            #expect(again.json["status"] == "paused")
            #expect(try await client.call(.delete, "\(Self.path)/urn:ngsi-ld:Subscription:senoshita-high").status == .noContent)
            #expect(try await client.call(.delete, "\(Self.path)/urn:ngsi-ld:Subscription:senoshita-high").status == .notFound)
            #expect(try await client.call(.get, Self.path).json == .array([]))
        }
    }

    static func subscribing(_ uri: String) -> String {
        #"{"type":"Subscription","watchedAttributes":["waterLevel"],"notification":{"endpoint":{"uri":"\#(uri)"}}}"#
    }

    @Test func endpointsIntoTheCitysNetworkAreRefusedUnlessAllowed() async throws {
        try await HubHarness.withHub { _, client in
            for uri in ["http://127.0.0.1:9000/n", "http://10.0.0.8/n", "http://169.254.169.254/latest", "http://localhost/n"] {
                let refused = try await client.call(.post, Self.path, body: Self.subscribing(uri))
                #expect(
                    refused.status == .badRequest && refused.json["detail"]?.stringValue?.contains("allowed_endpoints") == true,
                    "\(refused.text)"
                )
            }
            #expect(try await client.call(.post, Self.path, body: Self.subscribing("https://hooks.example.org/n")).status == .created)
        }
        var configuration = HubHarness.configuration()
        configuration.allowedEndpoints = ["127.0.0.1", "*.city.example.lg.jp"]
        try await HubHarness.withHub(configuration) { _, client in
            let loopback = try await client.call(.post, Self.path, body: Self.subscribing("http://127.0.0.1:9000/n"))
            #expect(loopback.status == .created, "\(loopback.text)")
            #expect(try await client.call(.post, Self.path, body: Self.subscribing("https://hooks.city.example.lg.jp/n")).status == .created)
            #expect(try await client.call(.post, Self.path, body: Self.subscribing("https://hooks.example.org/n")).status == .badRequest)
        }
        let yaml =
            "storage: { path: hub.sqlite }\ntenants: { kurume: }\nsubscriptions: { allowed_endpoints: [ \"*.city.example.lg.jp\", \"10.0.0.8:8443\" ] }\n"
        #expect(
            try HubConfiguration.parse(yaml: yaml, file: "hub.yaml", baseDirectory: "/tmp").allowedEndpoints == [
                "*.city.example.lg.jp", "10.0.0.8:8443",
            ]
        )
    }

    @Test func badSubscriptionsAreProblemDetailsNamingTheMember() async throws {
        try await HubHarness.withHub { _, client in
            let missing = try await client.call(.post, Self.path, body: #"{"type":"Subscription","watchedAttributes":["a"]}"#)
            #expect(missing.status == .badRequest && missing.problemType == "BadRequestData")
            #expect(missing.json["detail"]?.stringValue?.hasPrefix("notification:") == true, "\(missing.text)")
            #expect(try await client.call(.get, "\(Self.path)/urn:ngsi-ld:Subscription:none").status == .notFound)
            #expect(try await client.call(.patch, "\(Self.path)/urn:ngsi-ld:Subscription:none", body: "{}").status == .notFound)
        }
    }
}
