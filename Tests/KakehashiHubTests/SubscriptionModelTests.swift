import KakehashiHubCore
import KakehashiHubTestSupport
import KakehashiModel
import Testing

/// Subscriptions as clients write them (the shape of ETSI GS CIM 009's example), every member
/// checked with the member named, and the endpoint policy against the city's internal network.
@Suite struct SubscriptionModelTests {
    static let now = Timestamp(millisecondsSinceEpoch: 1_780_358_400_000)  // 2026-06-02T00:00:00Z

    /// The spec's example subscription (a vehicle's speed near a point), the point on Earth.
    static let example = """
        {"id":"urn:ngsi-ld:Subscription:mySubscription","type":"Subscription","entities":[{"type":"Vehicle"}],
         "watchedAttributes":["speed"],"q":"speed>50",
         "geoQ":{"georel":"near;maxDistance==2000","geometry":"Point","coordinates":[-1,50]},
         "notification":{"attributes":["speed"],"format":"keyValues","endpoint":{"uri":"http://my.endpoint.org/notify","accept":"application/json"}},
         "@context":["https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"]}
        """

    @Test func theSpecsExampleIsReadAndWrittenBack() throws {
        let subscription = try Subscription(json: JSONValue(parsing: Self.example), now: Self.now)
        #expect(subscription.id == "urn:ngsi-ld:Subscription:mySubscription")
        #expect(subscription.entities == [.init(type: "Vehicle")] && subscription.watchedAttributes == ["speed"] && subscription.q == "speed>50")
        #expect(
            subscription.format == .keyValues && subscription.attributes == ["speed"] && subscription.endpoint.uri == "http://my.endpoint.org/notify"
        )
        #expect(subscription.geoQ?.georel == "near;maxDistance==2000" && subscription.geoQ?.geoproperty == "location")
        // What it writes reads back the same.
        #expect(try Subscription(json: subscription.json, now: Self.now) == subscription)
        // Without an id, one is made.
        let anonymous = try Subscription(
            json: ["type": "Subscription", "watchedAttributes": ["waterLevel"], "notification": ["endpoint": ["uri": "https://h.example/n"]]],
            now: Self.now
        )
        #expect(anonymous.id.hasPrefix("urn:ngsi-ld:Subscription:") && anonymous.format == .normalized && anonymous.isActive)
    }

    @Test func aPatchChangesOnlyWhatItGives() throws {
        var subscription = try Subscription(json: JSONValue(parsing: Self.example), now: Self.now)
        try subscription.update(["q": "speed>80", "notification": ["format": "concise"], "isActive": false], now: Self.now)
        #expect(subscription.q == "speed>80" && subscription.format == .concise && !subscription.isActive && subscription.attributes == ["speed"])
        #expect(throws: SubscriptionError.self) { try subscription.update(["id": "urn:x:1"], now: Self.now) }
        #expect(throws: SubscriptionError.self) { try subscription.update(["timeInterval": 60], now: Self.now) }  // with watchedAttributes
    }

    static let bad: [(String, String)] = [
        (#"{"type":"Subscription","watchedAttributes":["a"]}"#, "notification: is required"),
        (#"{"type":"Sub","watchedAttributes":["a"],"notification":{"endpoint":{"uri":"http://h/n"}}}"#, "type: must be"),
        (#"{"type":"Subscription","notification":{"endpoint":{"uri":"http://h/n"}}}"#, "entities: give entities or watchedAttributes"),
        (
            #"{"type":"Subscription","watchedAttributes":[],"notification":{"endpoint":{"uri":"http://h/n"}}}"#,
            "watchedAttributes: must be a non-empty array"
        ),
        (#"{"type":"Subscription","entities":[{"id":"urn:a:1"}],"notification":{"endpoint":{"uri":"http://h/n"}}}"#, "entities[0].type: is required"),
        (
            #"{"type":"Subscription","entities":[{"type":"T","id":"urn:a:1","idPattern":".*"}],"notification":{"endpoint":{"uri":"http://h/n"}}}"#,
            "not both"
        ),
        (
            #"{"type":"Subscription","entities":[{"type":"T","idPattern":"(["}],"notification":{"endpoint":{"uri":"http://h/n"}}}"#,
            "idPattern: must be a regular expression"
        ),
        (#"{"type":"Subscription","watchedAttributes":["a"],"q":"a>>","notification":{"endpoint":{"uri":"http://h/n"}}}"#, "q:"),
        (
            #"{"type":"Subscription","watchedAttributes":["a"],"geoQ":{"georel":"near","geometry":"Point","coordinates":[1,2]},"notification":{"endpoint":{"uri":"http://h/n"}}}"#,
            "geoQ."
        ),
        (
            #"{"type":"Subscription","watchedAttributes":["a"],"throttling":0,"notification":{"endpoint":{"uri":"http://h/n"}}}"#,
            "throttling: must be a number of seconds above 0"
        ),
        (
            #"{"type":"Subscription","entities":[{"type":"T"}],"timeInterval":60,"throttling":5,"notification":{"endpoint":{"uri":"http://h/n"}}}"#,
            "a periodic subscription has no throttling"
        ),
        (
            #"{"type":"Subscription","watchedAttributes":["a"],"timeInterval":60,"notification":{"endpoint":{"uri":"http://h/n"}}}"#,
            "a periodic subscription has no watchedAttributes"
        ),
        (
            #"{"type":"Subscription","watchedAttributes":["a"],"expiresAt":"2020-01-01T00:00:00Z","notification":{"endpoint":{"uri":"http://h/n"}}}"#,
            "is not in the future"
        ),
        (
            #"{"type":"Subscription","watchedAttributes":["a"],"notification":{"endpoint":{"uri":"ftp://h/n"}}}"#,
            "must be an http(s):// or mqtt(s):// URI"
        ),
        (
            #"{"type":"Subscription","watchedAttributes":["a"],"notification":{"endpoint":{"uri":"http://h/n","accept":"text/plain"}}}"#,
            "accept: is application/json"
        ),
        (
            #"{"type":"Subscription","watchedAttributes":["a"],"notification":{"format":"simple","endpoint":{"uri":"http://h/n"}}}"#,
            "format: is normalized, keyValues or concise"
        ),
        (
            #"{"type":"Subscription","watchedAttributes":["a"],"notification":{"endpoint":{"uri":"mqtt://h/t","notifierInfo":[{"key":"MQTT-QoS","value":"3"}]}}}"#,
            "MQTT-QoS is 0, 1 or 2"
        ),
        (
            #"{"type":"Subscription","watchedAttributes":["a"],"notification":{"endpoint":{"uri":"http://h/n","receiverInfo":[{"key":"X","value":"a\r\nInjected: 1"}]}}}"#,
            "one-line text"
        ),
        (
            #"{"type":"Subscription","watchedAttributes":["a"],"status":"active","notification":{"endpoint":{"uri":"http://h/n"}}}"#,
            "status: is not a member"
        ),
        (
            #"{"type":"Subscription","watchedAttributes":["a"],"isActive":"yes","notification":{"endpoint":{"uri":"http://h/n"}}}"#,
            "isActive: must be true or false"
        ),
    ]

    @Test(arguments: bad)
    func badSubscriptionsNameTheMember(_ body: String, _ words: String) throws {
        let json = try JSONValue(parsing: body)
        #expect(throws: SubscriptionError.self) { try Subscription(json: json, now: Self.now) }
        do { _ = try Subscription(json: json, now: Self.now) } catch { #expect(error.description.contains(words), "\(error)") }
    }

    static let endpoints: [(patterns: [String], uri: String, allowed: Bool)] = [
        (["*"], "https://hooks.city.example.lg.jp/notify", true),
        (["*"], "http://127.0.0.1:8080/x", false),
        (["*"], "http://localhost/x", false),
        (["*"], "http://10.1.2.3/x", false),
        (["*"], "http://172.20.0.5/x", false),
        (["*"], "http://192.168.1.10/x", false),
        (["*"], "http://169.254.169.254/latest/meta-data", false),
        (["*"], "http://[::1]:9000/x", false),
        (["*"], "http://[fd00::5]/x", false),
        (["*"], "http://[::ffff:10.0.0.1]/x", false),
        (["*"], "http://0.0.0.0/x", false),
        (["*"], "mqtt://203.0.113.7:1883/city/alerts", true),
        (["*.city.example.lg.jp"], "https://hooks.city.example.lg.jp/n", true),
        (["*.city.example.lg.jp"], "https://evil.example.com/n", false),
        (["10.1.2.3"], "http://10.1.2.3/x", true),
        (["10.1.2.3:8443"], "https://10.1.2.3:8443/x", true),
        (["10.1.2.3:8443"], "https://10.1.2.3/x", false),
        (["127.0.0.1"], "http://127.0.0.1:18080/receiver", true),
        ([], "https://hooks.city.example.lg.jp/n", false),
    ]

    @Test(arguments: endpoints.indices)
    func endpointsAreAllowedOnlyWhereTheOperatorSays(_ index: Int) {
        let row = Self.endpoints[index]
        let refusal = EndpointPolicy(patterns: row.patterns).refusal(row.uri)
        #expect((refusal == nil) == row.allowed, "\(row.patterns) \(row.uri): \(refusal ?? "allowed")")
    }
}

/// Which changes a subscription is told of, throttling, and the notification body.
@Suite struct SubscriptionMatchingTests {
    static let now = Readings.t0.advanced(byMilliseconds: 3_600_000)

    static func subscription(_ members: String) throws -> Subscription {
        try Subscription(
            json: JSONValue(parsing: #"{"type":"Subscription",\#(members),"notification":{"endpoint":{"uri":"https://h.example/n"}}}"#),
            now: Readings.t0
        )
    }

    struct Row: CustomTestStringConvertible, Sendable {
        let subscription: String
        let entity: NGSIEntity
        let changed: Set<String>?
        let notifies: Bool
        var testDescription: String { "\(subscription) / \(changed.map { $0.sorted().joined(separator: ",") } ?? "created") → \(notifies)" }
    }

    static let gauge = Readings.level("senoshita", 2.5, minutes: 0)  // at 33.3, 130.5
    static let rows: [Row] = [
        .init(subscription: #""entities":[{"type":"WaterObserved"}]"#, entity: gauge, changed: ["waterLevel"], notifies: true),
        .init(subscription: #""entities":[{"type":"CrowdFlowObserved"}]"#, entity: gauge, changed: ["waterLevel"], notifies: false),
        .init(
            subscription: #""entities":[{"type":"WaterObserved","id":"urn:ngsi-ld:WaterObserved:kurume:senoshita"}]"#,
            entity: gauge,
            changed: nil,
            notifies: true
        ),
        .init(
            subscription: #""entities":[{"type":"WaterObserved","id":"urn:ngsi-ld:WaterObserved:kurume:other"}]"#,
            entity: gauge,
            changed: nil,
            notifies: false
        ),
        .init(
            subscription: #""entities":[{"type":"WaterObserved","idPattern":"urn:ngsi-ld:WaterObserved:kurume:se.*"}]"#,
            entity: gauge,
            changed: nil,
            notifies: true
        ),
        .init(subscription: #""entities":[{"type":"WaterObserved","idPattern":"se.*"}]"#, entity: gauge, changed: nil, notifies: false),
        .init(subscription: #""watchedAttributes":["waterLevel"]"#, entity: gauge, changed: ["waterLevel"], notifies: true),
        .init(subscription: #""watchedAttributes":["waterLevel"]"#, entity: gauge, changed: ["name"], notifies: false),
        .init(
            subscription: #""watchedAttributes":["waterLevel"]"#,
            entity: gauge,
            changed: ["waterLevel\u{1F}urn:ngsi-ld:Dataset:radar"],
            notifies: true
        ),
        .init(subscription: #""watchedAttributes":["waterLevel"],"q":"waterLevel>=2.5""#, entity: gauge, changed: ["waterLevel"], notifies: true),
        .init(subscription: #""watchedAttributes":["waterLevel"],"q":"waterLevel>2.5""#, entity: gauge, changed: ["waterLevel"], notifies: false),
        .init(
            subscription:
                #""watchedAttributes":["waterLevel"],"geoQ":{"georel":"near;maxDistance==1000","geometry":"Point","coordinates":[130.5,33.3]}"#,
            entity: gauge,
            changed: ["waterLevel"],
            notifies: true
        ),
        .init(
            subscription:
                #""watchedAttributes":["waterLevel"],"geoQ":{"georel":"near;maxDistance==1000","geometry":"Point","coordinates":[130.6,33.3]}"#,
            entity: gauge,
            changed: ["waterLevel"],
            notifies: false
        ),
        .init(subscription: #""watchedAttributes":["waterLevel"],"isActive":false"#, entity: gauge, changed: ["waterLevel"], notifies: false),
        .init(
            subscription: #""watchedAttributes":["waterLevel"],"expiresAt":"\#(Readings.t0.advanced(byMilliseconds: 1_800_000).iso8601)""#,
            entity: gauge,
            changed: ["waterLevel"],
            notifies: false
        ),
        .init(subscription: #""entities":[{"type":"WaterObserved"}],"timeInterval":60"#, entity: gauge, changed: ["waterLevel"], notifies: false),
    ]

    @Test(arguments: rows)
    func changesNotifyAsTheSubscriptionAsks(_ row: Row) throws {
        let subscription = try Self.subscription(row.subscription)
        #expect(subscription.concerns(row.entity, changed: row.changed, at: Self.now) == row.notifies)
    }

    @Test func throttlingHoldsTheNextNotificationBack() throws {
        let subscription = try Self.subscription(#""watchedAttributes":["waterLevel"],"throttling":30"#)
        let last = Self.now
        #expect(subscription.throttledUntil(lastNotification: nil, now: Self.now) == nil)
        #expect(
            subscription.throttledUntil(lastNotification: last, now: last.advanced(byMilliseconds: 10_000)) == last.advanced(byMilliseconds: 30_000)
        )
        #expect(subscription.throttledUntil(lastNotification: last, now: last.advanced(byMilliseconds: 30_000)) == nil)
    }

    @Test(arguments: Subscription.Format.allCases)
    func theNotificationCarriesTheAttributesAskedInTheFormatAsked(_ format: Subscription.Format) throws {
        let subscription = try Self.subscription(#""watchedAttributes":["waterLevel"]"#)
        var shaped = subscription
        shaped.attributes = ["waterLevel"]
        shaped.format = format
        let body = shaped.notification([Self.gauge], id: "urn:ngsi-ld:Notification:1", at: Self.now)
        #expect(
            body["type"] == "Notification" && body["subscriptionId"] == .string(subscription.id) && body["notifiedAt"] == .string(Self.now.iso8601)
        )
        let entity = try #require(body["data"]?.arrayValue?.first)
        #expect(entity["id"] == "urn:ngsi-ld:WaterObserved:kurume:senoshita" && entity["name"] == nil && entity["location"] == nil)
        switch format {
        case .normalized: #expect(entity["waterLevel"]?["type"] == "Property" && entity["waterLevel"]?["value"] == 2.5)
        case .keyValues: #expect(entity["waterLevel"] == 2.5)
        case .concise: #expect(entity["waterLevel"]?["type"] == nil && entity["waterLevel"]?["value"] == 2.5)
        }
    }

    /// The notification written from entities already serialized (the notifier's path when a
    /// batch notifies many subscriptions) is the same JSON as the one built as a value, whatever
    /// the format, attributes, language and text needing escapes.
    @Test(arguments: Subscription.Format.allCases)
    func theNotificationWrittenAsTextIsTheNotificationBuilt(_ format: Subscription.Format) throws {
        var subscription = try Self.subscription(#""watchedAttributes":["waterLevel"]"#)
        subscription.id = "urn:ngsi-ld:Subscription:\"quoted\"\\"
        subscription.format = format
        var named = Self.gauge
        named.attributes["name"] = .languageProperty(["ja": "瀬ノ下 \"上流\"", "en": "Senoshita"], observedAt: nil)
        let entities = [Self.gauge, named]
        for (attributes, lang) in [(nil, nil), (["waterLevel"], nil), (nil, "ja")] as [([String]?, String?)] {
            subscription.attributes = attributes
            subscription.lang = lang
            #expect(subscription.notifiesPlainJSON)
            let built = subscription.notification(entities, id: "urn:ngsi-ld:Notification:x-1", at: Self.now)
            let text = subscription.notificationText(
                entities.map { subscription.shown($0).serialized() },
                id: "urn:ngsi-ld:Notification:x-1",
                notifiedAt: Self.now.iso8601
            )
            #expect(try JSONValue(parsing: text) == built)
        }
        subscription.endpoint.accept = "application/ld+json"
        #expect(!subscription.notifiesPlainJSON)
    }

    /// A subscription's `lang` shows each LanguageProperty in that language, as a query does.
    @Test(arguments: [("ja", "瀬ノ下", "ja"), ("en-GB", "Senoshita", "en"), ("fr", "Senoshita", "en")])
    func languagePropertiesAreShownInTheSubscriptionsLanguage(_ lang: String, _ text: String, _ tag: String) throws {
        var subscription = try Self.subscription(#""watchedAttributes":["waterLevel"]"#)
        subscription.lang = lang
        var gauge = Self.gauge
        gauge.attributes["name"] = .languageProperty(["ja": "瀬ノ下", "en": "Senoshita"], observedAt: nil)
        let entity = try #require(subscription.notification([gauge], id: "urn:ngsi-ld:Notification:1", at: Self.now)["data"]?.arrayValue?.first)
        #expect(entity["name"]?["value"] == .string(text) && entity["name"]?["lang"] == .string(tag) && entity["name"]?["type"] == "Property")
        subscription.format = .keyValues
        #expect(subscription.notification([gauge], id: "n", at: Self.now)["data"]?.arrayValue?.first?["name"] == .string(text))
    }
}
