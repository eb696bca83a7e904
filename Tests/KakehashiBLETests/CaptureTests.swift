import Foundation
import KakehashiTestSupport
import Testing

@testable import KakehashiBLE
@testable import KakehashiModel

/// The real captures of Tests/Fixtures/ble (sources in Tests/Fixtures/README.md).
struct CaptureTests {
    static func decode(_ name: String) throws -> (BTSnoopReader, DecodedCapture) {
        let bytes = Array(try Data(contentsOf: RepositoryPaths.trace("ble/\(name)")))
        let capture = try BTSnoopReader(bytes: bytes)
        return (capture, CaptureDecoder.decode(capture))
    }

    @Test func horizonCaptureCounts() throws {
        let (capture, decoded) = try Self.decode("horizon-74.btsnoop")
        #expect(capture.datalink == .hciUART)
        #expect(capture.records.count == 2572)
        #expect(capture.problems.isEmpty)
        #expect(decoded.problems.isEmpty, "\(decoded.problems.prefix(3))")
        #expect(decoded.advertisements.count == 412)
        #expect(
            decoded.advertisements.filter {
                if case .iBeacon? = $0.beacon { return true }; return false
            }.count == 11
        )
        #expect(Set(decoded.advertisements.map(\.report.address)).count == 36)
    }

    @Test func yeelockCaptureCounts() throws {
        let (capture, decoded) = try Self.decode("yeelock.btsnoop")
        #expect(capture.records.count == 690)
        #expect(decoded.problems.isEmpty)
        #expect(decoded.advertisements.count == 26)
        #expect(decoded.advertisements.filter { $0.beacon?.kind == "ibeacon" }.count == 6)
        #expect(Set(decoded.advertisements.map(\.report.address)).count == 9)
    }

    @Test func exactValuesOfChosenReports() throws {
        let (_, horizon) = try Self.decode("horizon-74.btsnoop")
        let first = try #require(horizon.advertisements.first)
        #expect(first.report.address.description == "82:7B:7B:6B:F9:42")
        #expect(first.report.rssi == -49)
        #expect(first.report.kind == .connectableUndirected)
        #expect(first.report.extended == false)
        #expect(first.data.localName == "GVH5072_6FAB")
        #expect(first.data.serviceUUIDs == [.uuid16(0xEC88)])
        #expect(first.data.flags == 0x05)
        #expect(first.data.manufacturerData.first?.company == 0xEC88)
        // btsnoop time 63780406079789053 µs since year 0 is 2021-02-01T03:27:59.789Z.
        #expect(first.timestamp.iso8601 == "2021-02-01T03:27:59.789Z")
        let beacon = try #require(horizon.advertisements.first { $0.beacon != nil })
        #expect(beacon.beacon == .iBeacon(uuid: Array("INTELLI_ROCKS_HW".utf8), major: 20594, minor: 62207, measuredPower: -62))

        let (_, yeelock) = try Self.decode("yeelock.btsnoop")
        let tag = try #require(yeelock.advertisements.first { $0.beacon != nil })
        #expect(tag.report.address.description == "3E:B9:52:70:E9:2E")
        #expect(tag.report.addressType == 1)
        #expect(tag.report.rssi == -74)
        #expect(tag.beacon == .iBeacon(uuid: hex("fda50693a4e24fb1afcfc6eb07647825"), major: 5, minor: 6, measuredPower: -80))
        #expect(tag.timestamp.iso8601 == "2019-03-10T13:12:25.722Z")
    }

    @Test func truncatedCaptureKeepsWhatIsWhole() throws {
        let bytes = Array(try Data(contentsOf: RepositoryPaths.trace("ble/yeelock.btsnoop")))
        let capture = try BTSnoopReader(bytes: Array(bytes.prefix(bytes.count - 5)))
        #expect(capture.records.count == 689)
        #expect(capture.problems.count == 1)
        #expect(capture.problems.first?.reason.contains("truncated") == true)
        #expect(throws: BLEParseError.self) { try BTSnoopReader(bytes: Array("not a capture at all".utf8)) }
        #expect(throws: BLEParseError.self) { try BTSnoopReader(bytes: Array(bytes.prefix(10))) }
    }
}

func hex(_ text: String) -> [UInt8] {
    var bytes = [UInt8]()
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

/// Inputs the fuzzer found, kept as regression tests.
struct FuzzRegressionTests {
    @Test func btsnoopTimestampFarOutOfRangeIsAnErrorNotAnOverflow() {
        // A record whose timestamp is -2^63 µs: subtracting the epoch offset overflowed.
        let record: [UInt8] = [0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0]
        let header = Array("btsnoop\0".utf8) + [0, 0, 0, 1, 0, 0, 0x03, 0xEA]
        #expect(throws: Never.self) {
            let capture = try BTSnoopReader(bytes: header + record)
            #expect(capture.records.isEmpty)
            #expect(capture.problems.first?.reason.contains("outside years 0001-9999") == true)
        }
    }
}
