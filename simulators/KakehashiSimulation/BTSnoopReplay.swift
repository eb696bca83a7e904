import KakehashiBLE
import KakehashiModel

/// A btsnoop capture made ready to feed a gateway: records cut to a window and moved in time,
/// written back as btsnoop (datalink 1002, HCI UART H4) one record at a time.
public struct BTSnoopReplay: Sendable {
    /// The records sent, their times shifted.
    public let records: [BTSnoopRecord]
    public let outsideWindow: Int
    public let shiftMilliseconds: Int64

    public init(_ capture: BTSnoopReader, from: Timestamp? = nil, to: Timestamp? = nil, shift: ReplayTimeline.Shift = .none) {
        let kept = capture.records.filter { record in
            (from.map { record.timestamp >= $0 } ?? true) && (to.map { record.timestamp < $0 } ?? true)
        }
        outsideWindow = capture.records.count - kept.count
        switch shift {
        case .none:
            shiftMilliseconds = 0
        case .endAt(let end):
            let last = kept.map(\.timestamp).max() ?? end
            let delta = end.millisecondsSinceEpoch - last.millisecondsSinceEpoch
            shiftMilliseconds = delta >= 0 ? delta / 1000 * 1000 : -((-delta + 999) / 1000 * 1000)
        }
        let shift = shiftMilliseconds
        records = kept.map { record in
            BTSnoopRecord(
                index: record.index,
                timestamp: record.timestamp.advanced(byMilliseconds: shift),
                received: record.received,
                type: record.type,
                packet: record.packet
            )
        }
    }

    /// The 16-byte file header: magic, version 1, datalink 1002.
    public static let header: [UInt8] = Array("btsnoop\0".utf8) + [0, 0, 0, 1, 0, 0, 0x03, 0xEA]

    /// One record: 24-byte header (lengths, flags, drops, time in µs since year 0) and the H4 packet.
    public static func encode(_ record: BTSnoopRecord) -> [UInt8] {
        let length = UInt32(record.packet.count + 1)
        var flags: UInt32 = record.received ? 1 : 0
        if record.type == .command || record.type == .event { flags |= 2 }
        let micros = UInt64(bitPattern: record.timestamp.millisecondsSinceEpoch * 1000 + 0x00DC_DDB3_0F2F_8000)
        var out = [UInt8]()
        out.reserveCapacity(24 + Int(length))
        func u32(_ v: UInt32) { out += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        u32(length); u32(length); u32(flags); u32(0)
        u32(UInt32(micros >> 32)); u32(UInt32(micros & 0xFFFF_FFFF))
        out.append(record.type.rawValue)
        out += record.packet
        return out
    }

    /// When each record is due after the replay starts, in milliseconds at `speed` (nil: at once).
    public func dueMilliseconds(at index: Int, speed: Double?) -> Double {
        guard let speed, let first = records.first else { return 0 }
        return max(0, Double(records[index].timestamp.millisecondsSinceEpoch - first.timestamp.millisecondsSinceEpoch) / speed)
    }
}
