/// Where the scan loop reads HCI packets from: an adapter's HCI socket, or recorded packets.
public protocol HCIPacketSource {
    /// The next packet as the HCI socket delivers it (H4 type byte first), or nil when none arrived
    /// within `timeoutMilliseconds`.
    mutating func nextPacket(timeoutMilliseconds: Int) throws(BLEScanError) -> [UInt8]?
    /// Disables and re-enables LE scanning (the watchdog's remedy for a scan that went silent).
    mutating func restartScan() throws(BLEScanError)
}

/// Packets recorded earlier (a btsnoop capture's received events), delivered in order; after the
/// last one every read times out. For tests of the scan loop and for replay.
public struct RecordedPacketSource: HCIPacketSource {
    private var packets: [[UInt8]]
    private var next = 0
    /// How many times the loop asked for a restart.
    public private(set) var restarts = 0

    /// Packets with their H4 type byte.
    public init(packets: [[UInt8]]) {
        self.packets = packets
    }

    /// The received HCI events of a capture, as the socket would deliver them.
    public init(capture: BTSnoopReader) {
        self.init(packets: capture.records.filter { $0.type == .event && $0.received }.map { [0x04] + $0.packet })
    }

    public mutating func nextPacket(timeoutMilliseconds: Int) throws(BLEScanError) -> [UInt8]? {
        guard next < packets.count else { return nil }
        defer { next += 1 }
        return packets[next]
    }

    public mutating func restartScan() throws(BLEScanError) {
        restarts += 1
    }
}
