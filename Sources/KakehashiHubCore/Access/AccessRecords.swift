import Foundation
import KakehashiModel

/// What the hub decides a request with: tenants and their gateways, keys, and active grants by
/// grantee, at one version of the access records.
public struct AccessSnapshot: Sendable {
    public var version: Int64 = 0
    public var tenants: [Tenant: Set<GatewayID>] = [:]
    public var keys: [String: APIKeyRecord] = [:]
    /// Active grants by grantee.
    public var grants: [Tenant: [ShareGrant]] = [:]

    public init() {}
}

/// A tenant added at run time, as listed.
public struct AccessTenantRow: Sendable, Hashable {
    public let tenant: Tenant
    public let display: String?
    public let created: Timestamp
    public let gateways: [GatewayID]

    public init(tenant: Tenant, display: String?, created: Timestamp, gateways: [GatewayID]) {
        self.tenant = tenant
        self.display = display
        self.created = created
        self.gateways = gateways
    }
}

/// Where tenants, gateways, API keys and share grants are kept (beside the configuration file's
/// tenants), written by the `kakehashi-hub tenant|gateway|key|share` commands and the sharing
/// API, read by the running hub through ``AccessDirectory``. Every change moves ``version()``.
/// The SQLite implementation is `AccessStore` (module KakehashiHubSQLite).
public protocol AccessRecords: Sendable {
    /// The version the running hub compares with what it loaded.
    func version() throws(StorageError) -> Int64
    /// Everything needed to decide requests, at one version.
    func snapshot() throws(StorageError) -> AccessSnapshot
    /// Adds a tenant; fails when it exists.
    func addTenant(_ tenant: Tenant, display: String?, now: Timestamp) throws(StorageError)
    /// The tenants added here (not those only in the configuration file), with their gateways.
    func tenants() throws(StorageError) -> [AccessTenantRow]
    /// Registers a gateway of a tenant added here; fails when the tenant is unknown or the
    /// gateway id is taken (by any tenant: it is also the gateway's broker user name).
    func addGateway(_ gateway: GatewayID, tenant: Tenant, now: Timestamp) throws(StorageError)
    /// Every registered gateway with its tenant.
    func gateways() throws(StorageError) -> [(tenant: Tenant, gateway: GatewayID)]
    /// Creates a key; the returned secret is the only copy. `knownTenants` are the tenants of
    /// the configuration file, which may hold keys without being added here.
    func createKey(
        tenant: Tenant,
        role: AccessRole,
        label: String?,
        expires: Timestamp?,
        knownTenants: Set<Tenant>,
        now: Timestamp
    ) throws(StorageError) -> (secret: APIKeySecret, record: APIKeyRecord)
    /// The keys, optionally of one tenant, newest first.
    func keys(tenant: Tenant?) throws(StorageError) -> [APIKeyRecord]
    /// Revokes a key by its id (the part after `kk_`).
    func revokeKey(id: String, now: Timestamp) throws(StorageError)
    /// Lets `grantee` read `owner`'s entities of `type` (inside `area` when given, at `precision`).
    func grant(
        owner: Tenant,
        grantee: Tenant,
        type: String,
        area: [GeoPoint]?,
        precision: ShareGrant.Precision,
        knownTenants: Set<Tenant>,
        now: Timestamp
    ) throws(StorageError) -> ShareGrant
    /// Every grant (revoked ones too), optionally those involving one tenant.
    func grants(involving tenant: Tenant?) throws(StorageError) -> [ShareGrant]
    /// Ends a grant.
    func revokeGrant(id: Int64, now: Timestamp) throws(StorageError)
}

extension AccessRecords {
    public func addTenant(_ tenant: Tenant, display: String? = nil) throws(StorageError) {
        try addTenant(tenant, display: display, now: Timestamp(Date()))
    }

    public func addGateway(_ gateway: GatewayID, tenant: Tenant) throws(StorageError) {
        try addGateway(gateway, tenant: tenant, now: Timestamp(Date()))
    }

    public func createKey(
        tenant: Tenant,
        role: AccessRole,
        label: String?,
        expires: Timestamp?,
        knownTenants: Set<Tenant> = []
    ) throws(StorageError) -> (secret: APIKeySecret, record: APIKeyRecord) {
        try createKey(tenant: tenant, role: role, label: label, expires: expires, knownTenants: knownTenants, now: Timestamp(Date()))
    }

    public func keys() throws(StorageError) -> [APIKeyRecord] { try keys(tenant: nil) }

    public func revokeKey(id: String) throws(StorageError) { try revokeKey(id: id, now: Timestamp(Date())) }

    public func grant(
        owner: Tenant,
        grantee: Tenant,
        type: String,
        area: [GeoPoint]?,
        precision: ShareGrant.Precision,
        knownTenants: Set<Tenant> = []
    ) throws(StorageError) -> ShareGrant {
        try grant(owner: owner, grantee: grantee, type: type, area: area, precision: precision, knownTenants: knownTenants, now: Timestamp(Date()))
    }

    public func grants() throws(StorageError) -> [ShareGrant] { try grants(involving: nil) }

    public func revokeGrant(id: Int64) throws(StorageError) { try revokeGrant(id: id, now: Timestamp(Date())) }
}
