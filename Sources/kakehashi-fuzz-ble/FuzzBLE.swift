import KakehashiBLE
import KakehashiModel

/// Feeds arbitrary bytes to every BLE parser: as an HCI event, as advertising data, and as a
/// btsnoop capture. The parsers must return values or errors, never trap or read out of bounds
/// (AddressSanitizer checks the latter).
func exerciseParsers(_ bytes: [UInt8]) {
    var result = DecodedCapture()
    CaptureDecoder.decode(event: bytes, at: Timestamp(millisecondsSinceEpoch: 0), record: 0, into: &result)
    // The same bytes as the parameters of an LE Advertising Report and an extended one.
    for subevent: UInt8 in [0x02, 0x0D] {
        let event = [0x3E, UInt8(min(255, bytes.count + 1)), subevent] + bytes.prefix(254)
        CaptureDecoder.decode(event: event, at: Timestamp(millisecondsSinceEpoch: 0), record: 0, into: &result)
    }
    if let data = try? AdvertisingData(parsing: bytes) { _ = try? Beacon.decode(data) }
    // The lenient reading the gateway uses: never throws, keeps what it cannot read.
    let kept = AdvertisingData(keeping: bytes)
    precondition(kept.unreadable.count <= bytes.count, "more unreadable structures than bytes")
    _ = try? Beacon.decode(kept)
    // The bytes split into extended-report fragments of one advertiser ("more to come", then
    // complete), reassembled across events.
    var fragments = DecodedCapture()
    for (index, chunk) in stride(from: 0, to: bytes.count, by: 200).enumerated() {
        let piece = Array(bytes[chunk..<min(chunk + 200, bytes.count)])
        let last = chunk + 200 >= bytes.count
        let eventType: UInt8 = last ? 0x00 : 0x20
        var report: [UInt8] = [eventType, 0x00, 0x01, 1, 2, 3, 4, 5, 6, 0x01, 0x00, 0x01, 0x7F, 0xC4, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        report += [UInt8(piece.count)] + piece
        let event: [UInt8] = [0x3E, UInt8(report.count + 2), 0x0D, 0x01] + report
        CaptureDecoder.decode(event: event, at: Timestamp(millisecondsSinceEpoch: Int64(index)), record: index, into: &fragments)
    }
    // The same bytes as an Eddystone frame in service data.
    let frame = Array(bytes.prefix(251))
    if let data = try? AdvertisingData(parsing: [UInt8(frame.count + 3), 0x16, 0xAA, 0xFE] + frame) { _ = try? Beacon.decode(data) }
    if let capture = try? BTSnoopReader(bytes: Array("btsnoop\0".utf8) + [0, 0, 0, 1, 0, 0, 3, 0xEA] + bytes) {
        _ = CaptureDecoder.decode(capture)
    }
}

#if FUZZING
import CFuzzerDriver

/// One fuzzer input.
private func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    exerciseParsers(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// Entry point of the fuzzing build: hands control to libFuzzer's driver (SwiftPM names an
/// executable's entry `<module>_main`).
@_cdecl("kakehashi_fuzz_ble_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, fuzzOneInput)
}
#else
#if canImport(Glibc)
import Glibc
#endif

/// Without the fuzzer: replays corpus files given as arguments (a regression run of the corpus).
@main
struct ReplayCorpus {
    static func main() {
        var count = 0
        for path in CommandLine.arguments.dropFirst() {
            guard let file = fopen(path, "rb") else { continue }
            var bytes = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = fread(&buffer, 1, buffer.count, file)
                if n <= 0 { break }
                bytes += buffer[0..<n]
            }
            fclose(file)
            exerciseParsers(bytes)
            count += 1
        }
        print("replayed \(count) inputs without a crash")
    }
}
#endif
