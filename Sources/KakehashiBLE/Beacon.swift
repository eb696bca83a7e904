/// A beacon frame decoded from an advertisement: iBeacon, AltBeacon, or an Eddystone frame.
public enum Beacon: Sendable, Hashable {
    /// Apple iBeacon: proximity UUID, major, minor, measured power at 1 m (dBm).
    case iBeacon(uuid: [UInt8], major: UInt16, minor: UInt16, measuredPower: Int)
    /// AltBeacon: the manufacturer, a 20-byte beacon id, reference RSSI at 1 m, a reserved byte.
    case altBeacon(manufacturer: UInt16, beaconID: [UInt8], referenceRSSI: Int, reserved: UInt8)
    /// Eddystone-UID: TX power at 0 m, 10-byte namespace, 6-byte instance.
    case eddystoneUID(txPower: Int, namespace: [UInt8], instance: [UInt8])
    /// Eddystone-URL: TX power at 0 m and the expanded URL.
    case eddystoneURL(txPower: Int, url: String)
    /// Eddystone-TLM (unencrypted): battery in mV and temperature in °C (nil when not supported),
    /// advertisements sent and time since power-on in 0.1 s.
    case eddystoneTLM(batteryMillivolts: Int?, temperature: Double?, advertisingCount: UInt32, uptimeDeciseconds: UInt32)
    /// Eddystone-TLM, encrypted (version 1): the 12 encrypted bytes, salt and check.
    case eddystoneEncryptedTLM(encrypted: [UInt8], salt: UInt16, check: UInt16)
    /// Eddystone-EID: TX power at 0 m and the 8-byte ephemeral identifier.
    case eddystoneEID(txPower: Int, eid: [UInt8])

    /// The `kind` name used in JSON output.
    public var kind: String {
        switch self {
        case .iBeacon: "ibeacon"
        case .altBeacon: "altbeacon"
        case .eddystoneUID: "eddystone-uid"
        case .eddystoneURL: "eddystone-url"
        case .eddystoneTLM, .eddystoneEncryptedTLM: "eddystone-tlm"
        case .eddystoneEID: "eddystone-eid"
        }
    }

    /// Apple's company identifier.
    public static let appleCompany: UInt16 = 0x004C
    /// The Eddystone service UUID.
    public static let eddystoneService: UInt16 = 0xFEAA

    /// The beacon in `data`, nil when it carries none; a frame that announces a beacon format but
    /// is malformed is an error.
    public static func decode(_ data: AdvertisingData) throws(BLEParseError) -> Beacon? {
        for (company, bytes) in data.manufacturerData {
            if company == appleCompany, bytes.count >= 2, bytes[0] == 0x02, bytes[1] == 0x15 {
                guard bytes.count >= 23 else { throw BLEParseError("iBeacon", offset: 0, "\(bytes.count) bytes after the company id, needs 23") }
                return .iBeacon(
                    uuid: Array(bytes[2..<18]),
                    major: be16(bytes, 18),
                    minor: be16(bytes, 20),
                    measuredPower: Int(Int8(bitPattern: bytes[22]))
                )
            }
            if bytes.count >= 2, bytes[0] == 0xBE, bytes[1] == 0xAC {
                guard bytes.count >= 24 else { throw BLEParseError("AltBeacon", offset: 0, "\(bytes.count) bytes after the company id, needs 24") }
                return .altBeacon(
                    manufacturer: company,
                    beaconID: Array(bytes[2..<22]),
                    referenceRSSI: Int(Int8(bitPattern: bytes[22])),
                    reserved: bytes[23]
                )
            }
        }
        for (uuid, bytes) in data.serviceData where uuid == .uuid16(eddystoneService) {
            return try eddystone(bytes)
        }
        return nil
    }

    static func eddystone(_ frame: [UInt8]) throws(BLEParseError) -> Beacon {
        guard let type = frame.first else { throw BLEParseError("Eddystone frame", offset: 0, "empty service data") }
        func need(_ count: Int, _ name: String) throws(BLEParseError) {
            guard frame.count >= count else { throw BLEParseError(name, offset: 0, "\(frame.count) bytes, needs \(count)") }
        }
        switch type {
        case 0x00:
            try need(18, "Eddystone-UID")
            return .eddystoneUID(txPower: Int(Int8(bitPattern: frame[1])), namespace: Array(frame[2..<12]), instance: Array(frame[12..<18]))
        case 0x10:
            try need(3, "Eddystone-URL")
            guard frame.count <= 20 else { throw BLEParseError("Eddystone-URL", offset: 0, "\(frame.count - 3) encoded URL bytes exceed 17") }
            return .eddystoneURL(txPower: Int(Int8(bitPattern: frame[1])), url: try expandURL(scheme: frame[2], encoded: Array(frame[3...])))
        case 0x20:
            try need(2, "Eddystone-TLM")
            switch frame[1] {
            case 0x00:
                try need(14, "Eddystone-TLM")
                let millivolts = Int(be16(frame, 2))
                let rawTemperature = Int16(bitPattern: be16(frame, 4))
                return .eddystoneTLM(
                    batteryMillivolts: millivolts == 0 ? nil : millivolts,
                    temperature: rawTemperature == Int16.min ? nil : Double(rawTemperature) / 256,
                    advertisingCount: be32(frame, 6),
                    uptimeDeciseconds: be32(frame, 10)
                )
            case 0x01:
                try need(18, "Eddystone-TLM (encrypted)")
                return .eddystoneEncryptedTLM(encrypted: Array(frame[2..<14]), salt: be16(frame, 14), check: be16(frame, 16))
            default:
                throw BLEParseError("Eddystone-TLM", offset: 1, "unknown version 0x\(Hex.byte(frame[1]))")
            }
        case 0x30:
            try need(10, "Eddystone-EID")
            return .eddystoneEID(txPower: Int(Int8(bitPattern: frame[1])), eid: Array(frame[2..<10]))
        default:
            throw BLEParseError("Eddystone frame", offset: 0, "unknown frame type 0x\(Hex.byte(type))")
        }
    }

    static let schemes = ["http://www.", "https://www.", "http://", "https://"]
    static let expansions = [".com/", ".org/", ".edu/", ".net/", ".info/", ".biz/", ".gov/", ".com", ".org", ".edu", ".net", ".info", ".biz", ".gov"]

    /// Expands an Eddystone-URL scheme byte and encoded URL into the full URL.
    static func expandURL(scheme: UInt8, encoded: [UInt8]) throws(BLEParseError) -> String {
        guard Int(scheme) < schemes.count else {
            throw BLEParseError("Eddystone-URL scheme", offset: 2, "unknown scheme prefix 0x\(Hex.byte(scheme))")
        }
        var url = schemes[Int(scheme)]
        for (i, byte) in encoded.enumerated() {
            switch byte {
            case 0x00...0x0D: url += expansions[Int(byte)]
            case 0x21...0x7E: url.unicodeScalars.append(Unicode.Scalar(byte))
            default: throw BLEParseError("Eddystone-URL", offset: 3 + i, "byte 0x\(Hex.byte(byte)) is reserved")
            }
        }
        return url
    }

    static func be16(_ bytes: [UInt8], _ i: Int) -> UInt16 { UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]) }
    static func be32(_ bytes: [UInt8], _ i: Int) -> UInt32 {
        UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3])
    }
}
