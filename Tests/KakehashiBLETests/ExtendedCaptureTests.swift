import Foundation
import KakehashiTestSupport
import Testing

@testable import KakehashiBLE
@testable import KakehashiModel

/// Decoding keeps every report: its address, RSSI and the AD structures it understood, with the
/// others kept raw and counted, and extended advertisements sent in fragments reassembled.
///
/// The extended capture is written here from the Core Specification's formats (LE Extended
/// Advertising Report, Vol 4 Part E 7.7.65.13; AD structures, Supplement Part A), shaped after a
/// household device's capture: 65 extended reports, 62 of them with Eddystone service data of a
/// frame type (0x40) this decoder does not know, which once cost the whole report.
struct ExtendedCaptureTests {
    /// One LE Extended Advertising Report subevent with one report.
    static func extendedEvent(eventType: UInt16, address: [UInt8], sid: UInt8 = 1, rssi: Int8 = -60, data: [UInt8]) -> [UInt8] {
        var report: [UInt8] = [UInt8(eventType & 0xFF), UInt8(eventType >> 8), 0x01] + address
        report += [0x01, 0x00, sid, 0x7F, UInt8(bitPattern: rssi), 0x00, 0x00, 0x00] + [UInt8](repeating: 0, count: 6)
        report += [UInt8(data.count)] + data
        let parameters: [UInt8] = [0x0D, 0x01] + report
        return [0x3E, UInt8(parameters.count)] + parameters
    }

    /// A btsnoop file (datalink 1002, H4) of `events`, one received event per record, 100 ms apart.
    static func btsnoop(_ events: [[UInt8]]) -> [UInt8] {
        func be32(_ value: UInt32) -> [UInt8] { (0..<4).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
        var bytes = Array("btsnoop".utf8) + [0] + be32(1) + be32(1002)
        let start = UInt64(BTSnoopReader.epochOffsetMicroseconds) + 1_780_000_000_000_000
        for (index, event) in events.enumerated() {
            let packet = [0x04] + event
            let micros = start + UInt64(index) * 100_000
            bytes += be32(UInt32(packet.count)) + be32(UInt32(packet.count)) + be32(0x03) + be32(0)
            bytes += be32(UInt32(micros >> 32)) + be32(UInt32(micros & 0xFFFF_FFFF)) + packet
        }
        return bytes
    }

    static func address(_ n: Int) -> [UInt8] { [UInt8(n), 0x22, 0x33, 0x44, 0x55, 0xC6] }

    /// 62 reports with an unknown Eddystone frame, one iBeacon, one with an AD type not
    /// interpreted and a structure cut off, one sent in two fragments: 65 reports in 66 events.
    static func householdCapture() -> [UInt8] {
        var events = [[UInt8]]()
        for n in 0..<62 {
            let frame: [UInt8] = [0x40] + (0..<17).map { UInt8(($0 + n) & 0xFF) }
            let data: [UInt8] = [0x02, 0x01, 0x06, UInt8(frame.count + 3), 0x16, 0xAA, 0xFE] + frame + [0x05, 0x09] + Array("tag\(n % 10)".utf8)
            events.append(extendedEvent(eventType: 0x0000, address: address(n), rssi: Int8(-40 - n % 50), data: data))
        }
        let iBeacon: [UInt8] = [0x1A, 0xFF, 0x4C, 0x00, 0x02, 0x15] + Array("INTELLI_ROCKS_HW".utf8) + [0x50, 0x72, 0xF2, 0xFF, 0xC4]
        events.append(extendedEvent(eventType: 0x0013, address: address(100), data: [0x02, 0x01, 0x06] + iBeacon))
        // AD type 0x3D (3D information) is not interpreted; the last structure claims 9 bytes, has 3.
        events.append(extendedEvent(eventType: 0x0000, address: address(101), data: [0x03, 0x3D, 0x01, 0x02, 0x09, 0xFF, 0x59, 0x00]))
        // A 40-byte name in two fragments: "more to come" (status 01), then complete.
        let name = Array("Kakehashi river gauge 筑後川 瀬ノ下".utf8)
        let whole: [UInt8] = [0x02, 0x01, 0x06, UInt8(name.count + 1), 0x09] + name
        events.append(extendedEvent(eventType: 0x0020, address: address(102), sid: 3, data: Array(whole.prefix(20))))
        events.append(extendedEvent(eventType: 0x0000, address: address(102), sid: 3, data: Array(whole.dropFirst(20))))
        return btsnoop(events)
    }

    struct Expected: Sendable, CustomTestStringConvertible {
        let name: String
        let records: Int
        let advertisements: Int
        let addresses: Int
        let beacons: Int
        let unreadableBeacons: Int
        let reassembled: Int
        var testDescription: String { name }
    }

    static func capture(_ name: String) throws -> [UInt8] {
        if name == "household-extended" { return householdCapture() }
        return Array(try Data(contentsOf: RepositoryPaths.trace("ble/\(name)")))
    }

    @Test(arguments: [
        Expected(name: "horizon-74.btsnoop", records: 2572, advertisements: 412, addresses: 36, beacons: 11, unreadableBeacons: 0, reassembled: 0),
        Expected(name: "yeelock.btsnoop", records: 690, advertisements: 26, addresses: 9, beacons: 6, unreadableBeacons: 0, reassembled: 0),
        Expected(name: "household-extended", records: 66, advertisements: 65, addresses: 65, beacons: 1, unreadableBeacons: 62, reassembled: 1),
    ])
    func everyReportIsKept(_ expected: Expected) throws {
        let capture = try BTSnoopReader(bytes: try Self.capture(expected.name))
        let decoded = CaptureDecoder.decode(capture)
        #expect(capture.records.count == expected.records)
        #expect(decoded.problems.isEmpty, "\(decoded.problems.prefix(3))")
        #expect(decoded.advertisements.count == expected.advertisements)
        #expect(Set(decoded.advertisements.map(\.report.address)).count == expected.addresses)
        #expect(decoded.advertisements.filter { $0.beacon != nil }.count == expected.beacons)
        #expect(decoded.unreadableBeacons == expected.unreadableBeacons)
        #expect(decoded.reassembled == expected.reassembled)
        #expect(decoded.advertisements.allSatisfy { $0.report.rssi != nil })
    }

    @Test func whatWasNotUnderstoodIsKeptRawAndCounted() throws {
        let decoded = CaptureDecoder.decode(try BTSnoopReader(bytes: Self.householdCapture()))
        let eddystone = try #require(decoded.advertisements.first)
        #expect(eddystone.beacon == nil)
        #expect(eddystone.beaconProblem?.description.contains("unknown frame type 0x40") == true)
        #expect(eddystone.report.rssi == -40)
        #expect(eddystone.data.localName == "tag0")
        #expect(eddystone.data.serviceData.first?.uuid == .uuid16(0xFEAA))
        #expect(eddystone.data.serviceData.first?.data.first == 0x40)

        let odd = try #require(decoded.advertisements.first { $0.report.address == BluetoothAddress(littleEndian: Self.address(101)) })
        #expect(odd.data.other.map(\.type) == [0x3D])
        #expect(odd.data.other.first?.data == [0x01, 0x02])
        #expect(odd.data.unreadable.count == 1)
        #expect(odd.data.unreadable.first?.type == 0xFF)
        #expect(odd.data.unreadable.first?.reason.contains("runs past the end") == true)
        #expect(decoded.unknownStructures == [0x3D: 1])
        #expect(decoded.unreadableStructures == [0xFF: 1])

        let whole = try #require(decoded.advertisements.first { $0.report.address == BluetoothAddress(littleEndian: Self.address(102)) })
        #expect(whole.data.localName == "Kakehashi river gauge 筑後川 瀬ノ下")
        #expect(whole.report.dataStatus == .complete)
        #expect(whole.report.advertisingSID == 3)
    }

    /// Fragments of two advertisers interleaved are put together per advertiser and set; a chain
    /// that ends "truncated" is kept with what arrived.
    @Test func fragmentsAreReassembledPerAdvertiserAndSet() throws {
        let a = Self.address(1), b = Self.address(2)
        let name = Array("0123456789abcdefghijklmnopqrstuv".utf8)
        let whole: [UInt8] = [UInt8(name.count + 1), 0x09] + name
        let events = [
            Self.extendedEvent(eventType: 0x0020, address: a, data: Array(whole.prefix(10))),
            Self.extendedEvent(eventType: 0x0020, address: b, data: Array(whole.prefix(5))),
            Self.extendedEvent(eventType: 0x0020, address: a, data: Array(whole[10..<20])),
            Self.extendedEvent(eventType: 0x0000, address: a, data: Array(whole.dropFirst(20))),
            Self.extendedEvent(eventType: 0x0040, address: b, data: Array(whole[5..<12])),
        ]
        var decoded = DecodedCapture()
        for (index, event) in events.enumerated() {
            CaptureDecoder.decode(event: event, at: Timestamp(millisecondsSinceEpoch: Int64(index)), record: index, into: &decoded)
        }
        #expect(decoded.advertisements.count == 2)
        #expect(decoded.reassembled == 2)
        #expect(decoded.advertisements[0].report.address == BluetoothAddress(littleEndian: a))
        #expect(decoded.advertisements[0].data.localName == String(decoding: name, as: UTF8.self))
        #expect(decoded.advertisements[1].report.dataStatus == .incompleteTruncated)
        #expect(decoded.advertisements[1].report.data == Array(whole.prefix(12)))
        #expect(decoded.advertisements[1].data.unreadable.count == 1)
    }
}
