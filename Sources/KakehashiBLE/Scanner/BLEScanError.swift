/// Why scanning could not start or stopped, with what to do about it.
public struct BLEScanError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public enum Kind: Sendable, Hashable {
        /// No Bluetooth adapter (or not the one named).
        case noAdapter
        /// The adapter exists but is powered down.
        case adapterDown
        /// The process lacks CAP_NET_RAW and CAP_NET_ADMIN.
        case notPermitted
        /// The kernel has no Bluetooth socket support.
        case notSupported
        /// Another system call failed.
        case io
    }

    /// The kind.
    public let kind: Kind
    /// The adapter, e.g. `hci0`, or `default` when none was named.
    public let adapter: String
    /// The failing call and its errno text.
    public let detail: String

    /// Creates an error.
    public init(_ kind: Kind, adapter: String, detail: String) {
        self.kind = kind
        self.adapter = adapter
        self.detail = detail
    }

    public var description: String {
        switch kind {
        case .noAdapter:
            return "no Bluetooth adapter \(adapter == "default" ? "found" : "named \(adapter)") (\(detail)); check `btmgmt info` or `hciconfig`"
        case .adapterDown:
            return "Bluetooth adapter \(adapter) is down (\(detail)); power it on with `btmgmt power on` or `hciconfig \(adapter) up`"
        case .notPermitted:
            return "not permitted to scan on \(adapter) (\(detail)): the gateway needs CAP_NET_RAW and CAP_NET_ADMIN; run it as root, "
                + "or `setcap cap_net_raw,cap_net_admin+eip` on the binary, or set AmbientCapabilities in its systemd unit"
        case .notSupported:
            return "this kernel has no Bluetooth sockets (\(detail)); BLE scanning needs a kernel with Bluetooth support"
        case .io:
            return "BLE scan on \(adapter) failed: \(detail)"
        }
    }
}
