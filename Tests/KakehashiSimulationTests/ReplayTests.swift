import Foundation
import KakehashiBLE
import KakehashiModel
import KakehashiSimulation
import KakehashiTestSupport
import Testing

/// Timelines, seeded load, progress text and btsnoop feeding: the pure parts of the simulators.
struct ReplayTests {
    static func t(_ seconds: Int64) -> Timestamp { Timestamp(millisecondsSinceEpoch: 1_780_000_000_000 + seconds * 1000) }

    @Test func aTimelineSortsByTimeKeepingEachSensorsOrderCutsAndShifts() {
        let readings = [
            SimReading(sensor: "b", time: Self.t(20), value: .level(metres: 2)),
            SimReading(sensor: "a", time: Self.t(10), value: .level(metres: 1)),
            SimReading(sensor: "c", time: Self.t(10), value: .level(metres: 3)),
            SimReading(sensor: "a", time: Self.t(30), value: .level(metres: 4)),
            SimReading(sensor: "a", time: Self.t(40), value: .level(metres: 5)),
        ]
        let all = ReplayTimeline(readings)
        #expect(all.readings.map(\.sensor) == ["a", "c", "b", "a", "a"])  // equal times keep file order
        #expect(all.dueMilliseconds(at: 4, speed: 10) == 3000)
        #expect(all.dueMilliseconds(at: 4, speed: nil) == 0)

        let window = ReplayTimeline(readings, from: Self.t(20), to: Self.t(40))
        #expect(window.readings.map(\.time) == [Self.t(20), Self.t(30)] && window.outsideWindow == 3)

        let end = Self.t(1000).advanced(byMilliseconds: 700)
        let shifted = ReplayTimeline(readings, shift: .endAt(end))
        #expect(shifted.shiftMilliseconds == 960_000)  // whole seconds: the last reading lands within 1 s before `end`
        #expect(shifted.readings.last?.time == Self.t(1000))
        #expect(shifted.readings.map(\.sensor) == all.readings.map(\.sensor))
    }

    @Test func repeatedReadingsAreKeptOnce() {
        let a = SimReading(sensor: "a", time: Self.t(1), value: .level(metres: 1))
        let (kept, repeats) = droppingRepeats([a, SimReading(sensor: "b", time: Self.t(1), value: .level(metres: 1)), a])
        #expect(kept.map(\.sensor) == ["a", "b"] && repeats == 1)
    }

    @Test func theSameSeedGivesTheSameLoadAndAnotherSeedAnother() throws {
        let start = Self.t(0)
        let one = try SyntheticLoad(sensors: 50, rate: 500, durationSeconds: 4, seed: 42, start: start).readings()
        let again = try SyntheticLoad(sensors: 50, rate: 500, durationSeconds: 4, seed: 42, start: start).readings()
        let other = try SyntheticLoad(sensors: 50, rate: 500, durationSeconds: 4, seed: 43, start: start).readings()
        #expect(one.count == 2000 && one == again)
        #expect(one.map(\.value) != other.map(\.value))
        #expect(one.map(\.time) == other.map(\.time))
        // Each sensor's readings have distinct, increasing times (the hub keeps one per sensor and time).
        for sensor in Set(one.map(\.sensor)) {
            let times = one.filter { $0.sensor == sensor }.map(\.time)
            #expect(times.count == 40 && zip(times, times.dropFirst()).allSatisfy { $0 < $1 })
        }
        #expect(throws: SimulationError.self) { try SyntheticLoad(sensors: 1, rate: 5000, durationSeconds: 1, seed: 1, start: start) }
        #expect(throws: SimulationError.self) { try SyntheticLoad(sensors: 0, rate: 1, durationSeconds: 1, seed: 1, start: start) }
    }

    @Test func progressIsABarOnATerminalAndPlainLinesElsewhere() {
        let snapshot = ProgressMeter.Snapshot(sent: 6219, total: 12438, elapsedSeconds: 90, remainingSeconds: 90.2, traceTime: "2026-06-02T15:00:00Z")
        let bar = ProgressMeter(style: .bar, label: "river", barWidth: 10).render(snapshot)
        #expect(bar == "\rriver █████░░░░░ 50% 6,219/12,438 69.1/s ETA 1m31s · 2026-06-02T15:00:00Z\u{1B}[K")
        let line = ProgressMeter(style: .lines, label: "river").render(snapshot)
        #expect(line == "river: 6,219/12,438 messages (50%), 69.1/s, trace time 2026-06-02T15:00:00Z, ETA 1m31s\n")
        #expect(ProgressMeter(style: .none, label: "river").render(snapshot) == nil)
        // Without a schedule the ETA comes from the rate; failures are shown.
        let fast = ProgressMeter.Snapshot(sent: 1000, total: 3000, failed: 2, elapsedSeconds: 2)
        #expect(ProgressMeter(style: .lines, label: "load").render(fast) == "load: 1,000/3,000 messages (33%), 500/s, ETA 4s, 2 failed\n")
        #expect(ProgressMeter.duration(7300) == "2h01m" && ProgressMeter.grouped(1_234_567) == "1,234,567")
    }

    @Test func aCaptureWrittenBackReadsTheSameAndShifted() throws {
        let capture = try BTSnoopReader(bytes: Self.bytes("ble/yeelock.btsnoop"))
        let end = try Timestamp(iso8601: "2026-06-02T10:00:00Z")
        let replay = BTSnoopReplay(capture, shift: .endAt(end))
        let bytes = BTSnoopReplay.header + replay.records.flatMap(BTSnoopReplay.encode)
        let back = try BTSnoopReader(bytes: bytes)
        #expect(back.records.count == capture.records.count && back.problems.isEmpty)
        #expect(back.records.map(\.packet) == capture.records.map(\.packet))
        #expect(back.records.map(\.type) == capture.records.map(\.type))
        #expect(back.records.map(\.received) == capture.records.map(\.received))
        #expect(back.records.map(\.timestamp) == capture.records.map { $0.timestamp.advanced(byMilliseconds: replay.shiftMilliseconds) })
        #expect(back.records.map(\.timestamp).max() ?? end <= end)

        // Fed to a stream in uneven chunks, twice in a row: two captures, every record, in order.
        var stream = BTSnoopStream()
        var items = [BTSnoopStream.Item]()
        let twice = bytes + bytes
        var offset = 0, size = 1
        while offset < twice.count {
            let end = min(twice.count, offset + size)
            items += try stream.feed(twice[offset..<end])
            offset = end
            size = size * 7 % 997 + 1
        }
        let records = items.compactMap { item -> BTSnoopRecord? in if case .record(let r) = item { return r } else { return nil } }
        #expect(items.filter { $0 == .captureStarted(.hciUART) }.count == 2)
        #expect(records.count == 2 * capture.records.count)
        #expect(records.map(\.packet) == (back.records + back.records).map(\.packet))
    }

    static func bytes(_ relative: String) throws -> [UInt8] {
        Array(try Data(contentsOf: RepositoryPaths.trace(relative)))
    }
}
