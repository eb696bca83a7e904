/// Parameter bytes of the HCI LE scan commands (Bluetooth Core 5.x, Vol 4, Part E, §7.8), built
/// as pure values so that their layout is tested byte by byte.
public enum ScanCommands {
    /// OCF of LE Read Local Supported Features.
    public static let readLocalFeatures: UInt16 = 0x0003
    /// OCF of LE Set Extended Scan Parameters.
    public static let setExtendedScanParameters: UInt16 = 0x0041
    /// OCF of LE Set Extended Scan Enable.
    public static let setExtendedScanEnable: UInt16 = 0x0042

    /// Whether an LE feature mask (8 bytes, little-endian) has "LE Extended Advertising" (bit 12).
    public static func supportsExtendedAdvertising(features: [UInt8]) -> Bool {
        features.count >= 2 && features[1] & 0x10 != 0
    }

    /// LE Set Extended Scan Parameters on the LE 1M PHY: own address type, filter policy,
    /// scanning PHYs (bit 0 = 1M), then for that PHY scan type, interval and window (units of 0.625 ms).
    public static func extendedScanParameters(active: Bool, interval: UInt16 = 0x0010, window: UInt16 = 0x0010) -> [UInt8] {
        [0x00, 0x00, 0x01, active ? 0x01 : 0x00, UInt8(interval & 0xFF), UInt8(interval >> 8), UInt8(window & 0xFF), UInt8(window >> 8)]
    }

    /// LE Set Extended Scan Enable: enable, duplicate filtering off, duration 0 and period 0 (scan until disabled).
    public static func extendedScanEnable(_ enable: Bool) -> [UInt8] {
        [enable ? 0x01 : 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
    }
}
