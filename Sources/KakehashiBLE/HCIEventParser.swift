/// Parses HCI events into advertising reports: LE Meta (0x3E) with LE Advertising Report (0x02,
/// several reports per event) and LE Extended Advertising Report (0x0D). Pure: bytes in, values out.
public enum HCIEventParser {
    /// The HCI event code of LE Meta events.
    public static let leMetaEvent: UInt8 = 0x3E

    /// The advertising reports in one HCI event packet (starting at the event code, without the
    /// H4 type byte). Events that are not advertising reports give an empty list; malformed ones
    /// an error that says where.
    public static func advertisingReports(inEvent packet: [UInt8]) throws(BLEParseError) -> [AdvertisingReport] {
        var reader = ByteReader(packet)
        let code = try reader.u8("HCI event code")
        let length = Int(try reader.u8("HCI event length"))
        guard length <= reader.remaining else {
            throw BLEParseError("HCI event", offset: 1, "parameter length \(length) but \(reader.remaining) bytes follow")
        }
        guard code == leMetaEvent, length > 0 else { return [] }
        reader = ByteReader(packet, from: 2, end: 2 + length)
        let subevent = try reader.u8("LE Meta subevent")
        switch subevent {
        case 0x02: return try legacyReports(&reader)
        case 0x0D: return try extendedReports(&reader)
        default: return []
        }
    }

    private static func legacyReports(_ reader: inout ByteReader) throws(BLEParseError) -> [AdvertisingReport] {
        let count = Int(try reader.u8("LE Advertising Report count"))
        guard (1...25).contains(count) else {
            throw BLEParseError("LE Advertising Report", offset: reader.offset - 1, "report count \(count) is outside 1...25")
        }
        var reports = [AdvertisingReport]()
        reports.reserveCapacity(count)
        for i in 0..<count {
            let what = "LE Advertising Report \(i + 1)"
            let start = reader.offset
            let eventType = try reader.u8("\(what) event type")
            let addressType = try reader.u8("\(what) address type")
            let address = try reader.take(6, "\(what) address")
            let dataLength = Int(try reader.u8("\(what) data length"))
            guard dataLength <= 31 else {
                throw BLEParseError("\(what) data", offset: reader.offset - 1, "length \(dataLength) exceeds the legacy maximum of 31")
            }
            let data = try reader.take(dataLength, "\(what) data")
            let rssi = Int8(bitPattern: try reader.u8("\(what) RSSI"))
            let kind: AdvertisingReport.Kind
            switch eventType {
            case 0x00: kind = .connectableUndirected
            case 0x01: kind = .connectableDirected
            case 0x02: kind = .scannableUndirected
            case 0x03: kind = .nonConnectable
            case 0x04: kind = .scanResponse
            default: throw BLEParseError("\(what) event type", offset: start, "unknown event type 0x\(Hex.byte(eventType))")
            }
            reports.append(
                AdvertisingReport(
                    kind: kind,
                    extended: false,
                    legacy: true,
                    dataStatus: .complete,
                    addressType: addressType,
                    address: BluetoothAddress(littleEndian: address),
                    rssi: rssi == 127 ? nil : Int(rssi),
                    txPower: nil,
                    data: data,
                    advertisingSID: nil
                )
            )
        }
        return reports
    }

    private static func extendedReports(_ reader: inout ByteReader) throws(BLEParseError) -> [AdvertisingReport] {
        let count = Int(try reader.u8("LE Extended Advertising Report count"))
        guard (1...10).contains(count) else {
            throw BLEParseError("LE Extended Advertising Report", offset: reader.offset - 1, "report count \(count) is outside 1...10")
        }
        var reports = [AdvertisingReport]()
        for i in 0..<count {
            let what = "LE Extended Advertising Report \(i + 1)"
            let start = reader.offset
            let eventType = try reader.u16le("\(what) event type")
            let addressType = try reader.u8("\(what) address type")
            let address = try reader.take(6, "\(what) address")
            let phys = try reader.take(3, "\(what) PHYs and SID")  // primary PHY, secondary PHY, advertising SID
            let tx = Int8(bitPattern: try reader.u8("\(what) TX power"))
            let rssi = Int8(bitPattern: try reader.u8("\(what) RSSI"))
            _ = try reader.take(2 + 1 + 6, "\(what) periodic interval and direct address")
            let dataLength = Int(try reader.u8("\(what) data length"))
            let data = try reader.take(dataLength, "\(what) data")
            let legacy = eventType & 0x10 != 0
            let status = AdvertisingReport.DataStatus(rawValue: UInt8((eventType >> 5) & 0x3))
            guard let status else {
                throw BLEParseError("\(what) event type", offset: start, "reserved data status 3")
            }
            let kind = AdvertisingReport.Kind.extended(
                connectable: eventType & 0x01 != 0,
                scannable: eventType & 0x02 != 0,
                directed: eventType & 0x04 != 0,
                scanResponse: eventType & 0x08 != 0
            )
            reports.append(
                AdvertisingReport(
                    kind: kind,
                    extended: true,
                    legacy: legacy,
                    dataStatus: status,
                    addressType: addressType,
                    address: BluetoothAddress(littleEndian: address),
                    rssi: rssi == 127 ? nil : Int(rssi),
                    txPower: tx == 127 ? nil : Int(tx),
                    data: data,
                    advertisingSID: phys[2] == 0xFF ? nil : phys[2]
                )
            )
        }
        return reports
    }
}
