import Foundation
import KakehashiAlerts
import KakehashiConfig
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiModel
import KakehashiTestSupport
import KakehashiTraces
import Testing

/// `kakehashi-hub rules test` and the alerts section of the configuration.
struct RulesCommandTests {
    static let sample = RepositoryPaths.root.appendingPathComponent("deploy/hub/hub.yaml").path

    @Test func theSampleConfigurationDefinesEveryKindOfRule() throws {
        let alerts = try HubConfiguration.load(file: Self.sample, environment: [:]).alerts
        #expect(alerts.rules.map(\.id) == ["river-stage", "river-rise", "gauge-silent", "crowd-station-east", "tag-absent"])
        #expect(alerts.offsetSeconds == 9 * 3600 && alerts.clockInterval == .seconds(5) && alerts.publishMQTT)
        #expect(alerts.sender(try Tenant("kurume")) == "bousai@city.kurume.example")
        #expect(alerts.sender(try Tenant("omuta")) == "kakehashi-hub@omuta")
        guard case .threshold(let stage) = alerts.rules[0].kind else { Issue.record("river-stage is a threshold"); return }
        #expect(stage.stages.map(\.level) == [.attribute("alertLevel"), .attribute("dangerLevel")])
        #expect(stage.hysteresis == 0.1 && stage.clearAfter == 30 * 60_000)
        #expect(alerts.rules[1].kind == .rateOfChange(RateOfChange(window: 30 * 60_000, change: 0.3, severity: .high, clearAfter: 30 * 60_000)))
        #expect(alerts.rules[2].kind == .stale(after: 30 * 60_000, severity: .low))
        #expect(alerts.rules[3].area == GeoBox(south: 33.30, west: 130.50, north: 33.34, east: 130.55))
        #expect(alerts.rules[3].publishing.category == .safety)
        #expect(alerts.rules[4].kind == .absence(after: 10 * 60_000, severity: .high))
    }

    @Test func badRulesAreReportedWithTheirLineAndKey() {
        let yaml = """
            storage: { path: hub.sqlite }
            tenants: { kurume: }
            alerts:
              zone_offset: "+9"
              rules:
                - id: a
                  tenant: nowhere
                  type: WaterObserved
                  attribute: waterLevel
                  threshold: { stages: [ { name: x, level: 2, severity: extreme } ] }
                - id: b
                  tenant: kurume
                  type: WaterObserved
                  attribute: waterLevel
                  rate: { window: 30m, change: 0, severity: high }
                  stale: { after: 5m, severity: low }
            """
        do {
            _ = try HubConfiguration.parse(yaml: yaml, file: "hub.yaml", baseDirectory: "/tmp")
            Issue.record("the configuration was accepted")
        } catch {
            let lines = error.description.split(separator: "\n").map(String.init)
            #expect(lines.contains { $0.contains("alerts.zone_offset") && $0.contains("'+9' is not a zone offset") }, "\(lines)")
            #expect(
                lines.contains { $0.hasPrefix("hub.yaml:7:") && $0.contains("alerts.rules[0].tenant: nowhere is not one of the tenants") },
                "\(lines)"
            )
            #expect(lines.contains { $0.contains("severity") && $0.contains("'extreme' is not a severity") }, "\(lines)")
            #expect(lines.contains { $0.contains("alerts.rules[1]") && $0.contains("exactly one of threshold, rate, stale or absent") }, "\(lines)")
        }
    }

    /// The command replays the storm through the sample's rules: the same events as the engine
    /// replaying the same readings, one JSON line each.
    @Test(.timeLimit(.minutes(2)))
    func rulesTestPrintsTheReplayedEventsAsJSONLines() async throws {
        let stations = RepositoryPaths.trace("river-jp/storm-2026-06-02-stations.csv").path
        let trace = RepositoryPaths.trace("river-jp/storm-2026-06-02.csv").path
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-rules-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("events.jsonl"), errors = directory.appendingPathComponent("stderr.txt")
        let status = try await Self.run(
            ["rules", "test", "--config", Self.sample, "--tenant", "kurume", "--stations", stations, "--trace", trace],
            output: output,
            errors: errors
        )
        let summary = try String(contentsOf: errors, encoding: .utf8)
        #expect(status == 0, "\(summary)")
        let lines = try String(contentsOf: output, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }

        let configuration = try HubConfiguration.load(file: Self.sample, environment: [:])
        let tenant = try Tenant("kurume")
        let normalized = RiverTraceNormalizer(
            tenant: tenant,
            stations: try RiverGaugeStations(text: RepositoryPaths.text(URL(fileURLWithPath: stations)), file: "s")
        )
        .normalize(try RiverGaugeTrace(text: RepositoryPaths.text(URL(fileURLWithPath: trace)), file: "t"), file: "t")
        let entities = normalized.entities.enumerated()
            .sorted { ($0.element.dateObserved, $0.offset) < ($1.element.dateObserved, $1.offset) }.map(\.element.ngsiEntity)
        let expected = AlertReplay(rules: configuration.alerts.rules.filter { $0.tenant == tenant }).run(entities)
        #expect(lines.count == expected.count && expected.count > 100)
        #expect(lines.compactMap { $0["seq"]?.numberValue } == (1...expected.count).map(Double.init))
        #expect(lines.compactMap { $0["kind"]?.stringValue } == expected.map(\.kind.rawValue))
        #expect(lines.compactMap { $0["entity"]?.stringValue } == expected.map(\.entity.rawValue))
        let rules = Set(lines.compactMap { $0["rule"]?.stringValue })
        #expect(rules.contains("river-stage") && rules.isSubset(of: Set(configuration.alerts.rules.map(\.id))))
        #expect(summary.contains("readings of") && summary.contains("events"))

        // A clear error for a rule that does not exist.
        let missing = try await Self.run(
            ["rules", "test", "--config", Self.sample, "--rule", "nope", "--stations", stations, "--trace", trace],
            output: output,
            errors: errors
        )
        #expect(missing == 1)
        #expect(try String(contentsOf: errors, encoding: .utf8).contains("has no rule 'nope'"))
    }

    /// Runs the hub executable (posix_spawn, as the other tests' processes: Foundation's
    /// `Process.run` was seen to crash in a full run); waits on a thread of its own.
    static func run(_ arguments: [String], output: URL, errors: URL) async throws -> Int32 {
        try Data().write(to: output)
        try Data().write(to: errors)
        let child = try ChildProcess(
            executable: RepositoryPaths.root.appendingPathComponent(".build/debug/kakehashi-hub").path,
            arguments: arguments,
            logFile: output.path,
            errorFile: errors.path
        )
        let status = await child.exit()
        // The exit code of a normal exit (the raw wait status otherwise).
        return status & 0x7f == 0 ? (status >> 8) & 0xff : status
    }
}
