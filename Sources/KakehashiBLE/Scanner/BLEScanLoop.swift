import KakehashiModel

/// The scanner's read loop, independent of where packets come from: read a packet, decode its
/// advertising reports, and restart the scan when the watchdog says it went silent. The clock is
/// passed in, so recorded packets run on virtual time.
public struct BLEScanLoop: Sendable {
    /// The watchdog.
    public private(set) var watchdog: ScanWatchdog
    /// Decoding problems and counts so far.
    public private(set) var decoded = DecodedCapture()
    /// Packets that were not HCI events (ignored).
    public private(set) var nonEventPackets = 0
    private var packetIndex = 0

    /// Creates a loop whose watchdog restarts after `watchdogTimeout` of silence.
    public init(watchdogTimeout: Duration = .seconds(30)) {
        watchdog = ScanWatchdog(timeout: watchdogTimeout)
    }

    /// Reads at most one packet (waiting up to `timeoutMilliseconds`) and returns the
    /// advertisements it carried; restarts the scan through `source` when it has been silent.
    public mutating func step(
        _ source: inout some HCIPacketSource,
        now: Timestamp,
        timeoutMilliseconds: Int = 200
    ) throws(BLEScanError) -> [DecodedAdvertisement] {
        guard let packet = try source.nextPacket(timeoutMilliseconds: timeoutMilliseconds) else {
            if watchdog.shouldRestart(now: now) { try source.restartScan() }
            return []
        }
        packetIndex += 1
        guard packet.first == 0x04, packet.count > 1 else {
            nonEventPackets += 1
            return []
        }
        let before = decoded.advertisements.count
        CaptureDecoder.decode(event: Array(packet.dropFirst()), at: now, record: packetIndex, into: &decoded)
        let fresh = Array(decoded.advertisements[before...])
        // Keep counts and problems, not every advertisement, in the loop's memory.
        decoded.advertisements.removeAll(keepingCapacity: true)
        if !fresh.isEmpty { watchdog.advertisementReceived(at: now) }
        return fresh
    }
}
