import Foundation
import KakehashiAlerts
import KakehashiHub
import KakehashiModel
import KakehashiMQTT
import KakehashiTestSupport
import KakehashiTraces
import Logging
import Testing

/// The live hub gives the events `kakehashi-hub rules test` gives for the same readings, whatever
/// order batches are stored in, through a gateway outage, and at any replay speed.
@Suite(.serialized) struct LiveEventTimeTests {
    static let rulesYAML = """
        alerts:
          clock_interval: 100ms
          clock_grace: CLOCK_GRACE
          rules:
            - id: river-stage
              tenant: kurume
              type: WaterObserved
              attribute: waterLevel
              threshold:
                hysteresis: 0.1
                clear_after: 30m
                stages:
                  - { name: 氾濫注意, level: alertLevel, severity: high }
                  - { name: 氾濫危険, level: dangerLevel, severity: critical }
            - id: river-rise
              tenant: kurume
              type: WaterObserved
              attribute: waterLevel
              rate: { window: 30m, change: 0.3, severity: high, clear_after: 30m }
            - id: gauge-silent
              tenant: kurume
              type: WaterObserved
              stale: { after: 60m, severity: low }
        """

    static func configurationText(database: String, grace: String) -> String {
        """
        storage: { path: \(database), sync: normal }
        tenants: { kurume: { gateways: [gw-01] } }
        \(rulesYAML.replacingOccurrences(of: "CLOCK_GRACE", with: grace))
        """
    }

    /// "rule entity" → ["kind:stage@at", …] from JSON events (the feed's or the command's).
    static func perAlert(_ events: [JSONValue]) -> [String: [String]] {
        var out = [String: [String]]()
        for event in events {
            guard let rule = event["rule"]?.stringValue, let entity = event["entity"]?.stringValue, let kind = event["kind"]?.stringValue,
                  let stage = event["stage"]?.numberValue, let at = event["at"]?.stringValue else { continue }
            out["\(rule) \(entity)", default: []].append("\(kind):\(Int(stage))@\(at)")
        }
        return out
    }

    /// The storm through MQTT into a hub with two ingest sessions; the gateway's batches published
    /// out of order (neighbours swapped, some three batches late) and a gateway outage mid-storm.
    /// The SSE feed equals the output of `kakehashi-hub rules test` on the same recording, event for
    /// event per rule and gauge, clears included.
    @Test(.timeLimit(.minutes(4)))
    func theStormThroughTheLiveHubEqualsRulesTest() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-live-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let stations = RepositoryPaths.trace("river-jp/storm-2026-06-02-stations.csv").path
        let trace = RepositoryPaths.trace("river-jp/storm-2026-06-02.csv").path
        // The wall time of this test must not move any gauge on: a grace of an hour.
        let text = Self.configurationText(database: directory.appendingPathComponent("hub.sqlite").path, grace: "1h")
        let configFile = directory.appendingPathComponent("hub.yaml")
        try text.write(to: configFile, atomically: true, encoding: .utf8)

        // What the command gives.
        let output = directory.appendingPathComponent("events.jsonl"), errors = directory.appendingPathComponent("stderr.txt")
        let status = try await RulesCommandTests.run(["rules", "test", "--config", configFile.path, "--stations", stations, "--trace", trace],
                                                     output: output, errors: errors)
        let summary = try String(contentsOf: errors, encoding: .utf8)
        #expect(status == 0, "\(summary)")
        let command = try String(contentsOf: output, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        let expected = Self.perAlert(command)
        let kinds = Set(command.compactMap { $0["kind"]?.stringValue })
        #expect(command.count > 150 && kinds.isSuperset(of: ["raised", "escalated", "deescalated", "cleared"]), "\(kinds)")

        // The same readings as a gateway sends them: batches of 200 with sequence numbers.
        let tenant = try Tenant("kurume"), gateway = try GatewayID("gw-01")
        let readings = RiverTraceNormalizer(tenant: tenant, stations: try RiverGaugeStations(text: RepositoryPaths.text(URL(fileURLWithPath: stations)), file: "s"))
            .normalize(try RiverGaugeTrace(text: RepositoryPaths.text(URL(fileURLWithPath: trace)), file: "t"), file: "t").entities
            .enumerated().sorted { ($0.element.dateObserved, $0.offset) < ($1.element.dateObserved, $1.offset) }.map(\.element.ngsiEntity)
        var batches = stride(from: 0, to: readings.count, by: 200).map { start in
            try! WireBatch(tenant: tenant, gateway: gateway, entries: (start..<min(start + 200, readings.count)).map {
                WireBatch.Entry(sequence: UInt64($0 + 1), entity: readings[$0])
            }).payload()
        }
        var random = SeededGenerator(state: 2026)
        var index = 0
        while index + 1 < batches.count {
            if Bool.random(using: &random) { batches.swapAt(index, index + 1) }
            index += 2
        }
        for index in stride(from: 5, to: batches.count - 4, by: 9) { batches.insert(batches.remove(at: index), at: index + 3) }

        let broker = try TestBroker()
        try broker.start()
        defer { broker.stop() }
        var configuration = try HubConfiguration.parse(yaml: text, file: "hub.yaml", baseDirectory: directory.path)
        configuration.broker = MQTTConfiguration(host: broker.host, port: broker.port, clientID: "hub-live-\(UUID().uuidString.prefix(6))")
        #expect(configuration.ingestConsumers == 2)
        let live = try await LiveHub(configuration)
        let ingest = try #require(live.hub.ingest)
        try await waitUntil("the hub is connected", timeout: .seconds(30)) { ingest.isConnected }
        let feed = try SSEClient(port: live.port, path: "/feeds/alerts", headers: ["NGSILD-Tenant": "kurume"])
        try await waitUntil("the feed is open", timeout: .seconds(10)) { feed.status == 200 }

        let topic = WireTopic(tenant: tenant, gateway: gateway, kind: .observations).name
        let half = batches.count / 2
        var publisher = try MQTTClient(configuration: MQTTConfiguration(host: broker.host, port: broker.port, clientID: "gw-01-test"))
        try await publisher.connect()
        for payload in batches[..<half] { try await publisher.publish(topic, payload: payload, qos: .atLeastOnce) }
        // The gateway goes away for a while; its backlog comes in one burst when it is back.
        await publisher.disconnect()
        let firstHalf = batches[..<half].reduce(0) { count, payload in count + ((try? WireBatch(payload: payload))?.entries.count ?? 0) }
        try await waitUntil("the first half is stored", timeout: .seconds(60)) { (live.hub.registry.value("kakehashi_hub_readings_stored_total") ?? 0) >= Double(firstHalf) }
        publisher = try MQTTClient(configuration: MQTTConfiguration(host: broker.host, port: broker.port, clientID: "gw-01-test"))
        try await publisher.connect()
        for payload in batches[half...] { try await publisher.publish(topic, payload: payload, qos: .atLeastOnce) }
        await publisher.disconnect()

        try await waitUntil("every reading is stored and every event is on the feed", timeout: .seconds(90)) {
            (live.hub.registry.value("kakehashi_hub_readings_stored_total") ?? 0) >= Double(readings.count) && feed.events.count >= command.count
        }
        let events = feed.events.compactMap { try? JSONValue(parsing: $0.data) }
        let got = Self.perAlert(events)
        let differing = Set(expected.keys).union(got.keys).filter { expected[$0] != got[$0] }.sorted()
        #expect(differing.isEmpty, "\(differing.prefix(3).map { "\($0): expected \(expected[$0] ?? []) got \(got[$0] ?? [])" })")
        #expect(events.count == command.count)
        #expect(!events.contains { $0["late"] == true })
        #expect((live.hub.registry.value("kakehashi_hub_alert_late_readings_total") ?? 0) == 0)
        feed.close()
        await live.stop()
    }
}
