import Foundation
import KakehashiAlerts
import KakehashiModel
import KakehashiTestSupport
import KakehashiTraces
import Testing

/// Real recorded days replayed through "level ≥ the gauge's own flood-start level".
struct RiverTraceAlertTests {
    static let tenant = try! Tenant("demo")

    /// The flood stage rule: the level is the gauge's own `dangerLevel` (氾濫開始水位). It stays
    /// up until the river has been 10 cm under that level for 12 hours: the recorded gauges
    /// dip and spike within hours (one storm gauge drops for 3 to 6 hours and comes back).
    static let floodRule = AlertRule(
        id: "river-flood",
        tenant: tenant,
        entityType: "WaterObserved",
        attribute: "waterLevel",
        kind: .threshold(
            Threshold(
                direction: .above,
                stages: [
                    .init(name: "flood", level: .attribute("dangerLevel"), severity: .critical)
                ],
                hysteresis: 0.1,
                raiseAfter: 0,
                clearAfter: 12 * 3_600_000
            )
        ),
        text: .init(event: "River at flood-start level", eventJapanese: "氾濫開始水位到達")
    )

    struct Day {
        let entities: [NGSIEntity]
        /// Computed from the CSV files alone: gauges with a reading at or above their flood level.
        let reached: Set<String>
    }

    static func load(_ name: String) throws -> Day {
        let stationsFile = "river-jp/\(name)-stations.csv", traceFile = "river-jp/\(name).csv"
        let stationsText = try RepositoryPaths.text(RepositoryPaths.trace(stationsFile))
        let traceText = try RepositoryPaths.text(RepositoryPaths.trace(traceFile))
        // Independent of the engine and of the model: plain CSV columns.
        var flood = [String: Double]()
        for line in stationsText.split(separator: "\n").dropFirst() {
            let columns = line.split(separator: ",", omittingEmptySubsequences: false)
            if let level = Double(columns[8].trimmingCharacters(in: .whitespacesAndNewlines)) { flood[String(columns[0])] = level }
        }
        var reached = Set<String>()
        for line in traceText.split(separator: "\n").dropFirst() {
            let columns = line.split(separator: ",")
            if let limit = flood[String(columns[0])], let level = Double(columns[2]), level >= limit { reached.insert(String(columns[0])) }
        }
        let stations = try RiverGaugeStations(text: stationsText, file: stationsFile)
        let trace = try RiverGaugeTrace(text: traceText, file: traceFile)
        let normalized = RiverTraceNormalizer(tenant: tenant, stations: stations).normalize(trace, file: traceFile)
        // Replayed in observation order, as on virtual time.
        let entities = normalized.entities.enumerated()
            .sorted { ($0.element.dateObserved, $0.offset) < ($1.element.dateObserved, $1.offset) }
            .map(\.element.ngsiEntity)
        return Day(entities: entities, reached: reached)
    }

    static func replay(_ day: Day) -> [AlertEvent] {
        var engine = AlertEngine(rules: [floodRule])
        var events = [AlertEvent]()
        for entity in day.entities { events += engine.observe(entity) }
        return events
    }

    @Test func stormRaisesOneFloodAlertPerGaugeThatReachedItsLevel() throws {
        let day = try Self.load("storm-2026-06-02")
        let events = Self.replay(day)
        let raised = events.filter { $0.kind == .raised }
        var perGauge = [String: Int]()
        for event in raised { perGauge[event.entity.localID, default: 0] += 1 }
        #expect(day.reached.count == 78)
        #expect(Set(perGauge.keys) == day.reached)
        #expect(perGauge.values.allSatisfy { $0 == 1 }, "\(perGauge.filter { $0.value > 1 })")
        #expect(raised.allSatisfy { $0.stageName == "flood" && $0.severity == .critical && $0.location != nil })
        // Each raise happened on a reading at or above that gauge's level.
        #expect(raised.allSatisfy { ($0.value ?? -.infinity) >= ($0.level ?? .infinity) })
    }

    /// The recorded calm day is not flat: a few gauges read at or above their flood level
    /// (single spikes on mountain datums, and some sustained readings). The engine raises exactly
    /// for those and no other; a gauge is raised again only after its alert cleared (2000000004
    /// reads under its level from 16:50, reports nothing after 03:50 until 07:50, when it is above
    /// again: its alert clears at 04:50, twelve hours after it went under, and is raised at 07:50).
    @Test func calmDayRaisesOnlyWhereTheRecordReachedTheLevel() throws {
        let day = try Self.load("calm-2025-10-15")
        let events = Self.replay(day)
        let raised = events.filter { $0.kind == .raised }
        #expect(Set(raised.map(\.entity.localID)) == day.reached)
        #expect(day.reached.count < 10)
        for gauge in day.reached {
            let kinds = events.filter { $0.entity.localID == gauge }.map(\.kind)
            #expect(kinds.enumerated().allSatisfy { $0.element == ($0.offset % 2 == 0 ? .raised : .cleared) }, "\(gauge): \(kinds)")
        }
        let twice = events.filter { $0.entity.localID == "2000000004" }.map { "\($0.kind.rawValue)@\($0.at.iso8601)" }
        #expect(twice == ["raised@2025-10-14T15:50:00.000Z", "cleared@2025-10-15T04:50:00.000Z", "raised@2025-10-15T07:50:00.000Z"])
    }

    @Test func replayIsDeterministic() throws {
        let day = try Self.load("storm-2026-06-02")
        #expect(Self.replay(day) == Self.replay(day))
    }
}
