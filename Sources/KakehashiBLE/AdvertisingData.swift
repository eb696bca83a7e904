/// A Bluetooth UUID as advertised: 16-, 32- or 128-bit.
public enum BluetoothUUID: Sendable, Hashable, CustomStringConvertible {
    case uuid16(UInt16)
    case uuid32(UInt32)
    /// 16 bytes in big-endian (text) order.
    case uuid128([UInt8])

    public var description: String {
        switch self {
        case .uuid16(let value): return Hex.string([UInt8(value >> 8), UInt8(value & 0xFF)])
        case .uuid32(let value): return Hex.string((0..<4).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) })
        case .uuid128(let bytes): return BluetoothUUID.format128(bytes)
        }
    }

    /// `8-4-4-4-12` lowercase text of 16 big-endian bytes.
    public static func format128(_ bytes: [UInt8]) -> String {
        let hex = Hex.string(bytes)
        let parts = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { range in
            String(hex[hex.index(hex.startIndex, offsetBy: range.lowerBound)..<hex.index(hex.startIndex, offsetBy: range.upperBound)])
        }
        return parts.joined(separator: "-")
    }
}

/// The AD structures of an advertisement (Core Specification Supplement, part A).
public struct AdvertisingData: Sendable, Hashable {
    /// Flags (type 0x01).
    public var flags: UInt8?
    /// Complete (0x09) or shortened (0x08) local name.
    public var localName: String?
    /// Whether `localName` is the complete name.
    public var localNameIsComplete = false
    /// Service UUIDs from the 16-, 32- and 128-bit lists (complete or incomplete).
    public var serviceUUIDs: [BluetoothUUID] = []
    /// Manufacturer-specific data (0xFF): company identifier and the bytes after it.
    public var manufacturerData: [(company: UInt16, data: [UInt8])] = []
    /// Service data (0x16, 0x20, 0x21): service UUID and the bytes after it.
    public var serviceData: [(uuid: BluetoothUUID, data: [UInt8])] = []
    /// TX power level (0x0A), dBm.
    public var txPowerLevel: Int?
    /// Structures of other types, kept raw.
    public var other: [(type: UInt8, data: [UInt8])] = []
    /// Structures that could not be read (too short for their type, or a length running past the
    /// end), kept raw with the reason (``init(parsing:)`` throws the first instead).
    public var unreadable: [(type: UInt8?, data: [UInt8], reason: String)] = []

    /// The first structure that could not be read, as the error ``init(parsing:)`` throws.
    private var firstProblem: BLEParseError?

    /// Parses AD structures; a length running past the end, or a structure too short for its
    /// type, is an error naming the structure and the offset.
    public init(parsing bytes: [UInt8]) throws(BLEParseError) {
        self.init(keeping: bytes)
        if let firstProblem { throw firstProblem }
    }

    /// Parses AD structures, keeping every one: a structure too short for its type, or a length
    /// running past the end, goes to ``unreadable`` (raw, with the reason) and the others are
    /// read as usual, so one odd structure never costs the report.
    public init(keeping bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let length = Int(bytes[offset])
            // Zero length ends the significant part; the rest must be padding (zeros).
            if length == 0 { break }
            guard offset + 1 + length <= bytes.count else {
                let type = offset + 1 < bytes.count ? bytes[offset + 1] : nil
                keep(
                    type,
                    Array(bytes[min(offset + 2, bytes.count)...]),
                    BLEParseError("AD structure", offset: offset, "length \(length) runs past the end (\(bytes.count - offset - 1) bytes left)")
                )
                break
            }
            let type = bytes[offset + 1]
            let value = Array(bytes[(offset + 2)..<(offset + 1 + length)])
            do {
                try apply(type: type, value: value, at: offset)
            } catch {
                keep(type, value, error)
            }
            offset += 1 + length
        }
    }

    /// Records a structure that could not be read.
    private mutating func keep(_ type: UInt8?, _ data: [UInt8], _ problem: BLEParseError) {
        unreadable.append((type, data, problem.description))
        if firstProblem == nil { firstProblem = problem }
    }

    private mutating func apply(type: UInt8, value: [UInt8], at offset: Int) throws(BLEParseError) {
        func need(_ count: Int, _ name: String) throws(BLEParseError) {
            guard value.count >= count else { throw BLEParseError(name, offset: offset, "\(value.count) bytes, needs at least \(count)") }
        }
        func multiple(_ size: Int, _ name: String) throws(BLEParseError) {
            guard value.count % size == 0 else { throw BLEParseError(name, offset: offset, "\(value.count) bytes is not a multiple of \(size)") }
        }
        switch type {
        case 0x01:
            try need(1, "AD flags")
            flags = value[0]
        case 0x02, 0x03:
            try multiple(2, "AD 16-bit service UUIDs")
            for i in stride(from: 0, to: value.count, by: 2) { serviceUUIDs.append(.uuid16(UInt16(value[i]) | UInt16(value[i + 1]) << 8)) }
        case 0x04, 0x05:
            try multiple(4, "AD 32-bit service UUIDs")
            for i in stride(from: 0, to: value.count, by: 4) { serviceUUIDs.append(.uuid32(Self.u32le(value, i))) }
        case 0x06, 0x07:
            try multiple(16, "AD 128-bit service UUIDs")
            for i in stride(from: 0, to: value.count, by: 16) { serviceUUIDs.append(.uuid128(value[i..<i + 16].reversed())) }
        case 0x08, 0x09:
            localName = String(decoding: value, as: UTF8.self)
            localNameIsComplete = type == 0x09
        case 0x0A:
            try need(1, "AD TX power level")
            txPowerLevel = Int(Int8(bitPattern: value[0]))
        case 0x16:
            try need(2, "AD service data (16-bit UUID)")
            serviceData.append((.uuid16(UInt16(value[0]) | UInt16(value[1]) << 8), Array(value.dropFirst(2))))
        case 0x20:
            try need(4, "AD service data (32-bit UUID)")
            serviceData.append((.uuid32(Self.u32le(value, 0)), Array(value.dropFirst(4))))
        case 0x21:
            try need(16, "AD service data (128-bit UUID)")
            serviceData.append((.uuid128(value[0..<16].reversed()), Array(value.dropFirst(16))))
        case 0xFF:
            try need(2, "AD manufacturer data")
            manufacturerData.append((UInt16(value[0]) | UInt16(value[1]) << 8, Array(value.dropFirst(2))))
        default:
            other.append((type, value))
        }
    }

    static func u32le(_ bytes: [UInt8], _ i: Int) -> UInt32 {
        UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
    }

    public static func == (lhs: AdvertisingData, rhs: AdvertisingData) -> Bool {
        lhs.flags == rhs.flags && lhs.localName == rhs.localName && lhs.serviceUUIDs == rhs.serviceUUIDs
            && lhs.manufacturerData.map(\.company) == rhs.manufacturerData.map(\.company)
            && lhs.manufacturerData.map(\.data) == rhs.manufacturerData.map(\.data)
            && lhs.serviceData.map(\.uuid) == rhs.serviceData.map(\.uuid) && lhs.serviceData.map(\.data) == rhs.serviceData.map(\.data)
            && lhs.txPowerLevel == rhs.txPowerLevel
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(flags)
        hasher.combine(localName)
        hasher.combine(serviceUUIDs)
    }
}
