import Testing

@testable import KakehashiBLE
@testable import KakehashiGateway
@testable import KakehashiModel

/// Tag tracking on virtual time: the advertisements' own timestamps drive every window.
struct TagTrackerTests {
    static func t(_ seconds: Double) -> Timestamp { Timestamp(millisecondsSinceEpoch: 1_780_000_020_000 + Int64(seconds * 1000)) }
    static let w0 = t(0)

    @Test func sightingsPerWindowWithMaxAndSmoothedRSSI() {
        var tracker = TagTracker(configuration: .init(window: .seconds(10), rssiSmoothing: 0.3))
        tracker.observe(pseudonym: "a", rssi: -70, at: Self.t(1))
        tracker.observe(pseudonym: "a", rssi: -60, at: Self.t(2))
        tracker.observe(pseudonym: "a", rssi: -80, at: Self.t(3))
        tracker.observe(pseudonym: "b", rssi: nil, at: Self.t(4))
        let output = tracker.advance(to: Self.t(10))
        #expect(
            output.sightings == [
                .init(pseudonym: "a", windowStart: Self.w0, count: 3, maxRSSI: -60, smoothedRSSI: -70.9),
                .init(pseudonym: "b", windowStart: Self.w0, count: 1, maxRSSI: nil, smoothedRSSI: nil),
            ]
        )
        #expect(output.events == [.entered(pseudonym: "a", at: Self.w0), .entered(pseudonym: "b", at: Self.w0)])
        #expect(output.counts == [.init(windowStart: Self.w0, distinct: 2)])
    }

    @Test func presenceLeavesAfterKOfNMissedWindows() {
        // n = 4, k = 2: heard in windows 0, 1, 3; missed 2, 4 → leaves when window 4 closes.
        var tracker = TagTracker(configuration: .init(window: .seconds(10), presenceWindows: 4, missedToLeave: 2))
        var events = [TagTracker.PresenceEvent]()
        for second in [1.0, 11, 31] { events += tracker.observe(pseudonym: "tag", rssi: -75, at: Self.t(second)).events }
        events += tracker.advance(to: Self.t(45)).events
        #expect(events == [.entered(pseudonym: "tag", at: Self.w0)], "one miss in the last 4 windows is not enough")
        events += tracker.advance(to: Self.t(50)).events
        #expect(events.last == .left(pseudonym: "tag", at: Self.t(50), lastSeen: Self.t(31)))
        // Heard again: enters again.
        events += tracker.observe(pseudonym: "tag", rssi: -70, at: Self.t(52)).events
        events += tracker.advance(to: Self.t(60)).events
        #expect(events.last == .entered(pseudonym: "tag", at: Self.t(50)))
        #expect(events.count == 3)
    }

    @Test func intermittentTagStaysPresent() {
        // Heard every other window: 3 misses in 6 windows < k = 4.
        var tracker = TagTracker(configuration: .init(window: .seconds(10), presenceWindows: 6, missedToLeave: 4))
        var events = [TagTracker.PresenceEvent]()
        for window in stride(from: 0, to: 20, by: 2) {
            events += tracker.observe(pseudonym: "x", rssi: -80, at: Self.t(Double(window * 10) + 1)).events
        }
        events += tracker.advance(to: Self.t(200)).events
        #expect(events == [.entered(pseudonym: "x", at: Self.w0)])
    }

    @Test func allowListIgnoresAndCountsOthers() {
        var tracker = TagTracker(configuration: .init(mode: .allowList(["registered"])))
        tracker.observe(pseudonym: "registered", rssi: -60, at: Self.t(1))
        tracker.observe(pseudonym: "stranger", rssi: -60, at: Self.t(2))
        tracker.observe(pseudonym: "stranger", rssi: -61, at: Self.t(3))
        let output = tracker.advance(to: Self.t(10))
        #expect(output.sightings.map(\.pseudonym) == ["registered"])
        #expect(output.ignored == 2)
        #expect(output.counts.first?.distinct == 1)
    }

    @Test func anonymousCountingGivesOnlyDistinctCountsIncludingZeros() {
        var tracker = TagTracker(configuration: .init(window: .seconds(60), mode: .anonymousCounting))
        var outputs = [TagTracker.Output]()
        for (i, second) in [1.0, 2, 3, 30, 59].enumerated() { outputs.append(tracker.observe(pseudonym: "p\(i % 3)", rssi: -70, at: Self.t(second))) }
        outputs.append(tracker.observe(pseudonym: "p9", rssi: -70, at: Self.t(61)))
        outputs.append(tracker.advance(to: Self.t(240)))
        #expect(outputs.allSatisfy { $0.sightings.isEmpty && $0.events.isEmpty })
        let counts = outputs.flatMap(\.counts)
        #expect(counts.map(\.distinct) == [3, 1, 0, 0])
        #expect(counts.map(\.windowStart) == [Self.t(0), Self.t(60), Self.t(120), Self.t(180)])
    }

    @Test func dailyKeysMakeDaysUnjoinable() throws {
        let daily = DailyPseudonymizer(masterSecret: Array("kurume master secret".utf8))
        let address = BluetoothAddress(littleEndian: [1, 2, 3, 4, 5, 6])
        let monday = try Timestamp(iso8601: "2026-06-01T08:00:00Z"), mondayEvening = try Timestamp(iso8601: "2026-06-01T23:59:59Z")
        let tuesday = try Timestamp(iso8601: "2026-06-02T00:00:00Z")
        #expect(daily.pseudonymizer(on: monday).pseudonym(for: address) == daily.pseudonymizer(on: mondayEvening).pseudonym(for: address))
        #expect(daily.pseudonymizer(on: monday).pseudonym(for: address) != daily.pseudonymizer(on: tuesday).pseudonym(for: address))
        let other = DailyPseudonymizer(masterSecret: Array("another city".utf8))
        #expect(other.pseudonymizer(on: monday).pseudonym(for: address) != daily.pseudonymizer(on: monday).pseudonym(for: address))
    }
}
