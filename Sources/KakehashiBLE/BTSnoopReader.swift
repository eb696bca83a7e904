import KakehashiModel

/// One record of a btsnoop capture.
public struct BTSnoopRecord: Sendable, Hashable {
    /// The HCI packet kind.
    public enum PacketType: UInt8, Sendable, Hashable {
        case command = 0x01
        case aclData = 0x02
        case scoData = 0x03
        case event = 0x04
        case isoData = 0x05
    }

    /// The record's index in the capture (0-based).
    public let index: Int
    /// When it was captured, in UTC.
    public let timestamp: Timestamp
    /// Whether the packet came from the controller (received) rather than from the host.
    public let received: Bool
    /// The packet kind.
    public let type: PacketType
    /// The packet bytes without the H4 type indicator.
    public let packet: [UInt8]

    public init(index: Int, timestamp: Timestamp, received: Bool, type: PacketType, packet: [UInt8]) {
        self.index = index
        self.timestamp = timestamp
        self.received = received
        self.type = type
        self.packet = packet
    }
}

/// Reads btsnoop captures (the format of Android's HCI snoop log and of BlueZ's `btmon -w`):
/// datalink 1001 (HCI UART without type byte, the kind read from the flags) and 1002 (HCI UART
/// H4, a type byte first). Timestamps are microseconds since 0000-01-01, converted to UTC.
public struct BTSnoopReader: Sendable {
    /// The datalink types read.
    public enum Datalink: UInt32, Sendable {
        case hciUnencapsulated = 1001
        case hciUART = 1002
    }

    /// The capture's datalink.
    public let datalink: Datalink
    /// The records, in order.
    public let records: [BTSnoopRecord]
    /// Records that could not be read (a truncated tail, an unknown packet type), with the reason.
    public let problems: [BLEParseError]

    /// Microseconds between 0000-01-01 (btsnoop's epoch) and 1970-01-01.
    static let epochOffsetMicroseconds: Int64 = 0x00DC_DDB3_0F2F_8000

    /// Parses a whole capture.
    public init(bytes: [UInt8]) throws(BLEParseError) {
        var header = ByteReader(bytes)
        self.datalink = try Self.readHeader(&header)
        var reader = header
        var records = [BTSnoopRecord]()
        var problems = [BLEParseError]()
        var index = 0
        while reader.remaining > 0 {
            let start = reader.offset
            do throws(BLEParseError) {
                let fields = try reader.take(24, "btsnoop record \(index) header")
                let includedLength = try Self.includedLength(fields, index: index, offset: start)
                let data = try reader.take(includedLength, "btsnoop record \(index) packet")
                let record = try Self.record(fields, data, index: index, offset: start, datalink: datalink)
                records.append(record)
            } catch {
                // A truncated or corrupt record ends what can be trusted of the capture.
                problems.append(error)
                break
            }
            index += 1
        }
        self.records = records
        self.problems = problems
    }

    /// Reads the 16-byte file header and returns the datalink.
    static func readHeader(_ header: inout ByteReader) throws(BLEParseError) -> Datalink {
        let magic = try header.take(8, "btsnoop header")
        guard magic == Array("btsnoop\0".utf8) else {
            throw BLEParseError("btsnoop header", offset: 0, "not a btsnoop file (no \"btsnoop\\0\" magic)")
        }
        let version = try Self.u32be(header.take(4, "btsnoop version"))
        guard version == 1 else { throw BLEParseError("btsnoop header", offset: 8, "version \(version), only version 1 exists") }
        let link = try Self.u32be(header.take(4, "btsnoop datalink"))
        guard let datalink = Datalink(rawValue: link) else {
            throw BLEParseError("btsnoop header", offset: 12, "datalink \(link) is not 1001 (HCI) or 1002 (HCI UART H4)")
        }
        return datalink
    }

    /// The packet length a 24-byte record header announces, checked.
    static func includedLength(_ fields: some Collection<UInt8>, index: Int, offset: Int) throws(BLEParseError) -> Int {
        let f = Array(fields)
        let originalLength = Self.u32be(f[0..<4])
        let includedLength = Int(Self.u32be(f[4..<8]))
        guard includedLength <= originalLength, includedLength <= 65_535 + 5 else {
            throw BLEParseError(
                "btsnoop record \(index)",
                offset: offset,
                "included length \(includedLength) is impossible (original \(originalLength))"
            )
        }
        return includedLength
    }

    /// One record from its 24-byte header and its packet bytes.
    static func record(
        _ fields: some Collection<UInt8>,
        _ data: some Collection<UInt8>,
        index: Int,
        offset start: Int,
        datalink: Datalink
    ) throws(BLEParseError) -> BTSnoopRecord {
        let f = Array(fields), data = Array(data)
        let flags = Self.u32be(f[8..<12])
        let micros = Int64(bitPattern: UInt64(Self.u32be(f[16..<20])) << 32 | UInt64(Self.u32be(f[20..<24])))
        let (sinceEpoch, overflow) = micros.subtractingReportingOverflow(Self.epochOffsetMicroseconds)
        let timestamp = Timestamp(millisecondsSinceEpoch: sinceEpoch / 1000)
        guard !overflow, timestamp >= Timestamp.minimum, timestamp <= Timestamp.maximum else {
            throw BLEParseError("btsnoop record \(index) timestamp", offset: start + 16, "\(micros) µs since year 0 is outside years 0001-9999")
        }
        let received = flags & 0x01 != 0
        switch datalink {
        case .hciUART:
            guard let first = data.first else { throw BLEParseError("btsnoop record \(index)", offset: start + 24, "empty packet") }
            guard let type = BTSnoopRecord.PacketType(rawValue: first) else {
                throw BLEParseError("btsnoop record \(index)", offset: start + 24, "unknown H4 packet type 0x\(Hex.byte(first))")
            }
            return BTSnoopRecord(index: index, timestamp: timestamp, received: received, type: type, packet: Array(data.dropFirst()))
        case .hciUnencapsulated:
            let isCommandOrEvent = flags & 0x02 != 0
            let type: BTSnoopRecord.PacketType = isCommandOrEvent ? (received ? .event : .command) : .aclData
            return BTSnoopRecord(index: index, timestamp: timestamp, received: received, type: type, packet: data)
        }
    }

    static func u32be(_ bytes: some Collection<UInt8>) -> UInt32 {
        bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }
}
