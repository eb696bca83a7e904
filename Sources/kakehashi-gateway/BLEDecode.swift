import ArgumentParser
import FoundationEssentials
import KakehashiBLE
import KakehashiGateway
import KakehashiModel

#if canImport(Glibc)
import Glibc
#endif

/// `kakehashi-gateway ble decode FILE.btsnoop`: one JSON object per advertising report.
struct BLEDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Print one JSON object per LE advertising report of a btsnoop capture.",
        discussion: """
            Reads btsnoop captures (datalink 1001 or 1002: Android HCI snoop logs, btmon -w). Each line has \
            time (UTC), address, addressType, rssi (null when unavailable), extended, name, and beacon \
            (kind: ibeacon, altbeacon, eddystone-uid, eddystone-url, eddystone-tlm, eddystone-eid, with \
            its fields). With --pseudonymize, addresses and beacon identities are replaced by keyed \
            pseudonyms (HMAC-SHA256, 64 bits). Records that cannot be read are reported on standard \
            error with their position, and counted in the summary line there.
            """
    )

    @Argument(help: "The btsnoop capture.")
    var file: String

    @Option(help: "Replace addresses and beacon identities by pseudonyms keyed by this secret.")
    var pseudonymize: String?

    func validate() throws {
        if let pseudonymize, pseudonymize.utf8.count < 8 {
            throw ValidationError("--pseudonymize needs a secret of at least 8 bytes (16 or more recommended)")
        }
    }

    func run() throws {
        guard FileManager.default.fileExists(atPath: file) else { throw CommandFailure("no such file: \(file)") }
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: URL(fileURLWithPath: file)))
        } catch {
            throw CommandFailure("cannot read \(file): \(error)")
        }
        let capture: BTSnoopReader
        do {
            capture = try BTSnoopReader(bytes: bytes)
        } catch {
            throw CommandFailure("\(file): \(error)")
        }
        let decoded = CaptureDecoder.decode(capture)
        let pseudonymizer = pseudonymize.map { Pseudonymizer(secret: Array($0.utf8)) }
        var out = [UInt8]()
        out.reserveCapacity(decoded.advertisements.count * 200)
        for advertisement in decoded.advertisements {
            AdvertisementJSON.object(advertisement, pseudonymizer: pseudonymizer).write(into: &out)
            out.append(0x0A)
        }
        Self.writeAll(1, out)
        var summary = ""
        for problem in decoded.problems.prefix(20) { summary += "\(file): record \(problem.record): \(problem.error)\n" }
        let beacons = decoded.advertisements.filter { $0.beacon != nil }.count
        summary +=
            "\(file): \(capture.records.count) records, \(decoded.advertisements.count) advertising reports, \(beacons) beacons, "
            + "\(decoded.problems.count) unreadable\n"
        func types(_ counts: [UInt8: Int]) -> String {
            counts.sorted { $0.key < $1.key }.map { "0x\(Hex.byte($0.key)) ×\($0.value)" }.joined(separator: ", ")
        }
        if decoded.reassembled > 0 { summary += "\(file): \(decoded.reassembled) extended advertisements reassembled from fragments\n" }
        if !decoded.unknownStructures.isEmpty {
            summary += "\(file): AD structures kept raw, of types not interpreted: \(types(decoded.unknownStructures))\n"
        }
        if !decoded.unreadableStructures.isEmpty {
            summary += "\(file): AD structures kept raw, unreadable: \(types(decoded.unreadableStructures))\n"
        }
        if decoded.unreadableBeacons > 0 {
            let reasons = Set(decoded.advertisements.compactMap { $0.beaconProblem?.description }).sorted().prefix(5)
            summary += "\(file): \(decoded.unreadableBeacons) reports kept without a beacon (\(reasons.joined(separator: "; ")))\n"
        }
        Self.writeAll(2, Array(summary.utf8))
    }

    /// Writes every byte to `fd`, retrying short writes.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { if errno == EINTR { continue }; return }
                offset += written
            }
        }
    }
}
