import Crypto
import KakehashiBLE
import KakehashiModel

/// Turns BLE identifiers into keyed pseudonyms at the edge: HMAC-SHA256 with a secret, truncated to
/// 64 bits and written as 16 hex digits. Raw addresses and beacon ids never leave the gateway; the
/// same tag gives the same pseudonym under one secret and an unrelated one under another.
///
/// ```swift
/// let pseudonyms = Pseudonymizer(secret: Array("city secret".utf8))
/// pseudonyms.pseudonym(for: report.address)   // "3f9c0a7d52e1b864"
/// ```
public struct Pseudonymizer: Sendable {
    /// The key bytes (`SymmetricKey` is not `Sendable`; one is made per pseudonym).
    private let secret: [UInt8]

    /// Creates a pseudonymizer keyed by `secret` (at least 16 bytes recommended).
    public init(secret: [UInt8]) {
        self.secret = secret
    }

    /// The pseudonym of a device address.
    public func pseudonym(for address: BluetoothAddress) -> String {
        pseudonym(domain: "address", address.littleEndianBytes)
    }

    /// The pseudonym of a beacon identity (iBeacon UUID/major/minor, AltBeacon id, Eddystone UID
    /// or EID); nil for frames that carry no identity (URL, TLM).
    public func pseudonym(for beacon: Beacon) -> String? {
        switch beacon {
        case .iBeacon(let uuid, let major, let minor, _):
            return pseudonym(domain: "ibeacon", uuid + [UInt8(major >> 8), UInt8(major & 0xFF), UInt8(minor >> 8), UInt8(minor & 0xFF)])
        case .altBeacon(let manufacturer, let id, _, _):
            return pseudonym(domain: "altbeacon", [UInt8(manufacturer >> 8), UInt8(manufacturer & 0xFF)] + id)
        case .eddystoneUID(_, let namespace, let instance):
            return pseudonym(domain: "eddystone-uid", namespace + instance)
        case .eddystoneEID(_, let eid):
            return pseudonym(domain: "eddystone-eid", eid)
        case .eddystoneURL, .eddystoneTLM, .eddystoneEncryptedTLM:
            return nil
        }
    }

    private func pseudonym(domain: String, _ bytes: [UInt8]) -> String {
        // The domain keeps an address and a beacon id with equal bytes from colliding.
        let mac = HMAC<SHA256>.authenticationCode(for: Array(domain.utf8) + [0] + bytes, using: SymmetricKey(data: secret))
        return Hex.string(Array(mac).prefix(8))
    }
}

/// Pseudonyms whose key changes every UTC day, for anonymous counting: the same tag counts once per
/// window within a day, but counts of different days cannot be joined.
public struct DailyPseudonymizer: Sendable {
    private let master: [UInt8]

    /// Creates the daily keys from a master secret.
    public init(masterSecret: [UInt8]) {
        master = masterSecret
    }

    /// The pseudonymizer of the UTC day that contains `time`.
    public func pseudonymizer(on time: Timestamp) -> Pseudonymizer {
        let day = String(time.iso8601.prefix(10))
        let key = HMAC<SHA256>.authenticationCode(for: Array("day:\(day)".utf8), using: SymmetricKey(data: master))
        return Pseudonymizer(secret: Array(key))
    }
}
