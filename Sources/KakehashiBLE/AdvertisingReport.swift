/// A Bluetooth device address, kept in the over-the-air (little-endian) order and printed
/// most-significant byte first (`C0:FF:EE:00:11:22`).
public struct BluetoothAddress: Sendable, Hashable, CustomStringConvertible {
    /// The six bytes as they appear in HCI events (least significant first).
    public let littleEndianBytes: [UInt8]

    /// Wraps six bytes in HCI (little-endian) order.
    public init(littleEndian bytes: [UInt8]) {
        precondition(bytes.count == 6, "a Bluetooth address has 6 bytes")
        littleEndianBytes = bytes
    }

    public var description: String { Hex.string(littleEndianBytes.reversed(), separator: ":").uppercased() }
}

/// One advertising report from an LE Advertising Report (0x02) or LE Extended Advertising Report
/// (0x0D) event.
public struct AdvertisingReport: Sendable, Hashable {
    /// The kind of advertisement (legacy PDU types, or the extended event-type bits).
    public enum Kind: Sendable, Hashable {
        /// Legacy: ADV_IND, ADV_DIRECT_IND, ADV_SCAN_IND, ADV_NONCONN_IND, SCAN_RSP.
        case connectableUndirected, connectableDirected, scannableUndirected, nonConnectable, scanResponse
        /// Extended report: the event-type bits (connectable, scannable, directed, scan response).
        case extended(connectable: Bool, scannable: Bool, directed: Bool, scanResponse: Bool)
    }

    /// Extended reports: whether the data is complete or more fragments follow.
    public enum DataStatus: UInt8, Sendable, Hashable {
        case complete = 0
        case incompleteMoreToCome = 1
        case incompleteTruncated = 2
    }

    /// The kind of advertisement.
    public let kind: Kind
    /// Whether it came in an extended report.
    public let extended: Bool
    /// Extended reports only: whether the advertisement used a legacy PDU.
    public let legacy: Bool
    /// Extended reports only: completeness of the data.
    public let dataStatus: DataStatus
    /// The address type (0 public, 1 random, 2/3 resolved identity).
    public let addressType: UInt8
    /// The advertiser's address.
    public let address: BluetoothAddress
    /// Received signal strength in dBm; nil when the controller reports 127 (not available).
    public let rssi: Int?
    /// Extended reports only: the advertised TX power in dBm, nil when 127.
    public let txPower: Int?
    /// The advertising data (AD structures); for an extended advertisement sent in fragments,
    /// all of them, reassembled by ``CaptureDecoder``.
    public let data: [UInt8]
    /// Extended reports only: the advertising set (SID), nil when none (0xFF) or legacy.
    public let advertisingSID: UInt8?

    /// The same report with `data` in place of its own (a reassembled advertisement).
    public func with(data: [UInt8], dataStatus: DataStatus) -> AdvertisingReport {
        AdvertisingReport(
            kind: kind,
            extended: extended,
            legacy: legacy,
            dataStatus: dataStatus,
            addressType: addressType,
            address: address,
            rssi: rssi,
            txPower: txPower,
            data: data,
            advertisingSID: advertisingSID
        )
    }
}
