import Testing

@testable import KakehashiBLE

/// Byte-exact vectors built from the specifications (Eddystone protocol specification, AltBeacon
/// specification, Bluetooth Core 5.x Vol 4 Part E §7.7.65.2 and §7.7.65.13).
struct VectorTests {
    static func adv(_ bytes: [UInt8]) throws -> Beacon? { try Beacon.decode(AdvertisingData(parsing: bytes)) }
    /// Service data AD structure for Eddystone (UUID 0xFEAA) around `frame`, after flags and the UUID list.
    static func eddystone(_ frame: [UInt8]) -> [UInt8] {
        [0x02, 0x01, 0x06, 0x03, 0x03, 0xAA, 0xFE, UInt8(frame.count + 3), 0x16, 0xAA, 0xFE] + frame
    }

    @Test func eddystoneUID() throws {
        let frame: [UInt8] = [0x00, 0xE7] + Array(0x00...0x09) + [0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5] + [0x00, 0x00]
        #expect(
            try Self.adv(Self.eddystone(frame))
                == .eddystoneUID(txPower: -25, namespace: Array(0x00...0x09), instance: [0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5])
        )
    }

    static let urls: [([UInt8], String)] = [
        ([0x03] + Array("goo.gl/S6zT6P".utf8), "https://goo.gl/S6zT6P"),
        ([0x00] + Array("example".utf8) + [0x07], "http://www.example.com"),
        ([0x01] + Array("city".utf8) + [0x00] + Array("flood".utf8), "https://www.city.com/flood"),
        ([0x02] + Array("kurume".utf8) + [0x0B], "http://kurume.info"),
        (
            [0x02] + Array("a".utf8) + [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0A, 0x0C, 0x0D],
            "http://a.org/.edu/.net/.info/.biz/.gov/.org.edu.net.biz.gov"
        ),
    ]

    @Test(arguments: urls)
    func eddystoneURL(encoded: [UInt8], url: String) throws {
        #expect(try Self.adv(Self.eddystone([0x10, 0xEE] + encoded)) == .eddystoneURL(txPower: -18, url: url))
    }

    @Test func eddystoneTLM() throws {
        let frame: [UInt8] = [0x20, 0x00, 0x0B, 0xB8, 0x19, 0x80, 0x00, 0x00, 0x12, 0x34, 0x00, 0x00, 0x00, 0x64]
        #expect(
            try Self.adv(Self.eddystone(frame))
                == .eddystoneTLM(batteryMillivolts: 3000, temperature: 25.5, advertisingCount: 0x1234, uptimeDeciseconds: 100)
        )
        // Not supported: battery 0 and temperature 0x8000; below zero: 0xFF80 is -0.5 °C.
        let unsupported: [UInt8] = [0x20, 0x00, 0x00, 0x00, 0x80, 0x00, 0, 0, 0, 1, 0, 0, 0, 2]
        #expect(
            try Self.adv(Self.eddystone(unsupported))
                == .eddystoneTLM(batteryMillivolts: nil, temperature: nil, advertisingCount: 1, uptimeDeciseconds: 2)
        )
        let cold: [UInt8] = [0x20, 0x00, 0x0C, 0x1C, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0]
        #expect(
            try Self.adv(Self.eddystone(cold)) == .eddystoneTLM(batteryMillivolts: 3100, temperature: -0.5, advertisingCount: 0, uptimeDeciseconds: 0)
        )
        let encrypted: [UInt8] = [0x20, 0x01] + Array(1...12) + [0xAB, 0xCD, 0x12, 0x34]
        #expect(try Self.adv(Self.eddystone(encrypted)) == .eddystoneEncryptedTLM(encrypted: Array(1...12), salt: 0xABCD, check: 0x1234))
    }

    @Test func eddystoneEID() throws {
        #expect(try Self.adv(Self.eddystone([0x30, 0xF0, 1, 2, 3, 4, 5, 6, 7, 8])) == .eddystoneEID(txPower: -16, eid: [1, 2, 3, 4, 5, 6, 7, 8]))
    }

    @Test func altBeacon() throws {
        let id: [UInt8] = Array(0x10...0x23)
        let bytes: [UInt8] = [0x1B, 0xFF, 0x18, 0x01, 0xBE, 0xAC] + id + [0xC5, 0x00]
        #expect(try Self.adv(bytes) == .altBeacon(manufacturer: 0x0118, beaconID: id, referenceRSSI: -59, reserved: 0))
    }

    @Test func iBeaconAndPlainAppleData() throws {
        let uuid: [UInt8] = Array(0xE0...0xEF)
        let bytes: [UInt8] = [0x02, 0x01, 0x06, 0x1A, 0xFF, 0x4C, 0x00, 0x02, 0x15] + uuid + [0x00, 0x05, 0x00, 0x06, 0xB0]
        #expect(try Self.adv(bytes) == .iBeacon(uuid: uuid, major: 5, minor: 6, measuredPower: -80))
        // Apple "nearby" data (type 0x10) is not a beacon.
        #expect(try Self.adv([0x07, 0xFF, 0x4C, 0x00, 0x10, 0x02, 0x0B, 0x00]) == nil)
    }

    @Test func legacyEventWithTwoReports() throws {
        let first: [UInt8] = [0x03, 0x01, 0x22, 0x11, 0x00, 0xEE, 0xFF, 0xC0, 0x03, 0x02, 0x01, 0x06, 0xB5]
        let second: [UInt8] = [0x04, 0x00, 1, 2, 3, 4, 5, 6, 0x00, 0x7F]
        let parameters: [UInt8] = [0x02, 0x02] + first + second
        let event: [UInt8] = [0x3E, UInt8(parameters.count)] + parameters
        let reports = try HCIEventParser.advertisingReports(inEvent: event)
        #expect(reports.count == 2)
        #expect(reports[0].kind == .nonConnectable)
        #expect(reports[0].address.description == "C0:FF:EE:00:11:22")
        #expect(reports[0].rssi == -75)
        #expect(reports[0].data == [0x02, 0x01, 0x06])
        #expect(reports[1].kind == .scanResponse)
        #expect(reports[1].rssi == nil, "127 means not available")
        #expect(reports[1].data.isEmpty)
    }

    @Test func extendedEvent() throws {
        let data: [UInt8] = [0x02, 0x01, 0x06, 0x03, 0x03, 0xAA, 0xFE]
        // Event type 0x0013: connectable + scannable + legacy, data complete.
        var report: [UInt8] = [0x13, 0x00, 0x01, 6, 5, 4, 3, 2, 1, 0x01, 0x00, 0xFF, 0x7F, 0xC4, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0]
        report += [UInt8(data.count)] + data
        let parameters: [UInt8] = [0x0D, 0x01] + report
        let reports = try HCIEventParser.advertisingReports(inEvent: [0x3E, UInt8(parameters.count)] + parameters)
        let only = try #require(reports.first)
        #expect(only.extended && only.legacy)
        #expect(only.kind == .extended(connectable: true, scannable: true, directed: false, scanResponse: false))
        #expect(only.dataStatus == .complete)
        #expect(only.txPower == nil)
        #expect(only.rssi == -60)
        #expect(only.address.description == "01:02:03:04:05:06")
        #expect(only.data == data)
        // Data status 1 (more to come) in bits 5–6; a non-legacy PDU.
        var partial = report
        partial[0] = 0x21
        let more = try HCIEventParser.advertisingReports(inEvent: [0x3E, UInt8(parameters.count), 0x0D, 0x01] + partial)
        #expect(more.first?.dataStatus == .incompleteMoreToCome)
        #expect(more.first?.legacy == false)
    }

    @Test func otherEventsAreNotReports() throws {
        #expect(try HCIEventParser.advertisingReports(inEvent: [0x0E, 0x04, 0x01, 0x03, 0x0C, 0x00]).isEmpty)
        #expect(try HCIEventParser.advertisingReports(inEvent: [0x3E, 0x02, 0x04, 0x00]).isEmpty)
    }

    static let malformedEvents: [([UInt8], String)] = [
        ([], "HCI event code"),
        ([0x3E], "HCI event length"),
        ([0x3E, 0x10, 0x02], "parameter length 16"),
        ([0x3E, 0x02, 0x02, 0x00], "report count 0"),
        ([0x3E, 0x02, 0x02, 0x1A], "report count 26"),
        ([0x3E, 0x05, 0x02, 0x01, 0x00, 0x00, 0x01], "address"),
        ([0x3E, 0x0B, 0x02, 0x01, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 0x05], "data"),
        ([0x3E, 0x0B, 0x02, 0x01, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 0x20], "exceeds the legacy maximum of 31"),
        ([0x3E, 0x0C, 0x02, 0x01, 0x09, 0x00, 1, 2, 3, 4, 5, 6, 0x00, 0x00], "unknown event type 0x09"),
        ([0x3E, 0x0B, 0x02, 0x01, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 0x00], "RSSI"),
        ([0x3E, 0x04, 0x0D, 0x01, 0x13, 0x00], "LE Extended Advertising Report 1"),
        ([0x3E, 0x02, 0x0D, 0x0B], "report count 11"),
    ]

    @Test(arguments: malformedEvents)
    func malformedEventsAreErrorsNotCrashes(bytes: [UInt8], why: String) {
        #expect {
            try HCIEventParser.advertisingReports(inEvent: bytes)
        } throws: { error in
            let text = "\(error)"
            if !text.contains(why) { Issue.record("\(bytes): \(text)") }
            return text.contains(why)
        }
    }

    static let malformedData: [([UInt8], String)] = [
        ([0x05, 0x09, 0x41], "runs past the end"),
        ([0x01, 0x0A], "AD TX power level"),
        ([0x02, 0x03, 0xAA], "not a multiple of 2"),
        ([0x04, 0x07, 1, 2, 3], "not a multiple of 16"),
        ([0x02, 0xFF, 0x4C], "AD manufacturer data"),
        ([0x06, 0xFF, 0x4C, 0x00, 0x02, 0x15, 0x01], "iBeacon"),
        ([0x06, 0xFF, 0x18, 0x01, 0xBE, 0xAC, 0x01], "AltBeacon"),
        (eddystone([0x00, 0xE7, 1, 2, 3]), "Eddystone-UID"),
        (eddystone([0x10, 0xEE, 0x04, 0x61]), "unknown scheme prefix 0x04"),
        (eddystone([0x10, 0xEE, 0x02, 0x61, 0x20]), "byte 0x20 is reserved"),
        (eddystone([0x10, 0xEE, 0x02] + Array(repeating: 0x61, count: 18)), "exceed 17"),
        (eddystone([0x20, 0x00, 0x0B]), "Eddystone-TLM"),
        (eddystone([0x20, 0x02] + Array(repeating: 0, count: 12)), "unknown version 0x02"),
        (eddystone([0x40, 0x00]), "unknown frame type 0x40"),
        (eddystone([0x30, 0x00, 1, 2]), "Eddystone-EID"),
        ([0x03, 0x16, 0xAA, 0xFE], "empty service data"),
    ]

    @Test(arguments: malformedData)
    func malformedAdvertisingDataIsAnError(bytes: [UInt8], why: String) {
        #expect {
            try Beacon.decode(AdvertisingData(parsing: bytes))
        } throws: { error in
            let text = "\(error)"
            if !text.contains(why) { Issue.record("\(bytes): \(text)") }
            return text.contains(why)
        }
    }

    @Test func paddingAfterAZeroLengthIsIgnored() throws {
        let data = try AdvertisingData(parsing: [0x02, 0x01, 0x06, 0x00, 0x00, 0x00])
        #expect(data.flags == 0x06)
    }
}

/// The scan command parameters, byte by byte (Core 5.x Vol 4 Part E §7.8.64, §7.8.65; feature bit
/// 12 of §4.6 in Vol 6 Part B).
struct ScanCommandTests {
    @Test func extendedScanParametersLayout() {
        #expect(ScanCommands.extendedScanParameters(active: true) == [0x00, 0x00, 0x01, 0x01, 0x10, 0x00, 0x10, 0x00])
        #expect(
            ScanCommands.extendedScanParameters(active: false, interval: 0x0060, window: 0x0030) == [0x00, 0x00, 0x01, 0x00, 0x60, 0x00, 0x30, 0x00]
        )
        #expect(ScanCommands.extendedScanEnable(true) == [0x01, 0x00, 0x00, 0x00, 0x00, 0x00])
        #expect(ScanCommands.extendedScanEnable(false) == [0x00, 0x00, 0x00, 0x00, 0x00, 0x00])
    }

    @Test func extendedAdvertisingFeatureBit() {
        #expect(ScanCommands.supportsExtendedAdvertising(features: [0xFF, 0x10, 0, 0, 0, 0, 0, 0]))
        #expect(!ScanCommands.supportsExtendedAdvertising(features: [0xFF, 0xEF, 0xFF, 0, 0, 0, 0, 0]))
        #expect(!ScanCommands.supportsExtendedAdvertising(features: [0x01]))
    }
}

/// Datalink 1001 captures: no H4 byte; the flags say command/event and direction.
struct Datalink1001Tests {
    @Test func recordsTakeTheirKindFromTheFlags() throws {
        let event: [UInt8] = [0x3E, 0x0C, 0x02, 0x01, 0x03, 0x01, 0x22, 0x11, 0x00, 0xEE, 0xFF, 0xC0, 0x00, 0xB5]
        func record(_ packet: [UInt8], flags: UInt32, micros: Int64) -> [UInt8] {
            func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
            let length = UInt32(packet.count)
            return be32(length) + be32(length) + be32(flags) + be32(0) + be32(UInt32(UInt64(bitPattern: micros) >> 32))
                + be32(UInt32(truncatingIfNeeded: micros)) + packet
        }
        let epoch: Int64 = 0x00DC_DDB3_0F2F_8000
        let header = Array("btsnoop\0".utf8) + [0, 0, 0, 1, 0, 0, 0x03, 0xE9]
        let bytes =
            header + record([0x03, 0x0C, 0x00], flags: 0x02, micros: epoch) + record(event, flags: 0x03, micros: epoch + 1_500_000)
            + record([0x01, 0x20, 0x00], flags: 0x00, micros: epoch + 2_000_000)
        let capture = try BTSnoopReader(bytes: bytes)
        #expect(capture.datalink == .hciUnencapsulated)
        #expect(capture.records.map(\.type) == [.command, .event, .aclData])
        #expect(capture.records[1].timestamp.iso8601 == "1970-01-01T00:00:01.500Z")
        let decoded = CaptureDecoder.decode(capture)
        #expect(decoded.advertisements.count == 1)
        #expect(decoded.advertisements.first?.report.address.description == "C0:FF:EE:00:11:22")
    }
}
