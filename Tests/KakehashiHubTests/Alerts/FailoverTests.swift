import Foundation
import KakehashiHubCore
import KakehashiHubTestSupport
import KakehashiMQTT
import KakehashiModel
import KakehashiTestSupport
import KakehashiTraces
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Three `kakehashi-hub run` processes on one PostgreSQL database and one mosquitto, as an
/// operator runs them, through the storm: one hub is killed with SIGKILL a third of the way in
/// and started again two thirds in. Every reading is stored once; the alert events on the feed
/// are exactly those `kakehashi-hub rules test` gives for the recording, each once, ids without
/// a gap; a feed client moved from the killed hub to another with `Last-Event-ID` misses none
/// and sees none twice.
@Suite(.serialized) struct FailoverTests {
    /// Run on its own (`KAKEHASHI_RUN_FAILOVER_TEST=1 swift test --filter FailoverTests`): under the
    /// whole suite's load on two cores, the killed hub takes long enough to come back that the
    /// others give up waiting for the batches its sessions hold, and some events come out late.
    @Test(
        .timeLimit(.minutes(8)),
        .enabled(if: ProcessInfo.processInfo.environment["KAKEHASHI_RUN_FAILOVER_TEST"] == "1", "run alone: KAKEHASHI_RUN_FAILOVER_TEST=1")
    )
    func threeHubsRaiseEveryAlertOnceThroughAKillAndARestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-failover-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer {
            if let keep = ProcessInfo.processInfo.environment["KAKEHASHI_KEEP_FAILOVER"] {
                try? FileManager.default.removeItem(atPath: keep)
                try? FileManager.default.copyItem(atPath: directory.path, toPath: keep)
            }
            try? FileManager.default.removeItem(at: directory)
        }
        let stations = RepositoryPaths.trace("river-jp/storm-2026-06-02-stations.csv").path
        let trace = RepositoryPaths.trace("river-jp/storm-2026-06-02.csv").path

        // What the rules give for the recording.
        let rulesFile = directory.appendingPathComponent("rules.yaml")
        try LiveEventTimeTests.configurationText(database: directory.appendingPathComponent("rules.sqlite").path, grace: "1h")
            .write(to: rulesFile, atomically: true, encoding: .utf8)
        let output = directory.appendingPathComponent("events.jsonl"), errors = directory.appendingPathComponent("stderr.txt")
        let status = try await RulesCommandTests.run(
            ["rules", "test", "--config", rulesFile.path, "--stations", stations, "--trace", trace],
            output: output,
            errors: errors
        )
        let summary = try String(contentsOf: errors, encoding: .utf8)
        #expect(status == 0, "\(summary)")
        let command = try String(contentsOf: output, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        let expected = LiveEventTimeTests.perAlert(command)
        #expect(command.count > 150)

        // The readings as a gateway sends them: batches of 100 with sequence numbers, in order.
        let tenant = try Tenant("kurume"), gateway = try GatewayID("gw-01")
        let readings = RiverTraceNormalizer(
            tenant: tenant,
            stations: try RiverGaugeStations(text: RepositoryPaths.text(URL(fileURLWithPath: stations)), file: "s")
        )
        .normalize(try RiverGaugeTrace(text: RepositoryPaths.text(URL(fileURLWithPath: trace)), file: "t"), file: "t").entities
        .enumerated().sorted { ($0.element.dateObserved, $0.offset) < ($1.element.dateObserved, $1.offset) }.map(\.element.ngsiEntity)
        let batches = try stride(from: 0, to: readings.count, by: 100).map { start in
            try WireBatch(
                tenant: tenant,
                gateway: gateway,
                entries: (start..<min(start + 100, readings.count)).map { WireBatch.Entry(sequence: UInt64($0 + 1), entity: readings[$0]) }
            ).payload()
        }

        // Values stored once each: a reading has several.
        let values = readings.map { IngestPlan(IngestBatch(tenant: tenant, gateway: nil, entities: [$0], receivedAt: .minimum)).readings.count }
            .reduce(0, +)

        let broker = try TestBroker()
        try broker.start()
        defer { broker.stop() }
        let url = try TestPostgres.shared().createDatabase(prefix: "failover")
        let binary = RepositoryPaths.root.appendingPathComponent(".build/debug/kakehashi-hub").path
        // The rules wait for a gateway's missing batch up to 60 s (the most allowed): the killed hub's sessions hold
        // batches until it is back, after the others took its partitions (over 12 s) and its own
        // start, which on a loaded test machine took over 30 s.
        let rules = LiveEventTimeTests.rulesYAML.replacingOccurrences(of: "CLOCK_GRACE", with: "1h")
            .replacingOccurrences(of: "reorder_wait: 30s", with: "reorder_wait: 60s")
        var files = [String](), ports = [Int]()
        for instance in ["a", "b", "c"] {
            let port = try TestBroker.freePort()
            ports.append(port)
            let file = directory.appendingPathComponent("hub-\(instance).yaml").path
            try """
            instance: \(instance)
            http: { host: 127.0.0.1, port: \(port) }
            storage: { kind: postgres, url: "\(url)", pool_size: 4, path: \(directory.appendingPathComponent("local-\(instance).sqlite").path) }
            broker: { host: 127.0.0.1, port: \(broker.port), client_id: hub-failover, reconnect_max: 500ms }
            tenants: { kurume: { gateways: [gw-01] } }
            access: { require_keys: false }
            \(rules)
            """.write(toFile: file, atomically: true, encoding: .utf8)
            files.append(file)
        }
        func log(_ index: Int, _ run: Int = 0) -> String {
            (try? String(contentsOfFile: directory.appendingPathComponent("hub-\(index)-\(run).log").path, encoding: .utf8)) ?? ""
        }
        func start(_ index: Int, run: Int = 0) throws -> ChildProcess {
            try ChildProcess(
                executable: binary,
                arguments: ["run", "--config", files[index]],
                logFile: directory.appendingPathComponent("hub-\(index)-\(run).log").path
            )
        }
        var hubs = try (0..<3).map { try start($0) }
        defer { for hub in hubs where hub.isRunning { hub.signal(SIGKILL) } }
        for index in 0..<3 {
            try await waitUntil("hub \(index) listens", timeout: .seconds(120)) {
                guard hubs[index].isRunning else { throw TestSupportError("hub \(index) exited: \(log(index))") }
                return TestBroker.accepts(port: ports[index])
            }
        }
        // The hubs share the partitions out before the storm.
        func held(_ indices: Range<Int>) async -> [Double] {
            var values = [Double]()
            for index in indices { values.append(await Self.metric("kakehashi_hub_alert_partitions_held", port: ports[index]) ?? 0) }
            return values
        }
        try await waitFor("every hub holds a share of the rules", timeout: .seconds(120)) {
            let shares = await held(0..<3)
            return shares.allSatisfy { $0 >= 20 } && shares.reduce(0, +) == 64
        }

        // A feed client on the hub that is killed, moved to another when it is cut.
        var clients = [try SSEClient(port: ports[0], path: "/feeds/alerts", headers: ["NGSILD-Tenant": "kurume"])]
        try await waitUntil("the feed answers", timeout: .seconds(120)) { clients[0].status == 200 }

        let topic = WireTopic(tenant: tenant, gateway: gateway, kind: .observations).name
        let publisher = try MQTTClient(configuration: MQTTConfiguration(host: broker.host, port: broker.port, clientID: "gw-01-failover"))
        try await publisher.connect()
        let third = batches.count / 3
        for payload in batches[..<third] { try await publisher.publish(topic, payload: payload, qos: .atLeastOnce) }

        // Hub a dies mid-storm; the others take its partitions.
        hubs[0].signal(SIGKILL)
        _ = await hubs[0].exit()
        for payload in batches[third..<(2 * third)] { try await publisher.publish(topic, payload: payload, qos: .atLeastOnce) }
        do {
            try await waitFor("hubs b and c hold every partition", timeout: .seconds(120)) { await held(1..<3).reduce(0, +) == 64 }
        } catch {
            throw TestSupportError("\(error); hubs b and c hold \(await held(1..<3)); hub b's log ends: \(log(1).suffix(3000))")
        }
        // Hub a comes back (its ingest sessions kept what was sent to them meanwhile).
        hubs[0] = try start(0, run: 1)
        for payload in batches[(2 * third)...] { try await publisher.publish(topic, payload: payload, qos: .atLeastOnce) }
        await publisher.disconnect()

        // Every reading stored once, whichever hub stored it.
        func stored() throws -> Int { Int(try TestPostgres.shared().value("SELECT count(*) FROM observations", url: url)) ?? -1 }
        do {
            try await waitUntil("every reading is stored", timeout: .seconds(180)) { try stored() == values }
        } catch {
            throw TestSupportError(
                "\(error): \(try stored()) of \(values) values; hub a's log after its restart ends: \(log(0, 1).suffix(3000))"
            )
        }
        // The client of the killed hub was cut: it resumes on hub c.
        let deadline = ContinuousClock.now + .seconds(180)
        while true {
            let received = clients.flatMap(\.events)
            if received.count >= command.count { break }
            if clients.last!.ended {
                var headers = ["NGSILD-Tenant": "kurume"]
                if let last = received.last?.id { headers["Last-Event-ID"] = last }
                clients.append(try SSEClient(port: ports[2], path: "/feeds/alerts", headers: headers))
            }
            guard ContinuousClock.now < deadline else {
                let waiting = try? TestPostgres.shared().value(
                    "SELECT count(*) || ' rows waiting; lowest: ' || coalesce(string_agg(partition || '/' || lowest || '-' || highest || ' age ' || ((extract(epoch from clock_timestamp()) * 1000)::int8 - stored), ', '), '') FROM (SELECT * FROM alert_inbox ORDER BY lowest LIMIT 10) w",
                    url: url
                )
                let cursors = try? TestPostgres.shared().value(
                    "SELECT string_agg(partition || ':' || next, ' ' ORDER BY partition) FROM alert_cursors",
                    url: url
                )
                Issue.record("after 180 s, \(received.count) of \(command.count) events on the feed; \(waiting ?? "?"); cursors \(cursors ?? "?")")
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(clients.count >= 2, "the killed hub's client was moved")
        let all = clients.flatMap(\.events)
        #expect(all.compactMap { $0.id.flatMap(Int64.init) } == Array(1...Int64(max(1, all.count))), "ids once each, without a gap")
        let events = all.compactMap { try? JSONValue(parsing: $0.data) }
        let got = LiveEventTimeTests.perAlert(events)
        let differing = Set(expected.keys).union(got.keys).filter { expected[$0] != got[$0] }.sorted()
        #expect(differing.isEmpty, "\(differing.prefix(3).map { "\($0): expected \(expected[$0] ?? []) got \(got[$0] ?? [])" })")
        #expect(events.count == command.count)
        for client in clients { client.close() }
        for hub in hubs {
            hub.signal(SIGTERM)
            _ = await hub.exit()
        }
    }

    /// A metric's value from a hub's `/metrics`.
    static func metric(_ name: String, port: Int) async -> Double? {
        guard let (data, _) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!) else { return nil }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix(name + " ") || line.hasPrefix(name + "{") {
            return Double(line.split(separator: " ").last ?? "")
        }
        return nil
    }
}
