import Crypto
import Foundation
import KakehashiModel

/// What a key may do. Each role includes the one before it, except `gateway`, which may only
/// send readings.
///
/// | Role       | Reads its tenant's data and what is shared with it | Acknowledges its alerts | Sends readings |
/// |------------|:--:|:--:|:--:|
/// | `reader`   | ✓ |   |   |
/// | `operator` | ✓ | ✓ | ✓ |
/// | `admin`    | ✓ | ✓ | ✓ (and reads `/metrics`, shares its tenant's data) |
/// | `gateway`  |   |   | ✓ |
public enum AccessRole: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case reader, `operator`, admin, gateway

    /// What a route needs.
    public enum Permission: String, Sendable, Hashable {
        /// Queries, feeds, the dashboard.
        case read
        /// Acknowledging alerts.
        case acknowledge
        /// Posting entities (`entityOperations/upsert`).
        case write
        /// Hub-wide figures (`/metrics`) and the tenant's sharing (`/access/grants`).
        case administer
    }

    public func allows(_ permission: Permission) -> Bool {
        switch (self, permission) {
        case (.admin, _): true
        case (.operator, .read), (.operator, .acknowledge), (.operator, .write): true
        case (.reader, .read): true
        case (.gateway, .write): true
        default: false
        }
    }

    public var description: String { rawValue }
}

/// An API key as given to its holder once: `kk_<id>_<secret>`. The id (12 hex digits) names
/// the key in lists and logs; the secret (48 hex digits, 192 random bits) is stored only as a
/// salted SHA-256 hash.
public struct APIKeySecret: Sendable, Hashable, CustomStringConvertible {
    public let id: String
    let secret: String

    /// A new random key.
    public static func generate() -> APIKeySecret {
        var generator = SystemRandomNumberGenerator()
        func hex(_ bytes: Int) -> String {
            (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        }
        return APIKeySecret(id: hex(6), secret: hex(24))
    }

    init(id: String, secret: String) {
        self.id = id
        self.secret = secret
    }

    /// Parses a presented key; nil when it does not have the key's shape.
    public init?(_ text: String) {
        let parts = text.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "kk", parts[1].count == 12, parts[2].count == 48,
            (parts[1] + parts[2]).allSatisfy(\.isHexDigit)
        else { return nil }
        self.init(id: String(parts[1]), secret: String(parts[2]))
    }

    /// The key as its holder types it.
    public var description: String { "kk_\(id)_\(secret)" }

    /// SHA-256 of the salt followed by the secret.
    func hash(salt: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: salt)
        hasher.update(data: Array(secret.utf8))
        return Array(hasher.finalize())
    }

    /// A fresh 16-byte salt.
    static func salt() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}

/// A stored key: everything but its secret.
public struct APIKeyRecord: Sendable, Hashable {
    public let id: String
    public let tenant: Tenant
    public let role: AccessRole
    public let label: String?
    /// The salt and the salted SHA-256 of the secret: all a store keeps of it.
    public let salt: [UInt8]
    public let hash: [UInt8]
    public let created: Timestamp
    public let expires: Timestamp?
    public let revoked: Timestamp?

    /// A record as a store reads it back.
    public init(
        id: String,
        tenant: Tenant,
        role: AccessRole,
        label: String?,
        salt: [UInt8],
        hash: [UInt8],
        created: Timestamp,
        expires: Timestamp?,
        revoked: Timestamp?
    ) {
        self.id = id
        self.tenant = tenant
        self.role = role
        self.label = label
        self.salt = salt
        self.hash = hash
        self.created = created
        self.expires = expires
        self.revoked = revoked
    }

    /// A new key for `tenant`: its secret (to show once) and the record to store.
    public static func issue(
        tenant: Tenant,
        role: AccessRole,
        label: String?,
        expires: Timestamp?,
        now: Timestamp
    ) -> (secret: APIKeySecret, record: APIKeyRecord) {
        let secret = APIKeySecret.generate()
        let salt = APIKeySecret.salt()
        return (
            secret,
            APIKeyRecord(
                id: secret.id,
                tenant: tenant,
                role: role,
                label: label,
                salt: salt,
                hash: secret.hash(salt: salt),
                created: now,
                expires: expires,
                revoked: nil
            )
        )
    }

    /// Whether `key` is this key, in time independent of where the hashes differ.
    func matches(_ key: APIKeySecret) -> Bool {
        let presented = key.hash(salt: salt)
        guard presented.count == hash.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(presented, hash) { difference |= a ^ b }
        return difference == 0
    }

    /// Why the key cannot be used at `now`, or nil when it can.
    func unusable(at now: Timestamp) -> String? {
        if let revoked { return "key \(id) was revoked at \(revoked.iso8601)" }
        if let expires, expires <= now { return "key \(id) expired at \(expires.iso8601)" }
        return nil
    }
}

/// Who is calling: the key's tenant and role.
public struct AccessPrincipal: Sendable, Hashable {
    public let keyID: String
    public let tenant: Tenant
    public let role: AccessRole

    public init(keyID: String, tenant: Tenant, role: AccessRole) {
        self.keyID = keyID
        self.tenant = tenant
        self.role = role
    }
}
