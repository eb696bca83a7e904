import KakehashiModel

#if canImport(Glibc)
import Glibc
#endif

/// A btsnoop capture replayed as a scan source, with the capture's own timing divided by a speed
/// factor (1 = original timing; 60 = a minute per second; `.infinity` = as fast as possible).
/// ``lastTimestamp`` gives the original time of the packet just delivered, so a replay produces
/// the same observations, with the same times, as the live scan did.
public struct ReplayPacketSource: HCIPacketSource {
    /// One scheduled packet.
    public struct Entry: Sendable, Hashable {
        /// When to deliver it, after the replay started, in nanoseconds.
        public let offsetNanoseconds: UInt64
        /// The packet with its H4 type byte.
        public let packet: [UInt8]
        /// When it was captured.
        public let timestamp: Timestamp
    }

    /// The schedule, in capture order.
    public let schedule: [Entry]
    private var next = 0
    private var start: UInt64?
    /// The capture time of the last packet delivered.
    public private(set) var lastTimestamp: Timestamp?

    /// Schedules the received HCI events of `capture` at `speed` times their original pace.
    public init(capture: BTSnoopReader, speed: Double = 1) {
        schedule = Self.schedule(capture, speed: speed)
    }

    /// The delivery schedule: offsets from the first event, divided by `speed` (never negative,
    /// never decreasing even when the capture's clock steps back).
    public static func schedule(_ capture: BTSnoopReader, speed: Double) -> [Entry] {
        let events = capture.records.filter { $0.type == .event && $0.received }
        guard let first = events.first?.timestamp else { return [] }
        let factor = speed.isFinite && speed > 0 ? speed : .infinity
        var previous: UInt64 = 0
        return events.map { record in
            let elapsed = max(0, record.timestamp.millisecondsSinceEpoch - first.millisecondsSinceEpoch)
            let offset = factor.isInfinite ? 0 : UInt64((Double(elapsed) * 1_000_000 / factor).rounded())
            previous = max(previous, offset)
            return Entry(offsetNanoseconds: previous, packet: [0x04] + record.packet, timestamp: record.timestamp)
        }
    }

    public mutating func nextPacket(timeoutMilliseconds: Int) throws(BLEScanError) -> [UInt8]? {
        guard next < schedule.count else { return nil }
        let now = Self.monotonic()
        if start == nil { start = now }
        let due = start! + schedule[next].offsetNanoseconds
        if due > now {
            let wait = min(due - now, UInt64(max(0, timeoutMilliseconds)) * 1_000_000)
            var request = timespec(tv_sec: Int(wait / 1_000_000_000), tv_nsec: Int(wait % 1_000_000_000))
            var remaining = timespec()
            while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
            if Self.monotonic() < due { return nil }
        }
        defer { next += 1 }
        lastTimestamp = schedule[next].timestamp
        return schedule[next].packet
    }

    /// A replay cannot go silent by accident; restarting changes nothing.
    public mutating func restartScan() throws(BLEScanError) {}

    static func monotonic() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
