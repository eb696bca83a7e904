import Foundation
import KakehashiBLEScanner
import KakehashiTestSupport
import Testing

@testable import KakehashiBLE
@testable import KakehashiModel

/// The scanner's read loop fed recorded bytes (the captures' received HCI events as the socket
/// delivers them), on virtual time.
struct ScanLoopTests {
    static func source(_ name: String) throws -> (RecordedPacketSource, Int) {
        let capture = try BTSnoopReader(bytes: Array(try Data(contentsOf: RepositoryPaths.trace("ble/\(name)"))))
        let source = RecordedPacketSource(capture: capture)
        return (source, capture.records.filter { $0.type == .event && $0.received }.count)
    }

    @Test func readLoopDecodesEveryRecordedReport() throws {
        var (source, events) = try Self.source("horizon-74.btsnoop")
        var loop = BLEScanLoop(watchdogTimeout: .seconds(30))
        var now = Timestamp(millisecondsSinceEpoch: 1_780_000_000_000)
        var advertisements = [DecodedAdvertisement]()
        for _ in 0..<events {
            advertisements += try loop.step(&source, now: now)
            now = now.advanced(byMilliseconds: 10)
        }
        #expect(advertisements.count == 412)
        #expect(advertisements.filter { $0.beacon?.kind == "ibeacon" }.count == 11)
        #expect(loop.decoded.problems.isEmpty)
        #expect(loop.decoded.events == events)
        #expect(source.restarts == 0, "advertisements kept the watchdog quiet")
    }

    @Test func watchdogRestartsASilentScanOncePerTimeout() throws {
        var (source, events) = try Self.source("yeelock.btsnoop")
        var loop = BLEScanLoop(watchdogTimeout: .seconds(30))
        var now = Timestamp(millisecondsSinceEpoch: 1_780_000_000_000)
        for _ in 0..<events { _ = try loop.step(&source, now: now) }
        // The recording is over: silence. Every 200 ms of virtual time the loop polls once.
        for _ in 0..<(5 * 60 * 5) {  // five minutes
            now = now.advanced(byMilliseconds: 200)
            _ = try loop.step(&source, now: now)
        }
        #expect(source.restarts == 10, "one restart per 30 s of silence")
        #expect(loop.watchdog.restarts == 10)
    }

    @Test func nonEventAndMalformedPacketsAreCountedNotFatal() throws {
        var source = RecordedPacketSource(packets: [[0x02, 0x00, 0x20], [0x04, 0x3E, 0x05, 0x02, 0x01, 0x00], [0x04], []])
        var loop = BLEScanLoop()
        let now = Timestamp(millisecondsSinceEpoch: 0)
        for _ in 0..<4 { #expect(try loop.step(&source, now: now).isEmpty) }
        #expect(loop.nonEventPackets == 3)
        #expect(loop.decoded.problems.count == 1)
    }

    @Test func openingAnAdapterHereFailsWithAClearError() {
        // Build machines have no Bluetooth: the scanner must say what is missing, not crash.
        do {
            _ = try HCISocket(adapter: "hci0")
            // A machine with an adapter and the capabilities: nothing to check here.
        } catch {
            #expect([.noAdapter, .adapterDown, .notPermitted, .notSupported].contains(error.kind), "\(error)")
            let text = error.description
            switch error.kind {
            case .notPermitted: #expect(text.contains("CAP_NET_RAW and CAP_NET_ADMIN"))
            case .notSupported: #expect(text.contains("no Bluetooth sockets"))
            case .noAdapter: #expect(text.contains("no Bluetooth adapter"))
            case .adapterDown: #expect(text.contains("is down"))
            case .io: Issue.record("unexpected: \(text)")
            }
        }
    }

    @Test func errnoMapsToTheKinds() {
        #expect(HCISocket.error(EPERM, adapter: "hci0", call: "hci_open_dev").kind == .notPermitted)
        #expect(HCISocket.error(EACCES, adapter: "hci0", call: "x").kind == .notPermitted)
        #expect(HCISocket.error(EAFNOSUPPORT, adapter: "hci0", call: "x").kind == .notSupported)
        #expect(HCISocket.error(ENODEV, adapter: "hci0", call: "x").kind == .noAdapter)
        #expect(HCISocket.error(ENETDOWN, adapter: "hci0", call: "x").kind == .adapterDown)
        #expect(HCISocket.error(EIO, adapter: "hci0", call: "read").description.contains("read: "))
    }
}

/// Captures replayed as a scan source.
struct ReplayTests {
    static func capture(_ name: String) throws -> BTSnoopReader {
        try BTSnoopReader(bytes: Array(try Data(contentsOf: RepositoryPaths.trace("ble/\(name)"))))
    }

    @Test func scheduleKeepsTheCapturesPaceDividedBySpeed() throws {
        let capture = try Self.capture("yeelock.btsnoop")
        let original = ReplayPacketSource.schedule(capture, speed: 1)
        let fast = ReplayPacketSource.schedule(capture, speed: 60)
        let events = capture.records.filter { $0.type == .event && $0.received }
        #expect(original.count == events.count)
        #expect(original.first?.offsetNanoseconds == 0)
        let span = try #require(events.last).timestamp.millisecondsSinceEpoch - events[0].timestamp.millisecondsSinceEpoch
        #expect(original.last?.offsetNanoseconds == UInt64(span) * 1_000_000)
        #expect(fast.last?.offsetNanoseconds == UInt64((Double(span) * 1_000_000 / 60).rounded()))
        #expect(zip(original, original.dropFirst()).allSatisfy { $0.offsetNanoseconds <= $1.offsetNanoseconds })
        #expect(ReplayPacketSource.schedule(capture, speed: .infinity).allSatisfy { $0.offsetNanoseconds == 0 })
    }

    @Test func replayAsFastAsPossibleGivesTheCapturesReportsWithTheirOwnTimes() throws {
        var source = ReplayPacketSource(capture: try Self.capture("yeelock.btsnoop"), speed: .infinity)
        var loop = BLEScanLoop()
        var advertisements = [DecodedAdvertisement]()
        for _ in 0..<source.schedule.count {
            guard let packet = try source.nextPacket(timeoutMilliseconds: 10) else { continue }
            var single = RecordedPacketSource(packets: [packet])
            advertisements += try loop.step(&single, now: try #require(source.lastTimestamp))
        }
        #expect(advertisements.count == 26)
        #expect(advertisements.first { $0.beacon != nil }?.timestamp.iso8601 == "2019-03-10T13:12:25.722Z")
    }
}
