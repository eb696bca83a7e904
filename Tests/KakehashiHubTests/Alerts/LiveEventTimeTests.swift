import Foundation
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
import Testing

/// The live hub gives the events `kakehashi-hub rules test` gives for the same readings, whatever
/// order batches are stored in, through a gateway outage, and at any replay speed.
@Suite(.serialized) struct LiveEventTimeTests {
    static let rulesYAML = """
        alerts:
          clock_interval: 100ms
          clock_grace: CLOCK_GRACE
          # The batches are shuffled on purpose; on a loaded test machine the one that fills a gap
          # may take longer than the default 5 s to be stored (30 s: the last gap is waited out once).
          reorder_wait: 30s
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
                let stage = event["stage"]?.numberValue, let at = event["at"]?.stringValue
            else { continue }
            out["\(rule) \(entity)", default: []].append("\(kind):\(Int(stage))@\(at)")
        }
        return out
    }

    /// The storm through MQTT into a hub with two ingest sessions; the gateway's batches published
    /// out of order (neighbours swapped, some three batches late) and a gateway outage mid-storm.
    /// The SSE feed equals the output of `kakehashi-hub rules test` on the same recording, event for
    /// event per rule and gauge, clears included.
    @Test(.timeLimit(.minutes(4)), .enabled(if: SlowTests.enabled, "slow: deploy/test --fast skips it"))
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
        let status = try await RulesCommandTests.run(
            ["rules", "test", "--config", configFile.path, "--stations", stations, "--trace", trace],
            output: output,
            errors: errors
        )
        let summary = try String(contentsOf: errors, encoding: .utf8)
        #expect(status == 0, "\(summary)")
        let command = try String(contentsOf: output, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        let expected = Self.perAlert(command)
        let kinds = Set(command.compactMap { $0["kind"]?.stringValue })
        #expect(command.count > 150 && kinds.isSuperset(of: ["raised", "escalated", "deescalated", "cleared"]), "\(kinds)")

        // The same readings as a gateway sends them: batches of 200 with sequence numbers.
        let tenant = try Tenant("kurume"), gateway = try GatewayID("gw-01")
        let readings = RiverTraceNormalizer(
            tenant: tenant,
            stations: try RiverGaugeStations(text: RepositoryPaths.text(URL(fileURLWithPath: stations)), file: "s")
        )
        .normalize(try RiverGaugeTrace(text: RepositoryPaths.text(URL(fileURLWithPath: trace)), file: "t"), file: "t").entities
        .enumerated().sorted { ($0.element.dateObserved, $0.offset) < ($1.element.dateObserved, $1.offset) }.map(\.element.ngsiEntity)
        var batches = stride(from: 0, to: readings.count, by: 200).map { start in
            try! WireBatch(
                tenant: tenant,
                gateway: gateway,
                entries: (start..<min(start + 200, readings.count)).map {
                    WireBatch.Entry(sequence: UInt64($0 + 1), entity: readings[$0])
                }
            ).payload()
        }
        var random = SeededGenerator(seed: 2026)
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
        #expect(configuration.ingestConsumers == HubConfiguration.defaultIngestConsumers)
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
        try await waitUntil("the first half is stored", timeout: .seconds(60)) {
            (live.hub.registry.value("kakehashi_hub_batches_stored_total") ?? 0) >= Double(half)
        }
        publisher = try MQTTClient(configuration: MQTTConfiguration(host: broker.host, port: broker.port, clientID: "gw-01-test"))
        try await publisher.connect()
        for payload in batches[half...] { try await publisher.publish(topic, payload: payload, qos: .atLeastOnce) }
        await publisher.disconnect()

        // Followed as a client does: a client that lags too far behind is ended and comes back with Last-Event-ID.
        var clients = [feed]
        let deadline = ContinuousClock.now + .seconds(90)
        while true {
            let received = clients.flatMap(\.events)
            if (live.hub.registry.value("kakehashi_hub_alert_events_total") ?? 0) >= Double(command.count), received.count >= command.count { break }
            if clients.last!.ended, let last = received.last?.id {
                // As a browser does, a refused reconnection is tried again a moment later.
                var attempts = 0
                while true {
                    do {
                        clients.append(
                            try SSEClient(port: live.port, path: "/feeds/alerts", headers: ["NGSILD-Tenant": "kurume", "Last-Event-ID": last])
                        )
                        break
                    } catch  where attempts < 50 {
                        attempts += 1
                        print("reconnecting the feed: \(error); trying again (ingest connected: \(ingest.isConnected))")
                        try await Task.sleep(for: .milliseconds(200))
                    }
                }
            }
            guard ContinuousClock.now < deadline else {
                let metrics = ["readings_stored", "alert_late_readings", "alert_too_late_readings", "alert_sequence_gaps", "alert_events"].map {
                    "\($0) \(live.hub.registry.value("kakehashi_hub_\($0)_total") ?? -1)"
                }.joined(separator: ", ")
                Issue.record("after 90 s, \(received.count) of \(command.count) events on the feed; \(metrics)")
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let all = clients.flatMap(\.events)
        #expect(all.compactMap { $0.id.flatMap(Int64.init) } == Array(1...Int64(all.count)))
        let events = all.compactMap { try? JSONValue(parsing: $0.data) }
        let got = Self.perAlert(events)
        let differing = Set(expected.keys).union(got.keys).filter { expected[$0] != got[$0] }.sorted()
        #expect(differing.isEmpty, "\(differing.prefix(3).map { "\($0): expected \(expected[$0] ?? []) got \(got[$0] ?? [])" })")
        #expect(events.count == command.count)
        #expect(!events.contains { $0["late"] == true })
        #expect((live.hub.registry.value("kakehashi_hub_alert_late_readings_total") ?? 0) == 0)
        for client in clients { client.close() }
        await live.stop()
    }

    /// Twenty seconds of recording from three gauges, replayed over HTTP at 1×, 1,000× and
    /// 50,000×: the same events each time, dated in the recording's time (June 2026), with the
    /// durations that end after the last reading decided by the wall clock alone.
    @Test(.timeLimit(.minutes(3)))
    func replaysAtAnySpeedGiveTheSameEventsInTheRecordingsTime() async throws {
        let yaml = """
            storage: { path: DATABASE, sync: normal }
            tenants: { kurume: }
            alerts:
              clock_interval: 100ms
              clock_grace: 500ms
              rules:
                - id: level
                  tenant: kurume
                  type: WaterObserved
                  attribute: waterLevel
                  threshold: { hysteresis: 0.1, raise_after: 2s, clear_after: 3s, stages: [ { name: high, level: 3.0, severity: high } ] }
                - { id: silent, tenant: kurume, type: WaterObserved, stale: { after: 4s, severity: low } }
            """
        let start = try Timestamp(iso8601: "2026-06-01T03:00:00Z")
        // a: above 3.0 from 3 s to 9 s, back under from 10 s (cleared at 13 s); b: a spike too short to raise;
        // c: silent from 6 s to 12 s (stale at 10 s), above from 14 s to its last reading at 20 s.
        func level(_ gauge: String, _ second: Int) -> Double? {
            switch gauge {
            case "a": return (3...9).contains(second) ? 3.2 : 2.5
            case "b": return second == 7 ? 3.5 : 1.0
            default: return (7...11).contains(second) ? nil : (second >= 14 ? 3.05 : 2.0)
            }
        }
        func reading(_ gauge: String, _ second: Int, _ value: Double) -> NGSIEntity {
            try! NGSIEntity(
                id: Readings.gauge(gauge),
                attributes: [
                    "waterLevel": .property(
                        NGSIProperty(try! Quantity(value, .metre), observedAt: start.advanced(byMilliseconds: Int64(second) * 1000))
                    ),
                    "location": .geoProperty(try! GeoPoint(latitude: 33.3, longitude: 130.5), observedAt: nil),
                ]
            )
        }
        let steps = (0...20).map { second in ["a", "b", "c"].compactMap { gauge in level(gauge, second).map { reading(gauge, second, $0) } } }
        let rules = try HubConfiguration.parse(
            yaml: yaml.replacingOccurrences(of: "DATABASE", with: "x.sqlite"),
            file: "hub.yaml",
            baseDirectory: "/"
        ).alerts.rules
        let expected = AlertReplay(rules: rules).run(steps.flatMap { $0 }, until: start.advanced(byMilliseconds: 60_000))
        let describe = { (rule: String, entity: String, kind: String, at: String) in "\(rule) \(entity.split(separator: ":").last!) \(kind)@\(at)" }
        let want = expected.map { describe($0.rule, $0.entity.rawValue, $0.kind.rawValue, $0.at.iso8601) }
        #expect(want.contains("level a raised@2026-06-01T03:00:05.000Z") && want.contains("level a cleared@2026-06-01T03:00:13.000Z"))
        #expect(want.contains("silent c raised@2026-06-01T03:00:10.000Z") && want.contains("level c raised@2026-06-01T03:00:16.000Z"))
        #expect(want.contains("silent a raised@2026-06-01T03:00:24.000Z"), "\(want)")

        for speed in [1.0, 1_000, 50_000] {
            let configuration = try HubConfiguration.parse(
                yaml: yaml.replacingOccurrences(of: "DATABASE", with: Readings.temporaryDatabase()),
                file: "hub.yaml",
                baseDirectory: "/"
            )
            let live = try await LiveHub(configuration)
            let feed = try SSEClient(port: live.port, path: "/feeds/alerts", headers: ["NGSILD-Tenant": "kurume"])
            try await waitUntil("the feed is open", timeout: .seconds(10)) { feed.status == 200 }
            let began = ContinuousClock.now
            for (second, readings) in steps.enumerated() {
                // The replay's pace: the recording's seconds divided by the speed.
                try await Task.sleep(until: began + .seconds(Double(second) / speed))
                try await postEntities(readings, port: live.port, tenant: "kurume")
            }
            try await waitUntil("every event at \(speed)×", timeout: .seconds(30)) { feed.events.count >= expected.count }
            let got = feed.events.compactMap { try? JSONValue(parsing: $0.data) }.compactMap { event -> String? in
                guard let rule = event["rule"]?.stringValue, let entity = event["entity"]?.stringValue, let kind = event["kind"]?.stringValue,
                    let at = event["at"]?.stringValue
                else { return nil }
                return describe(rule, entity, kind, at)
            }
            #expect(
                Set(got) == Set(want) && got.count == want.count,
                "at \(speed)×: extra \(Set(got).subtracting(want)) missing \(Set(want).subtracting(got))"
            )
            feed.close()
            await live.stop()
        }
    }
}
