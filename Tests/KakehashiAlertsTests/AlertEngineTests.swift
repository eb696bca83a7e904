import KakehashiAlerts
import KakehashiModel
import Testing

/// Small hand-made sequences on virtual time.
struct AlertEngineTests {
    static let city = try! Tenant("kurume")
    static let t0 = Timestamp(millisecondsSinceEpoch: 1_780_272_000_000)
    static let minute: Int64 = 60_000

    static func at(_ minutes: Int64) -> Timestamp { t0.advanced(byMilliseconds: minutes * minute) }

    static func gauge(
        _ local: String = "g1",
        level: Double,
        minute: Int64,
        alert: Double? = nil,
        danger: Double? = nil,
        type: String = "WaterObserved",
        attribute: String = "waterLevel"
    ) -> NGSIEntity {
        var attributes: [String: NGSIAttribute] = [
            attribute: .property(NGSIProperty(.number(level), observedAt: at(minute))),
            "location": .geoProperty(try! GeoPoint(latitude: 33.3, longitude: 130.5), observedAt: nil),
        ]
        if let alert { attributes["alertLevel"] = .property(NGSIProperty(.number(alert))) }
        if let danger { attributes["dangerLevel"] = .property(NGSIProperty(.number(danger))) }
        return try! NGSIEntity(id: EntityID(type: type, tenant: city, localID: local), attributes: attributes)
    }

    static func stages(hysteresis: Double = 0, raiseAfter: Int64 = 0, clearAfter: Int64 = 0) -> AlertRule {
        AlertRule(
            id: "stages",
            tenant: city,
            entityType: "WaterObserved",
            attribute: "waterLevel",
            kind: .threshold(
                Threshold(
                    direction: .above,
                    stages: [
                        .init(name: "warning", level: .constant(2.0), severity: .medium),
                        .init(name: "evacuate", level: .attribute("alertLevel"), severity: .high),
                        .init(name: "flood", level: .attribute("dangerLevel"), severity: .critical),
                    ],
                    hysteresis: hysteresis,
                    raiseAfter: raiseAfter * minute,
                    clearAfter: clearAfter * minute
                )
            )
        )
    }

    /// Feeds (minute, level) pairs; returns "kind:stage@minute" strings.
    static func run(_ rule: AlertRule, _ levels: [(Int64, Double)], alert: Double? = 3.0, danger: Double? = 4.0) -> [String] {
        var engine = AlertEngine(rules: [rule])
        var out = [String]()
        for (minute, level) in levels {
            for event in engine.observe(gauge(level: level, minute: minute, alert: alert, danger: danger)) {
                out.append(
                    "\(event.kind.rawValue):\(event.stageName ?? "-")@\((event.at.millisecondsSinceEpoch - t0.millisecondsSinceEpoch) / Self.minute)"
                )
            }
        }
        return out
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let rule: AlertRule
        let levels: [(Int64, Double)]
        let expected: [String]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "stages in order up and down",
            rule: stages(),
            levels: [(0, 1.0), (10, 2.1), (20, 3.2), (30, 4.5), (40, 3.5), (50, 2.5), (60, 1.0)],
            expected: [
                "raised:warning@10", "escalated:evacuate@20", "escalated:flood@30", "deescalated:evacuate@40",
                "deescalated:warning@50", "cleared:-@60",
            ]
        ),
        Case(
            name: "a jump goes straight to the highest stage reached",
            rule: stages(),
            levels: [(0, 1.0), (10, 4.2), (20, 0.5)],
            expected: ["raised:flood@10", "cleared:-@20"]
        ),
        Case(
            name: "without hysteresis a level crossed back and forth flaps",
            rule: stages(),
            levels: [(0, 2.05), (10, 1.95), (20, 2.05), (30, 1.95)],
            expected: ["raised:warning@0", "cleared:-@10", "raised:warning@20", "cleared:-@30"]
        ),
        Case(
            name: "hysteresis holds the stage until the value is well back",
            rule: stages(hysteresis: 0.2),
            levels: [(0, 2.05), (10, 1.95), (20, 2.05), (30, 1.85), (40, 1.79)],
            expected: ["raised:warning@0", "cleared:-@40"]
        ),
        Case(
            name: "minimum duration: a short spike raises nothing",
            rule: stages(raiseAfter: 30),
            levels: [(0, 1.0), (10, 2.5), (20, 1.0), (30, 1.0)],
            expected: []
        ),
        Case(
            name: "minimum duration: raised once held long enough",
            rule: stages(raiseAfter: 30),
            levels: [(0, 2.5), (10, 2.5), (20, 2.6), (30, 2.7), (40, 2.7)],
            expected: ["raised:warning@30"]
        ),
        Case(
            name: "minimum duration before clearing",
            rule: stages(clearAfter: 20),
            levels: [(0, 2.5), (10, 1.0), (20, 2.5), (30, 1.0), (40, 1.0), (50, 1.0)],
            expected: ["raised:warning@0", "cleared:-@50"]
        ),
        Case(
            name: "a late reading is evaluated where it belongs",
            rule: stages(),
            levels: [(0, 2.5), (20, 2.6), (10, 1.0)],
            expected: ["raised:warning@0", "cleared:-@10", "raised:warning@20"]
        ),
    ]

    @Test(arguments: cases)
    func thresholdSequences(_ example: Case) {
        #expect(Self.run(example.rule, example.levels) == example.expected)
    }

    @Test func stagesWhoseAttributeIsMissingDoNotApply() {
        // No alertLevel on this gauge: warning then flood, never evacuate.
        let events = Self.run(Self.stages(), [(0, 2.5), (10, 3.5), (20, 4.5)], alert: nil, danger: 4.0)
        #expect(events == ["raised:warning@0", "escalated:flood@20"])
    }

    @Test func levelsSentOnceAreRemembered() {
        var engine = AlertEngine(rules: [Self.stages()])
        _ = engine.observe(Self.gauge(level: 1.0, minute: 0, alert: 3.0, danger: 4.0))
        // Later readings carry only the level.
        let events = engine.observe(Self.gauge(level: 4.1, minute: 10))
        #expect(events.map(\.stageName) == ["flood"])
        #expect(events.first?.level == 4.0)
        #expect(engine.active.count == 1)
    }

    @Test func minimumDurationIsAlsoCheckedOnTheClock() {
        var engine = AlertEngine(rules: [Self.stages(raiseAfter: 30)])
        #expect(engine.observe(Self.gauge(level: 2.5, minute: 0, alert: 3, danger: 4)).isEmpty)
        #expect(engine.advance(to: Self.at(29)).isEmpty)
        let events = engine.advance(to: Self.at(30))
        #expect(events.map(\.kind) == [.raised])
        #expect(events.first?.at == Self.at(30))
    }

    @Test func rateOfChangeRaisesOnAFastRiseAndClearsWhenItSlows() {
        let rise = AlertRule(
            id: "rise",
            tenant: Self.city,
            entityType: "WaterObserved",
            attribute: "waterLevel",
            kind: .rateOfChange(RateOfChange(window: 30 * Self.minute, change: 0.3, severity: .high))
        )
        let levels: [(Int64, Double)] = [
            (0, 1.0), (10, 1.1), (20, 1.2), (30, 1.25), (40, 1.5), (50, 1.6), (60, 1.62), (70, 1.7), (80, 1.72), (90, 1.73),
        ]
        // 40: 1.5 − 1.2 (at 20, within 30 minutes) = 0.3 → raised; 1 ms after 60, 1.25 (at 30) leaves the
        // window: 1.62 − 1.5 (at 40) = 0.12 → cleared then, not at the next reading.
        #expect(Self.run(rise, levels) == ["raised:rising@40", "cleared:-@60"])
        let slow = (0..<20).map { (Int64($0) * 10, 1.0 + Double($0) * 0.05) }  // 0.15 per 30 minutes
        #expect(Self.run(rise, slow).isEmpty)
    }

    @Test func staleSensorIsRaisedOnTheClockAndClearedByTheNextReading() {
        let stale = AlertRule(
            id: "silent",
            tenant: Self.city,
            entityType: "WaterObserved",
            attribute: "waterLevel",
            kind: .stale(after: 60 * Self.minute, severity: .medium)
        )
        var engine = AlertEngine(rules: [stale])
        #expect(engine.observe(Self.gauge(level: 1, minute: 0)).isEmpty)
        #expect(engine.advance(to: Self.at(59)).isEmpty)
        let raised = engine.advance(to: Self.at(75))
        #expect(raised.map(\.kind) == [.raised] && raised.first?.at == Self.at(60) && raised.first?.stageName == "stale")
        #expect(engine.advance(to: Self.at(200)).isEmpty)  // raised once
        let cleared = engine.observe(Self.gauge(level: 1, minute: 201))
        #expect(cleared.map(\.kind) == [.cleared] && cleared.first?.at == Self.at(201))
    }

    @Test func tagAbsentThenBack() {
        let absent = AlertRule(
            id: "tag-absent",
            tenant: Self.city,
            entityType: "Device",
            attribute: "presence",
            kind: .absence(after: 10 * Self.minute, severity: .high)
        )
        func tag(_ present: Bool, _ minute: Int64) -> NGSIEntity {
            try! NGSIEntity(
                id: EntityID(type: "Device", tenant: Self.city, localID: "tag-7f3a"),
                attributes: ["presence": .property(NGSIProperty(.text(present ? "present" : "absent"), observedAt: Self.at(minute)))]
            )
        }
        var engine = AlertEngine(rules: [absent])
        #expect(engine.observe(tag(true, 0)).isEmpty)
        #expect(engine.observe(tag(false, 5)).isEmpty)
        #expect(engine.advance(to: Self.at(14)).isEmpty)
        #expect(engine.advance(to: Self.at(16)).map(\.at) == [Self.at(15)])
        #expect(engine.observe(tag(true, 30)).map(\.kind) == [.cleared])
    }

    @Test func crowdAboveALevelAndRulesLimitedToAnArea() {
        let crowd = AlertRule(
            id: "crowd",
            tenant: Self.city,
            entityType: "CrowdFlowObserved",
            attribute: "peopleCount",
            area: GeoBox(south: 33, west: 130, north: 34, east: 131),
            kind: .threshold(Threshold(direction: .above, stages: [.init(name: "crowded", level: .constant(500), severity: .medium)]))
        )
        var engine = AlertEngine(rules: [crowd])
        let inside = Self.gauge("plaza", level: 650, minute: 0, type: "CrowdFlowObserved", attribute: "peopleCount")
        #expect(engine.observe(inside).map(\.stageName) == ["crowded"])
        let elsewhere = try! NGSIEntity(
            id: EntityID(type: "CrowdFlowObserved", tenant: Self.city, localID: "station"),
            attributes: [
                "peopleCount": .property(NGSIProperty(.number(900), observedAt: Self.at(0))),
                "location": .geoProperty(try! GeoPoint(latitude: 35.0, longitude: 135.0), observedAt: nil),
            ]
        )
        #expect(engine.observe(elsewhere).isEmpty)
        // Another tenant's entity of the same type is never matched.
        let other = try! NGSIEntity(
            id: EntityID(type: "CrowdFlowObserved", tenant: Tenant("omuta"), localID: "plaza"),
            attributes: [
                "peopleCount": .property(NGSIProperty(.number(900), observedAt: Self.at(0))),
                "location": .geoProperty(try! GeoPoint(latitude: 33.3, longitude: 130.5), observedAt: nil),
            ]
        )
        #expect(engine.observe(other).isEmpty)
    }
}
