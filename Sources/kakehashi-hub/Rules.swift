import ArgumentParser
import Foundation
import KakehashiAlerts
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiModel
import KakehashiTraces

/// `kakehashi-hub rules …`
struct Rules: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Work with the alert rules of a hub configuration.",
        subcommands: [TestRules.self]
    )
}

/// `kakehashi-hub rules test --config FILE --stations STATIONS.csv --trace TRACE.csv`
struct TestRules: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Replay a river-gauge trace through the configured alert rules and print the alert events as JSON lines.",
        discussion: """
            The trace is replayed on virtual time: readings in the order they were observed, the rules' clock \
            following their times (stale sensors and minimum durations are decided as they would have been \
            live). Nothing is stored or published. Each event is one JSON object per line on standard output \
            (the same fields as the hub's alert feeds, with "seq" counting from 1); a summary goes to standard \
            error. Exit status 1 when the configuration or the files cannot be read.

            Example:
              kakehashi-hub rules test --config deploy/hub/hub.yaml \\
                --stations simulators/traces/river-jp/storm-2026-06-02-stations.csv \\
                --trace simulators/traces/river-jp/storm-2026-06-02.csv
            """
    )

    @Option(name: .long, help: "The hub configuration file (YAML) with an alerts section.")
    var config: String

    @Option(name: .long, help: "Gauge stations CSV (station_code, name, …, latitude, longitude, start/warn/flood levels).")
    var stations: String

    @Option(name: .long, help: "Readings CSV (station_code, observed_at, level_m).")
    var trace: String

    @Option(name: .long, help: "The tenant the readings belong to (default: the only tenant with rules).")
    var tenant: String?

    @Option(name: .long, help: "Only this rule (by id).")
    var rule: String?

    @Option(name: .long, help: "Only gauges of this prefecture, as the stations file names it (repeatable): the gauges one city's gateway sends.")
    var prefecture: [String] = []

    func run() throws {
        let configuration: HubConfiguration
        do { configuration = try HubConfiguration.load(file: config, secrets: .deferred) } catch {
            throw CommandFailure("\(error.description)")
        }
        var rules = configuration.alerts.rules
        if let rule {
            rules = rules.filter { $0.id == rule }
            guard !rules.isEmpty else {
                throw CommandFailure(
                    "\(config) has no rule '\(rule)' (rules: \(Set(configuration.alerts.rules.map(\.id)).sorted().joined(separator: ", ")))"
                )
            }
        }
        guard !rules.isEmpty else { throw CommandFailure("\(config) has no alert rules (add an alerts: rules: section)") }
        let owner: Tenant
        if let tenant {
            do { owner = try Tenant(tenant, field: "--tenant") } catch { throw CommandFailure(error.description) }
            guard rules.contains(where: { $0.tenant == owner }) else { throw CommandFailure("no rule of \(config) belongs to tenant \(owner)") }
        } else {
            let owners = Set(rules.map(\.tenant))
            guard owners.count == 1, let only = owners.first else {
                throw CommandFailure("rules of several tenants (\(owners.map(\.name).sorted().joined(separator: ", "))): choose one with --tenant")
            }
            owner = only
        }
        let stationsText = try read(stations), traceText = try read(trace)
        let gauges: RiverGaugeStations
        let readings: RiverGaugeTrace
        do {
            gauges = try RiverGaugeStations(text: stationsText, file: stations)
            readings = try RiverGaugeTrace(text: traceText, file: trace)
        } catch {
            throw CommandFailure(error.description)
        }
        var normalized = RiverTraceNormalizer(tenant: owner, stations: gauges).normalize(readings, file: trace)
        if !prefecture.isEmpty {
            let chosen = Set(prefecture)
            let codes = Set(gauges.byCode.values.filter { chosen.contains($0.prefecture) }.map(\.code))
            guard !codes.isEmpty else { throw CommandFailure("no gauge of \(stations) is in prefecture \(prefecture.joined(separator: ", "))") }
            normalized.entities.removeAll { !codes.contains($0.id.localID) }
        }
        for problem in normalized.rejected.prefix(20) { FileHandle.standardError.write(Data("skipped: \(problem)\n".utf8)) }
        if normalized.rejected.count > 20 { FileHandle.standardError.write(Data("skipped: … \(normalized.rejected.count - 20) more\n".utf8)) }
        let entities = normalized.entities.enumerated()
            .sorted { ($0.element.dateObserved, $0.offset) < ($1.element.dateObserved, $1.offset) }
            .map(\.element.ngsiEntity)
        let events = AlertReplay(rules: rules.filter { $0.tenant == owner }).run(entities)
        var out = [UInt8]()
        for (index, event) in events.enumerated() {
            var members = event.jsonMembers
            members["seq"] = .number(Double(index + 1))
            JSONValue.object(members).write(into: &out)
            out.append(0x0A)
            if out.count > 1 << 16 {
                FileHandle.standardOutput.write(Data(out))
                out.removeAll(keepingCapacity: true)
            }
        }
        FileHandle.standardOutput.write(Data(out))
        var kinds = [String: Int]()
        for event in events { kinds[event.kind.rawValue, default: 0] += 1 }
        let alerted = Set(events.filter { $0.kind == .raised }.map(\.entity)).count
        let summary = kinds.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        FileHandle.standardError.write(
            Data(
                """
                \(entities.count) readings of \(Set(entities.map(\.id)).count) gauges (\(normalized.duplicates) repeated, \
                \(normalized.rejected.count) skipped) \
                through \(rules.filter { $0.tenant == owner }.count) rule(s) of \(owner): \(events.count) events \
                (\(summary.isEmpty ? "none" : summary)); \(alerted) entities alerted

                """.utf8
            )
        )
    }

    private func read(_ path: String) throws -> String {
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw CommandFailure("cannot read \(path): \(error.localizedDescription)")
        }
    }
}
