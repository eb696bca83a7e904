import FoundationEssentials
import KakehashiBLE
import KakehashiTestSupport

/// BLE decoding rate on the real captures: HCI event → advertising reports → AD structures →
/// beacon, per second on one core. The baseline is the physical limit it must stay far above:
/// about 10,000 reports/s from one adapter.
enum BLEScenarios {
    static func run(repeats: Int) throws -> [BenchRow] {
        var events = [[UInt8]]()
        for name in ["horizon-74.btsnoop", "yeelock.btsnoop"] {
            let capture = try BTSnoopReader(bytes: Array(try Data(contentsOf: RepositoryPaths.trace("ble/\(name)"))))
            events += capture.records.filter { $0.type == .event }.map(\.packet)
        }
        var reportsPerPass = 0
        var samples = [Double]()
        for _ in 0..<(repeats + 1) {
            let start = ContinuousClock.now
            var reports = 0
            for _ in 0..<200 {
                var result = DecodedCapture()
                for event in events {
                    CaptureDecoder.decode(event: event, at: .init(millisecondsSinceEpoch: 0), record: 0, into: &result)
                }
                reports += result.advertisements.count
            }
            let elapsed = ContinuousClock.now - start
            reportsPerPass = reports / 200
            samples.append(Double(reports) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
        }
        samples.removeFirst()  // warm-up
        return [
            BenchRow(
                scenario: "Decode BLE advertising reports of the real captures (\(reportsPerPass) reports in \(events.count) HCI events), one core",
                kakehashi: samples,
                baselineName: "one adapter's maximum delivery",
                baseline: Array(repeating: 10_000, count: samples.count),
                unit: "reports/s",
                higherIsBetter: true
            )
        ]
    }
}
