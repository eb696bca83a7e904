import KakehashiAlerts
import KakehashiModel
import KakehashiTestSupport
import Testing

/// The engine decides on the readings' own times, per entity: arrival order, batching, other
/// entities and replay speed change nothing.
struct EventTimeTests {
    static let city = try! Tenant("kurume")
    static let t0 = Timestamp(millisecondsSinceEpoch: 1_780_272_000_000)  // 2026-06-01T00:00Z
    static let minute: Int64 = 60_000

    static func at(_ minutes: Int64) -> Timestamp { t0.advanced(byMilliseconds: minutes * minute) }

    static func reading(_ gauge: String, _ minute: Int64, _ level: Double) -> NGSIEntity {
        try! NGSIEntity(
            id: EntityID(type: "WaterObserved", tenant: city, localID: gauge),
            attributes: [
                "waterLevel": .property(NGSIProperty(.number(level), observedAt: at(minute))),
                "alertLevel": .property(NGSIProperty(.number(3.0))),
                "dangerLevel": .property(NGSIProperty(.number(4.0))),
                "location": .geoProperty(try! GeoPoint(latitude: 33.3, longitude: 130.5), observedAt: nil),
            ]
        )
    }

    /// The sample configuration's river rule: stages at each gauge's own levels, 10 cm of
    /// hysteresis, cleared after 30 minutes back under.
    static let river = AlertRule(
        id: "river-stage",
        tenant: city,
        entityType: "WaterObserved",
        attribute: "waterLevel",
        kind: .threshold(
            Threshold(
                direction: .above,
                stages: [
                    .init(name: "warning", level: .attribute("alertLevel"), severity: .high),
                    .init(name: "flood", level: .attribute("dangerLevel"), severity: .critical),
                ],
                hysteresis: 0.1,
                raiseAfter: 0,
                clearAfter: 30 * minute
            )
        )
    )
    static let silent = AlertRule(
        id: "gauge-silent",
        tenant: city,
        entityType: "WaterObserved",
        attribute: "waterLevel",
        kind: .stale(after: 60 * minute, severity: .medium)
    )
    static let rising = AlertRule(
        id: "river-rising",
        tenant: city,
        entityType: "WaterObserved",
        attribute: "waterLevel",
        kind: .rateOfChange(RateOfChange(window: 30 * minute, change: 0.5, severity: .high, clearAfter: 20 * minute))
    )
    static let held = AlertRule(
        id: "river-held",
        tenant: city,
        entityType: "WaterObserved",
        attribute: "waterLevel",
        kind: .threshold(
            Threshold(
                direction: .above,
                stages: [
                    .init(name: "warning", level: .constant(3.5), severity: .high)
                ],
                hysteresis: 0.05,
                raiseAfter: 25 * minute,
                clearAfter: 45 * minute
            )
        )
    )

    static func describe(_ event: AlertEvent) -> String {
        "\(event.rule) \(event.entity.localID) "
            + "\(event.kind.rawValue):\(event.stage)@\((event.at.millisecondsSinceEpoch - t0.millisecondsSinceEpoch) / 1000)s"
    }

    /// Events per (rule, entity), in the order given: what must not depend on arrival.
    static func perAlert(_ events: [AlertEvent]) -> [String: [String]] {
        Dictionary(grouping: events) { "\($0.rule) \($0.entity.localID)" }.mapValues { $0.map(describe) }
    }

    @Test func aLateReadingAboveItsLevelRaisesAndClearsWhereItBelongs() {
        // The case: the 21:20 reading (under the level) is stored before the 20:20 one (above it).
        var engine = AlertEngine(rules: [Self.river])
        #expect(engine.observe(Self.reading("g1", 20 * 60, 2.0)).isEmpty)
        #expect(engine.observe(Self.reading("g1", 21 * 60 + 20, 2.0)).isEmpty)
        #expect(engine.observe(Self.reading("g1", 22 * 60, 2.1)).isEmpty)
        let late = engine.observe(Self.reading("g1", 20 * 60 + 20, 4.2))
        #expect(late.map(Self.describe) == ["river-stage g1 raised:2@73200s", "river-stage g1 cleared:0@78600s"])  // 20:20, 21:50
        #expect(late.allSatisfy { $0.late })
        #expect(engine.lateReadings == 1 && engine.active.isEmpty)
        // The same readings in order give the same events, not late.
        let ordered: [(Int64, Double)] = [(20 * 60, 2.0), (20 * 60 + 20, 4.2), (21 * 60 + 20, 2.0), (22 * 60, 2.1)]
        let inOrder = AlertReplay(rules: [Self.river]).run(ordered.map { Self.reading("g1", $0.0, $0.1) })
        #expect(inOrder.map(Self.describe) == late.map(Self.describe))
        #expect(!inOrder.contains { $0.late })
    }

    @Test func aClearIsDatedWhenItsDurationRunsOutNotAtTheNextReadingOfAnyGauge() {
        // g1 goes under its level minus hysteresis at 06:53 and reports again only at 08:30; g2 reports throughout.
        let points: [(Int64, Double)] = [(6 * 60, 4.3), (6 * 60 + 53, 3.85), (8 * 60 + 30, 3.8)]
        let g1 = points.map { Self.reading("g1", $0.0, $0.1) }
        let g2 = stride(from: Int64(6 * 60), through: 9 * 60, by: 7).map { Self.reading("g2", $0, 1.0) }
        let alone = AlertReplay(rules: [Self.river]).run(g1).map(Self.describe)
        let together = AlertReplay(rules: [Self.river]).run(g1 + g2).map(Self.describe)
        // Cleared from flood to warning at 07:23 (06:53 + 30 min), not at 08:30 nor at another gauge's reading.
        #expect(alone == ["river-stage g1 raised:2@21600s", "river-stage g1 deescalated:1@26580s"])
        #expect(together == alone)
    }

    @Test func minimumDurationsAndStalenessEndAtTheirExactInstant() {
        var engine = AlertEngine(rules: [Self.held, Self.silent])
        #expect(engine.observe(Self.reading("g1", 0, 3.6)).isEmpty)
        // The next reading is an hour later: raised at 25 min (held), stale at 60 min, cleared by the reading.
        let events = engine.observe(Self.reading("g1", 70, 3.4)).map(Self.describe)
        #expect(events == ["river-held g1 raised:1@1500s", "gauge-silent g1 raised:1@3600s", "gauge-silent g1 cleared:0@4200s"])
        // 3.4 is under 3.5 − 0.05: cleared 45 minutes later, on the clock alone.
        #expect(engine.advance(to: Self.at(114)).isEmpty)
        #expect(engine.advance(to: Self.at(115)).map(Self.describe) == ["river-held g1 cleared:0@6900s"])
    }

    @Test func theWallClockMovesOnlySilentEntitiesAndOnlyByTheTimeSinceTheirLastReading() {
        var engine = AlertEngine(rules: [Self.silent])
        // A recording of last June replayed today: the wall clock is far ahead of the readings' times.
        let wall = Timestamp(millisecondsSinceEpoch: 1_796_000_000_000)
        #expect(engine.observe(Self.reading("g1", 0, 1.0), arrivedAt: wall).isEmpty)
        #expect(engine.advance(wall: wall.advanced(byMilliseconds: 5_000), grace: 60_000).isEmpty)
        #expect(engine.advance(wall: wall.advanced(byMilliseconds: 60 * Self.minute), grace: 60_000).isEmpty)
        // Silent for an hour and the grace: stale, dated by the gauge's own time (its reading + 60 min).
        let stale = engine.advance(wall: wall.advanced(byMilliseconds: 61 * Self.minute), grace: 60_000)
        #expect(stale.map(Self.describe) == ["gauge-silent g1 raised:1@3600s"])
    }

    /// Values exactly at a level, exactly `hysteresis` under it, and one centimetre either side,
    /// for levels whose binary representation is inexact: decided in decimal.
    @Test(arguments: ["4.61", "13.58", "0.3", "1.1", "7.7", "100.01"])
    func boundaries(level text: String) {
        let level = Double(text)!
        let cm = Int64((level * 100).rounded())
        func metres(_ centimetres: Int64) -> Double { Double("\(centimetres / 100).\(format2(centimetres % 100))")! }
        func format2(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let rule = AlertRule(
            id: "edge",
            tenant: Self.city,
            entityType: "WaterObserved",
            attribute: "waterLevel",
            kind: .threshold(
                Threshold(
                    direction: .above,
                    stages: [.init(name: "flood", level: .constant(level), severity: .critical)],
                    hysteresis: 0.1
                )
            )
        )
        func run(_ values: [Double]) -> [String] {
            AlertReplay(rules: [rule]).run(values.enumerated().map { Self.reading("g", Int64($0.offset * 10), $0.element) }).map {
                "\($0.kind.rawValue)"
            }
        }
        #expect(run([metres(cm - 1)]) == [], "one centimetre under \(text) raises nothing")
        #expect(run([metres(cm)]) == ["raised"], "exactly \(text) raises")
        #expect(run([metres(cm), metres(cm - 10)]) == ["raised"], "exactly 10 cm under \(text) is not yet back")
        #expect(run([metres(cm), metres(cm - 11)]) == ["raised", "cleared"], "11 cm under \(text) is back")
        #expect(run([metres(cm), metres(cm - 9)]) == ["raised"], "9 cm under \(text) stays")
        let below = AlertRule(
            id: "low",
            tenant: Self.city,
            entityType: "WaterObserved",
            attribute: "waterLevel",
            kind: .threshold(
                Threshold(
                    direction: .below,
                    stages: [.init(name: "dry", level: .constant(level), severity: .low)],
                    hysteresis: 0.1
                )
            )
        )
        let low = AlertReplay(rules: [below])
        #expect(low.run([metres(cm), metres(cm + 10)].enumerated().map { Self.reading("g", Int64($0.offset), $0.element) }).map(\.kind) == [.raised])
        #expect(
            low.run([metres(cm), metres(cm + 11)].enumerated().map { Self.reading("g", Int64($0.offset), $0.element) }).map(\.kind) == [
                .raised, .cleared,
            ]
        )
    }

    // MARK: Any arrival order

    /// Six gauges, 10-minute readings for a day, a random walk that crosses both levels.
    static func trace(seed: UInt64) -> [NGSIEntity] {
        var random = SeededGenerator(seed: seed)
        var readings = [NGSIEntity]()
        for gauge in 0..<6 {
            var level = Double.random(in: 2.0...3.5, using: &random)
            var minute: Int64 = 0
            while minute < 24 * 60 {
                level = max(0.5, min(5.0, level + Double(Int.random(in: -25...27, using: &random)) / 100))
                readings.append(reading("g\(gauge)", minute, (level * 100).rounded() / 100))
                // Mostly every 10 minutes, sometimes silent for up to two hours.
                minute += Int.random(in: 0..<30, using: &random) == 0 ? Int64.random(in: 60...120, using: &random) : 10
            }
        }
        return readings
    }

    static let rules = [river, silent, rising, held]

    @Test(arguments: 1...25)
    func anyInterleavingOfEntitiesAndAnyBatchingGivesTheSameEvents(seed: Int) {
        let readings = Self.trace(seed: UInt64(seed))
        let expected = Self.perAlert(AlertReplay(rules: Self.rules).run(readings))
        #expect(expected.values.reduce(0) { $0 + $1.count } > 20)
        var random = SeededGenerator(seed: UInt64(seed) &* 7919)
        // Each gauge's readings cut in batches; batches of different gauges interleaved at random,
        // a whole gauge held back for hours of other gauges' readings now and then.
        var queues = Dictionary(grouping: readings, by: \.id).mapValues { entities in
            stride(from: 0, to: entities.count, by: 12).map { Array(entities[$0..<min($0 + 12, entities.count)]) }
        }
        var engine = AlertEngine(rules: Self.rules)
        var events = [AlertEvent]()
        var wall = Timestamp(millisecondsSinceEpoch: 1_800_000_000_000)
        while !queues.isEmpty {
            let id = queues.keys.sorted { $0.rawValue < $1.rawValue }.randomElement(using: &random)!
            let batch = queues[id]!.removeFirst()
            if queues[id]!.isEmpty { queues[id] = nil }
            for entity in batch { events += engine.observe(entity, arrivedAt: wall) }
            // The wall clock runs; silent entities are moved on only past the grace.
            wall = wall.advanced(byMilliseconds: Int64.random(in: 0...20, using: &random))
            events += engine.advance(wall: wall, grace: 60_000)
        }
        #expect(Self.perAlert(events) == expected)
        #expect(!events.contains { $0.late })
    }

    @Test(arguments: 1...25, [false, true])
    func lateReadingsOfTheSameGaugeMissNoAlertAndEndInTheSameState(seed: Int, byGauge: Bool) {
        // All gauges' readings by time (a few minutes late at most), or gauge by gauge (hours late).
        let trace = Self.trace(seed: UInt64(seed) + 100)
        let readings = byGauge ? trace : trace.sorted { AlertEngine.newest($0)! < AlertEngine.newest($1)! }
        let reference = AlertReplay(rules: [Self.river]).run(readings)
        var random = SeededGenerator(seed: UInt64(seed) &* 104_729)
        // Batches of 20 readings in order, some of them arriving up to five batches late.
        var batches = stride(from: 0, to: readings.count, by: 20).map { Array(readings[$0..<min($0 + 20, readings.count)]) }
        for index in batches.indices.reversed() where index == 0 || Int.random(in: 0..<4, using: &random) == 0 {
            let batch = batches.remove(at: index)
            batches.insert(batch, at: min(batches.count, index + Int.random(in: 1...5, using: &random)))
        }
        // Gauge by gauge, a batch can arrive 16 hours of that gauge's readings late: keep a day.
        var engine = AlertEngine(rules: [Self.river], lateWindow: 24 * 3_600_000, historyLimit: 1_000)
        var events = [AlertEvent]()
        for batch in batches { for entity in batch { events += engine.observe(entity) } }
        // Every gauge that reached a stage in order reached it here too.
        let reached = Set(reference.filter { $0.kind != .cleared }.map { "\($0.entity.localID) \($0.stage)" })
        let here = Set(events.filter { $0.kind != .cleared }.map { "\($0.entity.localID) \($0.stage)" })
        #expect(reached.isSubset(of: here), "missed: \(reached.subtracting(here)) \(reference.map(Self.describe)) \(events.map(Self.describe))")
        // The alerts active at the end are those of the ordered replay, at the same stages.
        var ordered = AlertEngine(rules: [Self.river])
        for entity in readings.sorted(by: { AlertEngine.newest($0)! < AlertEngine.newest($1)! }) { _ = ordered.observe(entity) }
        #expect(engine.active.mapValues(\.stage) == ordered.active.mapValues(\.stage))
        // Each alert's events chain: every event starts from the stage the one before it left.
        for (_, list) in Dictionary(grouping: events, by: { $0.entity }) {
            var stage = 0
            for event in list {
                let expectedKind: AlertEvent.Kind =
                    stage == 0 ? .raised : event.stage == 0 ? .cleared : event.stage > stage ? .escalated : .deescalated
                #expect(event.kind == expectedKind && event.stage != stage, "\(list.map(Self.describe))")
                stage = event.stage
            }
        }
        #expect(engine.lateReadings > 0 && engine.tooLate == 0)
    }

    @Test func aReadingOlderThanEverythingKeptIsCountedNotEvaluated() {
        var engine = AlertEngine(rules: [Self.river], lateWindow: 60 * Self.minute)
        for minute in stride(from: Int64(0), through: 180, by: 10) { _ = engine.observe(Self.reading("g1", minute, 1.0)) }
        // Readings before 02:00 are no longer kept; one at 00:05 above the danger level is too late.
        #expect(engine.observe(Self.reading("g1", 5, 4.5)).isEmpty)
        #expect(engine.tooLate == 1 && engine.lateReadings == 0)
        // One within the hour kept is placed and raises (late), cleared 30 minutes after the next reading.
        let placed = engine.observe(Self.reading("g1", 175, 4.5)).map(Self.describe)
        #expect(placed == ["river-stage g1 raised:2@10500s"])
        #expect(engine.lateReadings == 1)
    }
}
