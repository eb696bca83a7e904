import ArgumentParser
import KakehashiBLE
import KakehashiBLEScanner
import KakehashiGateway
import KakehashiModel

#if canImport(Glibc)
import Glibc
#endif

/// `kakehashi-gateway ble scan`: a live LE scan, one JSON object per advertising report.
struct BLEScan: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Scan for BLE advertisements on an adapter and print one JSON object per report.",
        discussion: """
            Needs CAP_NET_RAW and CAP_NET_ADMIN (root, or setcap on the binary). The same JSON as \
            `ble decode`. The scan is restarted when no advertisement arrived for --watchdog seconds.
            """
    )

    @Option(help: "The adapter, e.g. hci0 (default: the first available).")
    var adapter: String?

    @Option(help: "Stop after this many seconds (0: until interrupted).")
    var duration: Int = 0

    @Option(help: "Restart the scan after this many seconds without an advertisement.")
    var watchdog: Int = 30

    @Flag(help: "Passive scan (do not ask advertisers for scan responses).")
    var passive = false

    @Option(help: "Replace addresses and beacon identities by pseudonyms keyed by this secret.")
    var pseudonymize: String?

    func validate() throws {
        guard duration >= 0 else { throw ValidationError("--duration must be 0 or more") }
        guard watchdog >= 1 else { throw ValidationError("--watchdog must be at least 1 second") }
        if let pseudonymize, pseudonymize.utf8.count < 8 { throw ValidationError("--pseudonymize needs a secret of at least 8 bytes") }
    }

    func run() throws {
        var source: HCISocket
        do {
            source = try HCISocket(adapter: adapter, active: !passive)
        } catch {
            throw CommandFailure(error.description)
        }
        let pseudonymizer = pseudonymize.map { Pseudonymizer(secret: Array($0.utf8)) }
        var loop = BLEScanLoop(watchdogTimeout: .seconds(watchdog))
        let clock = ContinuousClock()
        let started = clock.now
        let epochStart = Timestamp(millisecondsSinceEpoch: Int64(wallClockMilliseconds()))
        while duration == 0 || clock.now - started < .seconds(duration) {
            let elapsed = clock.now - started
            let now = epochStart.advanced(byMilliseconds: elapsed.milliseconds)
            let advertisements: [DecodedAdvertisement]
            do {
                advertisements = try loop.step(&source, now: now)
            } catch {
                throw CommandFailure(error.description)
            }
            for advertisement in advertisements {
                var line = [UInt8]()
                AdvertisementJSON.object(advertisement, pseudonymizer: pseudonymizer).write(into: &line)
                line.append(0x0A)
                BLEDecode.writeAll(1, line)
            }
        }
    }

    func wallClockMilliseconds() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
    }
}
