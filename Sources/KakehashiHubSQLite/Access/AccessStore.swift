import Foundation
import KakehashiHubCore
import KakehashiModel
import KakehashiSQLite
import Synchronization

/// Tenants, gateways and API keys kept in the hub database (the `access_*` tables), written by
/// `kakehashi-hub tenant add`, `gateway add` and `key create|revoke`, read by the running hub
/// (``AccessDirectory``). Every change bumps `access_version`, which the hub watches.
public final class AccessStore: AccessRecords, Sendable {
    private let connection: Mutex<SQLiteConnection>
    public let path: String

    /// Opens the hub database at `path`, creating and migrating it if needed.
    public init(path: String) throws(StorageError) {
        _ = try SQLiteStore.migrate(path: path)
        self.path = path
        do {
            let connection = try SQLiteConnection(path: path)
            try connection.execute("PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON")
            self.connection = Mutex(connection)
        } catch {
            throw StorageError("opening the access tables of \(path)", cause: "\(error)")
        }
    }

    public typealias Snapshot = AccessSnapshot
    public typealias TenantRow = AccessTenantRow

    /// Runs `body` with the connection, turning its failure into a ``StorageError`` of `operation`.
    func locked<T: Sendable>(_ operation: String, _ body: (SQLiteConnection) throws -> T) throws(StorageError) -> T {
        do { return try connection.withLock { connection in try body(connection) } } catch let error as AccessError {
            throw StorageError(operation, cause: error.description)
        } catch {
            throw StorageError(operation, cause: "\(error)")
        }
    }

    /// The version the running hub compares with what it loaded.
    public func version() throws(StorageError) -> Int64 {
        try locked("reading the access version") { connection in try connection.scalar("SELECT version FROM access_version") ?? 0 }
    }

    public func snapshot() throws(StorageError) -> Snapshot {
        try locked("reading tenants and keys") { connection in
            var snapshot = Snapshot()
            try connection.transaction {
                snapshot.version = try connection.scalar("SELECT version FROM access_version") ?? 0
                let tenants = try connection.prepare("SELECT name FROM access_tenants")
                while try tenants.step() {
                    if let name = tenants.string(0), let tenant = try? Tenant(name) { snapshot.tenants[tenant, default: []] = [] }
                }
                let gateways = try connection.prepare("SELECT tenant, gateway FROM access_gateways")
                while try gateways.step() {
                    if let t = gateways.string(0), let g = gateways.string(1), let tenant = try? Tenant(t), let gateway = try? GatewayID(g) {
                        snapshot.tenants[tenant, default: []].insert(gateway)
                    }
                }
                let keys = try connection.prepare("SELECT id, tenant, role, label, salt, hash, created, expires, revoked FROM access_keys")
                while try keys.step() { if let record = Self.record(keys) { snapshot.keys[record.id] = record } }
                let grants = try connection.prepare("\(Self.grantColumns) WHERE revoked IS NULL")
                while try grants.step() { if let grant = Self.grant(grants) { snapshot.grants[grant.grantee, default: []].append(grant) } }
            }
            return snapshot
        }
    }

    static func record(_ row: SQLiteStatement) -> APIKeyRecord? {
        guard let id = row.string(0), let tenantName = row.string(1), let tenant = try? Tenant(tenantName),
            let roleName = row.string(2), let role = AccessRole(rawValue: roleName)
        else { return nil }
        return APIKeyRecord(
            id: id,
            tenant: tenant,
            role: role,
            label: row.string(3),
            salt: row.bytes(4),
            hash: row.bytes(5),
            created: Timestamp(millisecondsSinceEpoch: row.int64(6)),
            expires: row.isNull(7) ? nil : Timestamp(millisecondsSinceEpoch: row.int64(7)),
            revoked: row.isNull(8) ? nil : Timestamp(millisecondsSinceEpoch: row.int64(8))
        )
    }

    static func bump(_ connection: SQLiteConnection) throws {
        try connection.execute("UPDATE access_version SET version = version + 1")
    }

    /// Adds a tenant; fails when it exists.
    public func addTenant(_ tenant: Tenant, display: String?, now: Timestamp) throws(StorageError) {
        try locked("adding tenant \(tenant)") { connection in
            try connection.transaction {
                let exists = try connection.prepare("SELECT 1 FROM access_tenants WHERE name = ?")
                try exists.bind(1, tenant.name)
                if try exists.step() { throw AccessError("tenant \(tenant) exists already") }
                let insert = try connection.prepare("INSERT INTO access_tenants(name, display, created) VALUES (?, ?, ?)")
                try insert.bind(1, tenant.name)
                try insert.bind(2, display)
                try insert.bind(3, now.millisecondsSinceEpoch)
                try insert.run()
                try Self.bump(connection)
            }
        }
    }

    /// The tenants added here (not those only in the configuration file), with their gateways.
    public func tenants() throws(StorageError) -> [TenantRow] {
        try locked("listing tenants") { connection in
            var rows = [TenantRow]()
            let select = try connection.prepare(
                """
                SELECT t.name, t.display, t.created, group_concat(g.gateway, ' ') FROM access_tenants t
                LEFT JOIN access_gateways g ON g.tenant = t.name GROUP BY t.name ORDER BY t.name
                """
            )
            while try select.step() {
                guard let name = select.string(0), let tenant = try? Tenant(name) else { continue }
                let gateways = (select.string(3) ?? "").split(separator: " ").compactMap { try? GatewayID(String($0)) }.sorted {
                    $0.rawValue < $1.rawValue
                }
                rows.append(
                    TenantRow(
                        tenant: tenant,
                        display: select.string(1),
                        created: Timestamp(millisecondsSinceEpoch: select.int64(2)),
                        gateways: gateways
                    )
                )
            }
            return rows
        }
    }

    /// Registers a gateway of a tenant added here; fails when the tenant is unknown or the
    /// gateway id is taken (by any tenant: it is also the gateway's broker user name).
    public func addGateway(_ gateway: GatewayID, tenant: Tenant, now: Timestamp) throws(StorageError) {
        try locked("adding gateway \(gateway) to \(tenant)") { connection in
            try connection.transaction {
                let known = try connection.prepare("SELECT 1 FROM access_tenants WHERE name = ?")
                try known.bind(1, tenant.name)
                guard try known.step() else {
                    throw AccessError("tenant \(tenant) does not exist (add it with `kakehashi-hub tenant add \(tenant)`)")
                }
                let taken = try connection.prepare("SELECT tenant FROM access_gateways WHERE gateway = ?")
                try taken.bind(1, gateway.rawValue)
                if try taken.step() { throw AccessError("gateway \(gateway) is registered already, for tenant \(taken.string(0) ?? "?")") }
                let insert = try connection.prepare("INSERT INTO access_gateways(tenant, gateway, created) VALUES (?, ?, ?)")
                try insert.bind(1, tenant.name)
                try insert.bind(2, gateway.rawValue)
                try insert.bind(3, now.millisecondsSinceEpoch)
                try insert.run()
                try Self.bump(connection)
            }
        }
    }

    /// Every registered gateway with its tenant.
    public func gateways() throws(StorageError) -> [(tenant: Tenant, gateway: GatewayID)] {
        try locked("listing gateways") { connection in
            var rows = [(tenant: Tenant, gateway: GatewayID)]()
            let select = try connection.prepare("SELECT tenant, gateway FROM access_gateways ORDER BY tenant, gateway")
            while try select.step() {
                if let t = select.string(0), let g = select.string(1), let tenant = try? Tenant(t), let gateway = try? GatewayID(g) {
                    rows.append((tenant, gateway))
                }
            }
            return rows
        }
    }

    /// Creates a key; the returned secret is the only copy. `knownTenants` are the tenants of
    /// the configuration file, which may hold keys without being added here.
    public func createKey(
        tenant: Tenant,
        role: AccessRole,
        label: String?,
        expires: Timestamp?,
        knownTenants: Set<Tenant>,
        now: Timestamp = Timestamp(Date())
    ) throws(StorageError) -> (secret: APIKeySecret, record: APIKeyRecord) {
        try locked("creating a \(role) key for \(tenant)") { connection in
            try connection.transaction {
                if !knownTenants.contains(tenant) {
                    let known = try connection.prepare("SELECT 1 FROM access_tenants WHERE name = ?")
                    try known.bind(1, tenant.name)
                    guard try known.step() else {
                        throw AccessError("tenant \(tenant) does not exist (add it with `kakehashi-hub tenant add \(tenant)`)")
                    }
                }
                if let expires, expires <= now { throw AccessError("the expiry \(expires.iso8601) is not in the future") }
                let (secret, record) = APIKeyRecord.issue(tenant: tenant, role: role, label: label, expires: expires, now: now)
                let insert = try connection.prepare(
                    "INSERT INTO access_keys(id, tenant, role, label, salt, hash, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                )
                try insert.bind(1, record.id)
                try insert.bind(2, tenant.name)
                try insert.bind(3, role.rawValue)
                try insert.bind(4, label)
                try insert.bind(5, record.salt)
                try insert.bind(6, record.hash)
                try insert.bind(7, now.millisecondsSinceEpoch)
                if let expires { try insert.bind(8, expires.millisecondsSinceEpoch) } else { try insert.bind(8, nil as String?) }
                try insert.run()
                try Self.bump(connection)
                return (secret, record)
            }
        }
    }

    /// The keys, optionally of one tenant, newest first.
    public func keys(tenant: Tenant?) throws(StorageError) -> [APIKeyRecord] {
        try locked("listing keys") { connection in
            let select = try connection.prepare(
                "SELECT id, tenant, role, label, salt, hash, created, expires, revoked FROM access_keys WHERE ?1 IS NULL OR tenant = ?1 ORDER "
                    + "BY created DESC, id"
            )
            try select.bind(1, tenant?.name)
            var keys = [APIKeyRecord]()
            while try select.step() { if let record = Self.record(select) { keys.append(record) } }
            return keys
        }
    }

    /// Revokes a key by its id (the part after `kk_`); a running hub refuses it from its next
    /// request on, and closes its open feeds.
    public func revokeKey(id: String, now: Timestamp) throws(StorageError) {
        try locked("revoking key \(id)") { connection in
            try connection.transaction {
                let update = try connection.prepare("UPDATE access_keys SET revoked = ? WHERE id = ? AND revoked IS NULL")
                try update.bind(1, now.millisecondsSinceEpoch)
                try update.bind(2, id)
                try update.run()
                guard connection.changes == 1 else {
                    let exists = try connection.prepare("SELECT revoked FROM access_keys WHERE id = ?")
                    try exists.bind(1, id)
                    guard try exists.step() else { throw AccessError("no key has the id \(id) (see `kakehashi-hub key list`)") }
                    throw AccessError("key \(id) is revoked already")
                }
                try Self.bump(connection)
            }
        }
    }
}

extension AccessStore {
    static let grantColumns = "SELECT id, owner, grantee, type, area, precision, created, revoked FROM access_grants"

    static func grant(_ row: SQLiteStatement) -> ShareGrant? {
        guard let owner = row.string(1).flatMap({ try? Tenant($0) }), let grantee = row.string(2).flatMap({ try? Tenant($0) }),
            let type = row.string(3), let precision = row.string(5).flatMap(ShareGrant.Precision.init(rawValue:))
        else { return nil }
        var area: [GeoPoint]?
        if let text = row.string(4) {
            guard let parsed = try? ShareGrant.area(parsing: text) else { return nil }
            area = parsed
        }
        return ShareGrant(
            id: row.int64(0),
            owner: owner,
            grantee: grantee,
            type: type,
            area: area,
            precision: precision,
            created: Timestamp(millisecondsSinceEpoch: row.int64(6)),
            revoked: row.isNull(7) ? nil : Timestamp(millisecondsSinceEpoch: row.int64(7))
        )
    }

    /// Lets `grantee` read `owner`'s entities of `type` (inside `area` when given, at `precision`).
    /// `knownTenants` are the configuration file's tenants.
    public func grant(
        owner: Tenant,
        grantee: Tenant,
        type: String,
        area: [GeoPoint]?,
        precision: ShareGrant.Precision,
        knownTenants: Set<Tenant>,
        now: Timestamp
    ) throws(StorageError) -> ShareGrant {
        try locked("sharing \(owner)'s \(type) with \(grantee)") { connection in
            try connection.transaction {
                guard owner != grantee else { throw AccessError("a tenant sees its own data already: name another tenant to share with") }
                for tenant in [owner, grantee] where !knownTenants.contains(tenant) {
                    let known = try connection.prepare("SELECT 1 FROM access_tenants WHERE name = ?")
                    try known.bind(1, tenant.name)
                    guard try known.step() else { throw AccessError("tenant \(tenant) does not exist") }
                }
                let grant = ShareGrant(id: 0, owner: owner, grantee: grantee, type: type, area: area, precision: precision, created: now)
                let insert = try connection.prepare(
                    "INSERT INTO access_grants(owner, grantee, type, area, precision, created) VALUES (?, ?, ?, ?, ?, ?)"
                )
                try insert.bind(1, owner.name)
                try insert.bind(2, grantee.name)
                try insert.bind(3, type)
                try insert.bind(4, grant.areaText)
                try insert.bind(5, precision.rawValue)
                try insert.bind(6, now.millisecondsSinceEpoch)
                try insert.run()
                let id = connection.lastInsertRowID
                try Self.bump(connection)
                return ShareGrant(id: id, owner: owner, grantee: grantee, type: type, area: area, precision: precision, created: now)
            }
        }
    }

    /// Every grant (revoked ones too), optionally those involving one tenant.
    public func grants(involving tenant: Tenant?) throws(StorageError) -> [ShareGrant] {
        try locked("listing grants") { connection in
            let select = try connection.prepare("\(Self.grantColumns) WHERE ?1 IS NULL OR owner = ?1 OR grantee = ?1 ORDER BY id")
            try select.bind(1, tenant?.name)
            var grants = [ShareGrant]()
            while try select.step() { if let grant = Self.grant(select) { grants.append(grant) } }
            return grants
        }
    }

    /// Ends a grant: the grantee's queries, map and open feeds stop showing the owner's data at once.
    public func revokeGrant(id: Int64, now: Timestamp) throws(StorageError) {
        try locked("revoking grant \(id)") { connection in
            try connection.transaction {
                let update = try connection.prepare("UPDATE access_grants SET revoked = ? WHERE id = ? AND revoked IS NULL")
                try update.bind(1, now.millisecondsSinceEpoch)
                try update.bind(2, id)
                try update.run()
                guard connection.changes == 1 else { throw AccessError("no active grant has the id \(id) (see `kakehashi-hub share list`)") }
                try Self.bump(connection)
            }
        }
    }
}

/// A refused access change, with the reason.
struct AccessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
