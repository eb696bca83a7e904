import CBlueZ
import KakehashiBLE

#if canImport(Glibc)
import Glibc
#endif

/// An adapter's raw HCI socket, filtered to LE Meta events, with LE scanning enabled: the live
/// ``HCIPacketSource``. Needs CAP_NET_RAW and CAP_NET_ADMIN.
public final class HCISocket: HCIPacketSource {
    /// The adapter's name, e.g. `hci0`.
    public let adapter: String
    private let deviceID: Int32
    private let fd: Int32
    private let active: Bool
    /// Whether the controller does extended advertising, so the scan also receives extended
    /// advertisements (LE Extended Advertising Report events).
    public private(set) var extended = false

    /// Opens `adapter` (`hci0`; nil for the first available), checks it is up, filters LE Meta
    /// events and starts an LE scan (active: asks for scan responses).
    public init(adapter: String? = nil, active: Bool = true) throws(BLEScanError) {
        let name = adapter ?? "default"
        // A kernel without Bluetooth: say so, rather than "no adapter".
        let probe = socket(AF_BLUETOOTH, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), BTPROTO_HCI)
        if probe < 0 {
            throw Self.error(errno, adapter: name, call: "socket(AF_BLUETOOTH)")
        }
        close(probe)
        let id = adapter.map { hci_devid($0) } ?? hci_get_route(nil)
        guard id >= 0 else { throw BLEScanError(.noAdapter, adapter: name, detail: "hci_devid/hci_get_route: \(Self.text(errno))") }
        var info = hci_dev_info()
        guard hci_devinfo(id, &info) == 0 else { throw Self.error(errno, adapter: name, call: "hci_devinfo") }
        let resolved = withUnsafeBytes(of: info.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard kk_hci_dev_is_up(&info) != 0 else { throw BLEScanError(.adapterDown, adapter: resolved, detail: "adapter flags: not up") }
        let dd = hci_open_dev(id)
        guard dd >= 0 else { throw Self.error(errno, adapter: resolved, call: "hci_open_dev") }
        self.adapter = resolved
        self.deviceID = id
        self.fd = dd
        self.active = active
        do {
            try installFilter()
            extended = controllerSupportsExtendedAdvertising()
            try startScan()
        } catch {
            hci_close_dev(dd)
            throw error
        }
    }

    deinit {
        stopScan()
        hci_close_dev(fd)
    }

    public func nextPacket(timeoutMilliseconds: Int) throws(BLEScanError) -> [UInt8]? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, Int32(timeoutMilliseconds))
        if ready < 0 {
            if errno == EINTR { return nil }
            throw Self.error(errno, adapter: adapter, call: "poll")
        }
        guard ready > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: Int(HCI_MAX_EVENT_SIZE) + 1)
        let count = read(fd, &buffer, buffer.count)
        if count < 0 {
            if errno == EAGAIN || errno == EINTR { return nil }
            throw Self.error(errno, adapter: adapter, call: "read")
        }
        return Array(buffer.prefix(count))
    }

    public func restartScan() throws(BLEScanError) {
        stopScan()
        try startScan()
    }

    private func stopScan() {
        if extended {
            _ = try? sendLE(ScanCommands.setExtendedScanEnable, ScanCommands.extendedScanEnable(false))
        } else {
            _ = hci_le_set_scan_enable(fd, 0x00, 0x00, 1000)
        }
    }

    private func controllerSupportsExtendedAdvertising() -> Bool {
        guard let reply = try? sendLE(ScanCommands.readLocalFeatures, [], replyLength: 9), reply.first == 0 else { return false }
        return ScanCommands.supportsExtendedAdvertising(features: Array(reply.dropFirst()))
    }

    /// Sends an LE controller command and returns its reply parameters (status first).
    @discardableResult
    private func sendLE(_ ocf: UInt16, _ parameters: [UInt8], replyLength: Int = 1) throws(BLEScanError) -> [UInt8] {
        var command = parameters
        var reply = [UInt8](repeating: 0, count: replyLength)
        let rc = command.withUnsafeMutableBytes { commandBytes in
            reply.withUnsafeMutableBytes { replyBytes in
                var request = hci_request()
                request.ogf = UInt16(OGF_LE_CTL)
                request.ocf = ocf
                request.cparam = commandBytes.baseAddress
                request.clen = Int32(commandBytes.count)
                request.rparam = replyBytes.baseAddress
                request.rlen = Int32(replyBytes.count)
                return hci_send_req(fd, &request, 1000)
            }
        }
        guard rc == 0 else { throw Self.error(errno, adapter: adapter, call: "LE command 0x\(String(ocf, radix: 16))") }
        if replyLength == 1, let status = reply.first, status != 0 {
            throw BLEScanError(.io, adapter: adapter, detail: "LE command 0x\(String(ocf, radix: 16)) failed with HCI status 0x\(Hex.byte(status))")
        }
        return reply
    }

    private func installFilter() throws(BLEScanError) {
        var filter = hci_filter()
        kk_hci_filter_clear(&filter)
        kk_hci_filter_set_ptype(HCI_EVENT_PKT, &filter)
        kk_hci_filter_set_event(EVT_LE_META_EVENT, &filter)
        guard setsockopt(fd, SOL_HCI, HCI_FILTER, &filter, socklen_t(MemoryLayout<hci_filter>.size)) == 0 else {
            throw Self.error(errno, adapter: adapter, call: "setsockopt(HCI_FILTER)")
        }
    }

    private func startScan() throws(BLEScanError) {
        if extended {
            try sendLE(ScanCommands.setExtendedScanParameters, ScanCommands.extendedScanParameters(active: active))
            try sendLE(ScanCommands.setExtendedScanEnable, ScanCommands.extendedScanEnable(true))
            return
        }
        // Interval and window 0x0010 × 0.625 ms = 10 ms: listen continuously.
        guard hci_le_set_scan_parameters(fd, active ? 0x01 : 0x00, kk_htobs(0x0010), kk_htobs(0x0010), 0x00, 0x00, 1000) == 0 else {
            throw Self.error(errno, adapter: adapter, call: "hci_le_set_scan_parameters")
        }
        guard hci_le_set_scan_enable(fd, 0x01, 0x00, 1000) == 0 else {
            throw Self.error(errno, adapter: adapter, call: "hci_le_set_scan_enable")
        }
    }

    static func text(_ code: Int32) -> String { String(cString: strerror(code)) }

    public static func error(_ code: Int32, adapter: String, call: String) -> BLEScanError {
        let detail = "\(call): \(text(code))"
        switch code {
        case EPERM, EACCES: return BLEScanError(.notPermitted, adapter: adapter, detail: detail)
        case EAFNOSUPPORT, EPROTONOSUPPORT: return BLEScanError(.notSupported, adapter: adapter, detail: detail)
        case ENODEV: return BLEScanError(.noAdapter, adapter: adapter, detail: detail)
        case ENETDOWN: return BLEScanError(.adapterDown, adapter: adapter, detail: detail)
        default: return BLEScanError(.io, adapter: adapter, detail: detail)
        }
    }
}
