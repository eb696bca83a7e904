import Foundation
import HTTPTypes
import KakehashiAlerts
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiHubTestSupport
import KakehashiMQTT
import KakehashiModel
import KakehashiTestSupport
import KakehashiTraces
import Logging
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Alerts through the hub: rules from the configuration, evaluated on stored batches, kept with
/// their history, acknowledged through the API and published as SSE, CAP, Atom, GeoJSON and MQTT.
@Suite(.serialized) struct HubAlertTests {
    /// Two stages on each gauge: a fixed warning level, then the gauge's own `dangerLevel`.
    static let rulesYAML = """
        alerts:
          zone_offset: "+09:00"
          senders: { kurume: "bousai@city.kurume.example" }
          rules:
            - id: river-stage
              tenant: kurume
              type: WaterObserved
              attribute: waterLevel
              event: { en: River level, ja: 河川水位 }
              cap: { category: Met, radius_km: 2, unit: m }
              threshold:
                direction: above
                hysteresis: 0.1
                stages:
                  - { name: 氾濫注意, level: 2.0, severity: medium }
                  - { name: 氾濫危険, level: dangerLevel, severity: critical }
        """

    static func configuration(path: String = Readings.temporaryDatabase()) throws -> HubConfiguration {
        let yaml = """
            storage: { path: \(path), sync: normal }
            tenants: { kurume: { gateways: [gw-01] }, omuta: { gateways: [gw-om] } }
            \(rulesYAML)
            """
        return try HubConfiguration.parse(yaml: yaml, file: "hub.yaml", baseDirectory: "/")
    }

    static func gauge(_ local: String, _ metres: Double, minutes: Int64, latitude: Double = 33.3) -> NGSIEntity {
        Readings.level(
            local,
            metres,
            minutes: minutes,
            latitude: latitude,
            extra: ["dangerLevel": .property(NGSIProperty(.number(3.0), unitCode: .metre))]
        )
    }

    @Test func alertsAreKeptAcknowledgedAndPublishedAsCAPAtomAndMap() async throws {
        try await HubHarness.withHub(try Self.configuration()) { hub, client in
            #expect(
                try await client.upsert([Self.gauge("g1", 1.0, minutes: 0), Self.gauge("g2", 1.0, minutes: 0, latitude: 34.5)]).status == .created
            )
            #expect(try await client.call(.get, "/alerts").json == .array([]))
            _ = try await client.upsert([Self.gauge("g1", 2.5, minutes: 10)])
            _ = try await client.upsert([Self.gauge("g1", 3.2, minutes: 20)])
            _ = try await client.upsert([Self.gauge("g3", 3.5, minutes: 20, latitude: 33.1)])

            let list = try await client.call(.get, "/alerts").json.arrayValue ?? []
            #expect(list.count == 2)
            let first = try #require(list.first { $0["entity"]?.stringValue == Readings.gauge("g1").rawValue })
            #expect(first["id"] == 1 && first["stage"] == 2 && first["severity"] == "critical" && first["stageName"] == "氾濫危険")
            #expect(first["value"] == 3.2 && first["level"] == 3.0)

            // Acknowledged by an operator: who and when are kept, and it is an event of the feed.
            let ack = try await client.call(.post, "/alerts/1/acknowledge", body: #"{"by":"duty officer 2"}"#)
            #expect(ack.status == .ok)
            #expect(ack.json["kind"] == "acknowledged" && ack.json["by"] == "duty officer 2" && ack.json["id"] == 4)
            #expect(try await client.call(.post, "/alerts/99/acknowledge", body: #"{"by":"x"}"#).status == .notFound)
            #expect(try await client.call(.post, "/alerts/1/acknowledge", body: #"{"who":"x"}"#).problemType == "BadRequestData")
            let shown = try await client.call(.get, "/alerts/1").json
            #expect(shown["acknowledgedBy"] == "duty officer 2" && shown["acknowledgedAt"]?.stringValue != nil)
            #expect(shown["history"]?.arrayValue?.compactMap { $0["kind"]?.stringValue } == ["raised", "escalated", "acknowledged"])
            #expect(shown["history"]?.arrayValue?.compactMap { $0["id"]?.numberValue } == [1, 2, 4])

            // The other tenant sees none of it, and its ids start from 1.
            #expect(try await client.call(.get, "/alerts", tenant: Readings.omuta).json == .array([]))
            #expect(try await client.call(.get, "/alerts/1", tenant: Readings.omuta).status == .notFound)

            // CAP: an Update referencing the raise; then the clear is a Cancel referencing both.
            let update = try await client.call(.get, "/feeds/alerts/1.cap")
            #expect(update.headers[.contentType]?.hasPrefix("application/cap+xml") == true)
            _ = try await client.upsert([Self.gauge("g1", 1.5, minutes: 30)])
            let cancel = try await client.call(.get, "/feeds/alerts/1.cap")
            let raised = try await client.call(.get, "/feeds/alerts/3.cap")
            let atom = try await client.call(.get, "/feeds/alerts.atom")
            #expect(atom.headers[.contentType]?.hasPrefix("application/atom+xml") == true)
            let report = try await CAPValidator.check(messages: [update.text, cancel.text, raised.text], atom: atom.text)
            let messages = report["messages"]?.arrayValue ?? []
            #expect(messages.count == 3)
            for message in messages { #expect(message["valid"] == true, "\(message["errors"] ?? .null)") }
            #expect(messages[0]["msgType"] == "Update" && messages[1]["msgType"] == "Cancel" && messages[2]["msgType"] == "Alert")
            #expect(messages[0]["sender"] == "bousai@city.kurume.example")
            #expect(messages[0]["identifier"] == "urn:kakehashi:kurume:alert-event:2")
            #expect(messages[0]["sent"] == "2026-06-02T09:20:00+09:00")
            #expect(messages[0]["references"] == "bousai@city.kurume.example,urn:kakehashi:kurume:alert-event:1,2026-06-02T09:10:00+09:00")
            #expect(messages[1]["references"]?.stringValue?.split(separator: " ").count == 2)
            let infos = messages[0]["infos"]?.arrayValue ?? []
            #expect(infos.compactMap { $0["language"]?.stringValue } == ["ja-JP", "en-US"])
            #expect(
                infos.allSatisfy {
                    $0["category"] == "Met" && $0["severity"] == "Extreme" && $0["urgency"] == "Immediate" && $0["certainty"] == "Observed"
                }
            )
            #expect(infos.allSatisfy { $0["circle"] == "33.3,130.5 2.0" && $0["areaDesc"] == "gauge g1" })
            #expect(infos[0]["headline"] == "河川水位（氾濫危険）: gauge g1")
            #expect(infos[1]["description"]?.stringValue?.contains("read 3.2 m against a level of 3 m") == true)
            #expect((messages[1]["infos"]?.arrayValue ?? []).allSatisfy { $0["urgency"] == "Past" })
            // The Atom index lists the active alert only (g1 cleared), linking to its CAP message.
            let entries = report["atom"]?["entries"]?.arrayValue ?? []
            #expect(entries.count == 1)
            #expect(entries.first?["href"] == "/feeds/alerts/3.cap?tenant=kurume" && entries.first?["type"] == "application/cap+xml")
            #expect(entries.first?["id"] == "urn:kakehashi:kurume:alert-event:3")
            #expect(try await client.call(.get, "/feeds/alerts/7.cap").status == .notFound)

            // The map: every located entity with its latest value and its alert stage; filters.
            let map = try await client.call(.get, "/feeds/map.geojson")
            #expect(map.headers[.contentType] == "application/geo+json")
            let features = map.json["features"]?.arrayValue ?? []
            #expect(map.json["type"] == "FeatureCollection" && features.count == 3)
            let g3 = try #require(features.first { $0["id"]?.stringValue == Readings.gauge("g3").rawValue })
            #expect(g3["geometry"] == ["type": "Point", "coordinates": [130.5, 33.1]])
            #expect(g3["properties"]?["waterLevel"] == 3.5 && g3["properties"]?["alert"]?["severity"] == "critical")
            let g1 = try #require(features.first { $0["id"]?.stringValue == Readings.gauge("g1").rawValue })
            #expect(g1["properties"]?["alert"] == .null && g1["properties"]?["waterLevel"] == 1.5)
            let south = try await client.call(.get, "/feeds/map.geojson?bbox=130,33,131,34").json["features"]?.arrayValue ?? []
            #expect(Set(south.compactMap { $0["id"]?.stringValue }) == [Readings.gauge("g1").rawValue, Readings.gauge("g3").rawValue])
            #expect((try await client.call(.get, "/feeds/map.geojson?type=CrowdFlowObserved").json["features"]?.arrayValue ?? []).isEmpty)
            #expect(try await client.call(.get, "/feeds/map.geojson?bbox=1,2,3").problemType == "BadRequestData")
            _ = hub
        }
    }

    /// Each alert is also an NGSI-LD `Alert` entity of its tenant (Smart Data Models), changed
    /// with every event and served by the query API like any other entity.
    @Test func eachAlertIsAnAlertEntity() async throws {
        try await HubHarness.withHub(try Self.configuration()) { _, client in
            _ = try await client.upsert([Self.gauge("g1", 1.0, minutes: 0)])
            #expect(try await client.call(.get, "/ngsi-ld/v1/entities?type=Alert").json == .array([]))
            _ = try await client.upsert([Self.gauge("g1", 2.2, minutes: 5)])
            let path = "/ngsi-ld/v1/entities/urn:ngsi-ld:Alert:kurume:1"
            var alert = try await client.call(.get, path).json
            #expect(alert["type"] == "Alert" && alert["category"]?["value"] == "weather" && alert["severity"]?["value"] == "medium", "\(alert)")
            #expect(alert["alertSource"]?["object"]?.stringValue == Readings.gauge("g1").rawValue)
            #expect(alert["dateIssued"]?["value"]?["@value"] == "2026-06-02T00:05:00.000Z", "\(alert)")
            #expect(alert["active"]?["value"] == true && alert["stageName"]?["value"] == "氾濫注意" && alert["validTo"] == nil)
            #expect(alert["location"]?["value"]?["type"] == "Point" && alert["name"]?["value"] == "River level")
            let report = try await SmartDataModelValidator.validate([alert], form: .normalized)
            #expect(report.failures.isEmpty, "\(report.failures)")

            _ = try await client.upsert([Self.gauge("g1", 3.3, minutes: 10)])
            #expect(try await client.call(.get, path).json["severity"]?["value"] == "critical")
            _ = try await client.call(.post, "/alerts/1/acknowledge", body: #"{"by":"duty officer"}"#)
            #expect(try await client.call(.get, path).json["acknowledgedBy"]?["value"] == "duty officer")
            _ = try await client.upsert([Self.gauge("g1", 0.5, minutes: 15)])
            alert = try await client.call(.get, path).json
            #expect(alert["active"]?["value"] == false && alert["validTo"]?["value"]?["@value"] == "2026-06-02T00:15:00.000Z", "\(alert)")
            let listed = try await client.call(.get, "/ngsi-ld/v1/entities?type=Alert&q=active==false").json
            #expect(listed.arrayValue?.compactMap { $0["id"]?.stringValue } == ["urn:ngsi-ld:Alert:kurume:1"])
            #expect(try await client.call(.get, "/ngsi-ld/v1/entities?type=Alert", tenant: Readings.omuta).json == .array([]))
        }
    }

    @Test func eventIDsIncreaseWithoutGapsPerTenantAndSurviveARestart() async throws {
        let path = Readings.temporaryDatabase()
        try await HubHarness.withHub(try Self.configuration(path: path)) { _, client in
            _ = try await client.upsert([Self.gauge("g1", 2.2, minutes: 0)])
            _ = try await client.upsert([Self.gauge("g1", 3.3, minutes: 5)])
        }
        // A new process on the same file: the active alert continues (no second raise for the same
        // level), and the next event takes the next id.
        try await HubHarness.withHub(try Self.configuration(path: path)) { hub, client in
            _ = try await client.upsert([Self.gauge("g1", 3.4, minutes: 10)])
            #expect(try await client.call(.get, "/alerts").json.arrayValue?.count == 1)
            _ = try await client.upsert([Self.gauge("g1", 0.5, minutes: 15)])
            let events = try await hub.store.alertEvents(tenant: Readings.kurume, after: 0, limit: 100)
            #expect(events.map(\.id) == [1, 2, 3])
            #expect(events.map(\.event.kind) == [.raised, .escalated, .cleared])
            #expect(events.allSatisfy { $0.alert == 1 })
            #expect(try await client.call(.get, "/alerts").json == .array([]))
            #expect(try await client.call(.get, "/alerts?state=all").json.arrayValue?.first?["clearedAt"] == "2026-06-02T00:15:00.000Z")
        }
    }

    /// The hub's clock decides staleness without any new message: the gauge's own clock moves on
    /// with the wall clock once it has been silent past the grace, the alert is dated when the gauge
    /// had been silent long enough (by the gauge's time), and the next reading clears it.
    @Test func aSilentGaugeIsRaisedOnTheClockAndClearedByItsNextReading() async throws {
        let yaml = """
            storage: { path: \(Readings.temporaryDatabase()), sync: normal }
            tenants: { kurume: }
            alerts:
              clock_grace: 1m
              rules:
                - { id: silent, tenant: kurume, type: WaterObserved, stale: { after: 10m, severity: low } }
            """
        // The wall clock is months after the readings (a recording replayed): only the time since the reading arrived counts.
        let wall = Mutex(Timestamp(millisecondsSinceEpoch: 1_796_000_000_000))
        let clock: WallClock = { wall.withLock { $0 } }
        @Sendable func wallAfter(minutes: Int64) -> Timestamp { Timestamp(millisecondsSinceEpoch: 1_796_000_000_000 + minutes * 60_000) }
        try await HubHarness.withHub(try HubConfiguration.parse(yaml: yaml, file: "hub.yaml", baseDirectory: "/"), now: clock) { hub, client in
            _ = try await client.upsert([Self.gauge("g1", 1.0, minutes: 0)])
            await hub.alerts.tick(wallAfter(minutes: 10))  // silent 10 min, less the grace: 9 min of gauge time
            #expect(try await client.call(.get, "/alerts").json == .array([]))
            await hub.alerts.tick(wallAfter(minutes: 25))
            let raised = try await client.call(.get, "/alerts").json.arrayValue ?? []
            #expect(raised.count == 1)
            #expect(raised.first?["stageName"] == "stale" && raised.first?["raisedAt"] == "2026-06-02T00:10:00.000Z")
            wall.withLock { $0 = wallAfter(minutes: 30) }
            _ = try await client.upsert([Self.gauge("g1", 1.1, minutes: 30)])
            #expect(try await client.call(.get, "/alerts").json == .array([]))
            let kinds = try await hub.store.alertEvents(tenant: Readings.kurume, after: 0, limit: 10).map(\.event.kind)
            #expect(kinds == [.raised, .cleared])
        }
    }

    /// A gauge in its danger stage that stops reporting: once its `stale` rule raises, its flood
    /// alert says so in the alert list, the alert itself, CAP and the map, with the last reading's time.
    @Test func anActiveAlertOfASilentGaugeSaysItIsStale() async throws {
        let yaml = """
            storage: { path: \(Readings.temporaryDatabase()), sync: normal }
            tenants: { kurume: }
            \(Self.rulesYAML)
                - { id: gauge-silent, tenant: kurume, type: WaterObserved, stale: { after: 30m, severity: low } }
            """
        let wall = Mutex(Timestamp(millisecondsSinceEpoch: 1_796_000_000_000))
        let now: WallClock = { wall.withLock { $0 } }
        try await HubHarness.withHub(try HubConfiguration.parse(yaml: yaml, file: "hub.yaml", baseDirectory: "/"), now: now) { hub, client in
            _ = try await client.upsert([Self.gauge("g1", 3.4, minutes: 0)])
            let before = try #require(try await client.call(.get, "/alerts").json.arrayValue?.first)
            #expect(before["stale"] == nil && before["lastReadingAt"] == "2026-06-02T00:00:00.000Z")
            // Silent for 31 minutes and the grace (60 s): stale, dated 30 minutes after its last reading.
            await hub.alerts.tick(wall.withLock { $0 }.advanced(byMilliseconds: 32 * 60_000))
            let list = try await client.call(.get, "/alerts").json.arrayValue ?? []
            let flood = try #require(list.first { $0["rule"] == "river-stage" })
            #expect(flood["stale"] == true && flood["lastReadingAt"] == "2026-06-02T00:00:00.000Z")
            let silent = try #require(list.first { $0["rule"] == "gauge-silent" })
            #expect(silent["raisedAt"] == "2026-06-02T00:30:00.000Z")
            let id = Int(flood["id"]?.numberValue ?? 0)
            #expect(try await client.call(.get, "/alerts/\(id)").json["stale"] == true)
            let cap = try await client.call(.get, "/feeds/alerts/\(id).cap").text
            #expect(cap.contains("<valueName>stale</valueName>") && cap.contains("<valueName>lastReadingAt</valueName>"))
            #expect(cap.contains("No reading since 2026-06-02T09:00:00+09:00") && cap.contains("以降、観測値が届いていません"))
            let map = try await client.call(.get, "/feeds/map.geojson").json
            let feature = try #require(map["features"]?.arrayValue?.first)
            #expect(feature["properties"]?["alert"]?["stale"] == true && feature["properties"]?["observedAt"] == "2026-06-02T00:00:00.000Z")
            // On the feed: the stale event says so, with the last reading.
            let events = try await hub.store.alertEvents(tenant: Readings.kurume, after: 0, limit: 10).map(\.json)
            let staleEvent = try #require(events.first { $0["rule"] == "gauge-silent" })
            #expect(staleEvent["stale"] == true && staleEvent["lastReadingAt"] == "2026-06-02T00:00:00.000Z")
            // A reading: no longer stale.
            wall.withLock { $0 = $0.advanced(byMilliseconds: 40 * 60_000) }
            _ = try await client.upsert([Self.gauge("g1", 3.3, minutes: 40)])
            let after = try await client.call(.get, "/alerts").json.arrayValue ?? []
            #expect(after.count == 1 && after.first?["stale"] == nil && after.first?["lastReadingAt"] == "2026-06-02T00:40:00.000Z")
        }
    }

    /// The storm replayed over HTTP while a client follows the SSE feed, drops mid-storm, and
    /// comes back with Last-Event-ID: it gets every event once, in order, and the same events the
    /// engine alone decides for the same readings.
    @Test(.timeLimit(.minutes(3)))
    func aClientReconnectingWithLastEventIDGetsEveryEventOnceInOrder() async throws {
        let tenant = Readings.kurume
        let stationsText = try RepositoryPaths.text(RepositoryPaths.trace("river-jp/storm-2026-06-02-stations.csv"))
        let traceText = try RepositoryPaths.text(RepositoryPaths.trace("river-jp/storm-2026-06-02.csv"))
        let stations = try RiverGaugeStations(text: stationsText, file: "stations")
        let trace = try RiverGaugeTrace(text: traceText, file: "trace")
        let readings = RiverTraceNormalizer(tenant: tenant, stations: stations).normalize(trace, file: "trace").entities
            .sorted { $0.dateObserved < $1.dateObserved }.map(\.ngsiEntity)
        let yaml = """
            storage: { path: \(Readings.temporaryDatabase()), sync: normal }
            tenants: { kurume: }
            limits: { max_upsert_entities: 1000, max_body: 4MiB }
            alerts:
              rules:
                - id: river-stage
                  tenant: kurume
                  type: WaterObserved
                  attribute: waterLevel
                  threshold:
                    hysteresis: 0.05
                    stages:
                      - { name: warning, level: alertLevel, severity: high }
                      - { name: flood, level: dangerLevel, severity: critical }
            """
        let configuration = try HubConfiguration.parse(yaml: yaml, file: "hub.yaml", baseDirectory: "/")
        // What the engine alone decides for the same readings in the same batches.
        var engine = AlertEngine(rules: configuration.alerts.rules)
        let batches = stride(from: 0, to: readings.count, by: 500).map { Array(readings[$0..<min($0 + 500, readings.count)]) }
        let perBatch = batches.map { batch in batch.flatMap { engine.observe($0) } }
        let expected = perBatch.flatMap { $0 }
        #expect(expected.count > 150)

        let live = try await LiveHub(configuration)
        let first = try SSEClient(port: live.port, path: "/feeds/alerts", headers: ["NGSILD-Tenant": "kurume"])
        try await waitUntil("the first client is connected", timeout: .seconds(10)) { first.status == 200 }
        #expect(first.headers["content-type"]?.hasPrefix("text/event-stream") == true)
        let half = batches.count / 2
        for batch in batches[..<half] { try await Self.upsert(batch, port: live.port) }
        let firstHalf = perBatch[..<half].reduce(0) { $0 + $1.count }
        #expect(firstHalf > 0 && firstHalf < expected.count)
        try await waitUntil("the first client has the first half's events", timeout: .seconds(30)) { first.events.count >= firstHalf }
        first.close()
        let lastSeen = try #require(first.events.last?.id)
        for batch in batches[half...] { try await Self.upsert(batch, port: live.port) }
        let second = try SSEClient(port: live.port, path: "/feeds/alerts?tenant=kurume", headers: ["Last-Event-ID": lastSeen])
        try await waitUntil("the second client caught up", timeout: .seconds(30)) { second.events.count + first.events.count >= expected.count }
        let all = first.events + second.events
        let ids = all.compactMap { $0.id.flatMap(Int64.init) }
        #expect(ids == Array(1...Int64(expected.count)))
        #expect(second.events.first?.id == String(Int64(lastSeen)! + 1))
        let kinds = all.compactMap { event in (try? JSONValue(parsing: event.data))?["kind"]?.stringValue }
        #expect(kinds == expected.map(\.kind.rawValue))
        let entities = all.compactMap { event in (try? JSONValue(parsing: event.data))?["entity"]?.stringValue }
        #expect(entities == expected.map(\.entity.rawValue))
        second.close()
        await live.stop()
    }

    static func upsert(_ entities: [NGSIEntity], port: Int) async throws {
        try await postEntities(entities, port: port, tenant: "kurume")
    }
}
