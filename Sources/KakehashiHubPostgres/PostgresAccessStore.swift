import Foundation
import KakehashiHubCore
import KakehashiModel
import Logging
import PostgresNIO
import Synchronization

/// Tenants, gateways, API keys and share grants in PostgreSQL (the `access_*` tables), so that
/// every hub sharing the database decides requests alike: a key created or revoked on one
/// (or by `kakehashi-hub key create` against the database) counts on all within a second.
///
/// ``version()`` and ``snapshot()`` answer from memory: a background thread reads the version
/// row every second and the whole snapshot when it moved. Writes and listings run on one
/// connection of their own through a ``BlockingBridge``.
public final class PostgresAccessStore: AccessRecords, Sendable {
    private let bridge: BlockingBridge
    private let settings: PostgresStore.Settings
    private let logger: Logger
    private let connection = ConnectionHolder()
    private let cached: Mutex<AccessSnapshot>
    private let refreshing = Atomic<Bool>(true)

    /// How often the version row is read.
    public static let refreshInterval: Duration = .seconds(1)

    /// Connects, applies the schema's migrations if a hub has not yet, and reads the first
    /// snapshot.
    public init(_ settings: PostgresStore.Settings, logger: Logger) throws(StorageError) {
        self.settings = settings
        self.logger = logger
        bridge = BlockingBridge(name: "kakehashi-access")
        cached = Mutex(AccessSnapshot())
        try call("opening \(PostgresStore.redacted(settings.url))") { connection in try await PostgresStore.migrate(connection, logger: logger) }
        let first = try snapshotNow()
        cached.withLock { $0 = first }
        let thread = Thread { [self] in
            while refreshing.load(ordering: .relaxed) {
                Thread.sleep(forTimeInterval: Double(Self.refreshInterval.components.seconds))
                guard refreshing.load(ordering: .relaxed) else { break }
                refresh()
            }
        }
        thread.name = "kakehashi-access-refresh"
        thread.start()
    }

    /// Stops the refresh and closes the connection.
    public func close() {
        refreshing.store(false, ordering: .relaxed)
        let open = connection.value.withLock { connection -> PostgresConnection? in
            defer { connection = nil }
            return connection
        }
        if let open { try? bridge.run { try await open.close() } }
        bridge.stop()
    }

    /// Reads the version, and the snapshot when it moved.
    func refresh() {
        do {
            let version = try call("reading the access version") { connection in try await Self.version(connection, self.logger) }
            guard version != cached.withLock({ $0.version }) else { return }
            let snapshot = try snapshotNow()
            cached.withLock { $0 = snapshot }
        } catch {
            logger.warning("reading keys and tenants from the database failed; the last ones read stay in force", metadata: ["error": "\(error)"])
        }
    }

    /// Runs `body` with the connection (made anew when there is none or it failed), errors as
    /// ``StorageError`` of `operation`.
    private func call<T: Sendable>(
        _ operation: @autoclosure () -> String,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) throws(StorageError) -> T {
        let settings = self.settings, logger = self.logger, holder = self.connection
        do {
            return try bridge.run {
                let connection: PostgresConnection
                if let open = holder.value.withLock({ $0 }), !open.isClosed {
                    connection = open
                } else {
                    connection = try await PostgresConnection.connect(
                        configuration: try PostgresStore.connectionConfiguration(settings),
                        id: 1,
                        logger: logger
                    )
                    holder.value.withLock { $0 = connection }
                }
                do {
                    return try await body(connection)
                } catch {
                    if connection.isClosed { holder.value.withLock { $0 = nil } }
                    throw error
                }
            }
        } catch let error as AccessRefusal {
            throw StorageError(operation(), cause: error.description)
        } catch {
            throw StorageError(operation(), cause: PostgresStore.describe(error))
        }
    }

    /// Runs `body` in a transaction that moves the access version.
    private func changing<T: Sendable>(
        _ operation: @autoclosure () -> String,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) throws(StorageError) -> T {
        let logger = self.logger
        let result = try call(operation()) { connection in
            try await connection.withTransaction(logger: logger) { connection in
                let value = try await body(connection)
                try await connection.query("UPDATE access_version SET version = version + 1", logger: logger)
                return value
            }
        }
        refresh()
        return result
    }

    private static func version(_ connection: PostgresConnection, _ logger: Logger) async throws -> Int64 {
        for try await (version, ) in try await connection.query("SELECT version FROM access_version", logger: logger).decode((Int64,).self) {
            return version
        }
        return 0
    }

    // MARK: AccessRecords

    public func version() throws(StorageError) -> Int64 { cached.withLock { $0.version } }

    public func snapshot() throws(StorageError) -> AccessSnapshot { cached.withLock { $0 } }

    private func snapshotNow() throws(StorageError) -> AccessSnapshot {
        let logger = self.logger
        return try call("reading tenants and keys") { connection in
            try await connection.withTransaction(logger: logger) { connection in
                var snapshot = AccessSnapshot()
                snapshot.version = try await Self.version(connection, logger)
                for try await (name, ) in try await connection.query("SELECT name FROM access_tenants", logger: logger).decode((String,).self) {
                    if let tenant = try? Tenant(name) { snapshot.tenants[tenant, default: []] = [] }
                }
                let gateways = try await connection.query("SELECT tenant, gateway FROM access_gateways", logger: logger)
                for try await (t, g) in gateways.decode((String, String).self) {
                    if let tenant = try? Tenant(t), let gateway = try? GatewayID(g) { snapshot.tenants[tenant, default: []].insert(gateway) }
                }
                for record in try await Self.keys(connection, tenant: nil, logger) { snapshot.keys[record.id] = record }
                for grant in try await Self.grants(connection, "revoked IS NULL", logger) {
                    snapshot.grants[grant.grantee, default: []].append(grant)
                }
                return snapshot
            }
        }
    }

    public func addTenant(_ tenant: Tenant, display: String?, now: Timestamp) throws(StorageError) {
        let logger = self.logger
        try changing("adding tenant \(tenant)") { connection in
            let rows = try await connection.query(
                """
                INSERT INTO access_tenants(name, display, created) VALUES (\(tenant.name), \(display), \(now.millisecondsSinceEpoch))
                ON CONFLICT (name) DO NOTHING RETURNING name
                """,
                logger: logger
            )
            var added = false
            for try await _ in rows { added = true }
            if !added { throw AccessRefusal("tenant \(tenant) exists already") }
        }
    }

    public func tenants() throws(StorageError) -> [AccessTenantRow] {
        let logger = self.logger
        return try call("listing tenants") { connection in
            let rows = try await connection.query(
                """
                SELECT t.name, t.display, t.created, coalesce(string_agg(g.gateway, ' ' ORDER BY g.gateway), '') FROM access_tenants t
                LEFT JOIN access_gateways g ON g.tenant = t.name GROUP BY t.name, t.display, t.created ORDER BY t.name
                """,
                logger: logger
            )
            var result = [AccessTenantRow]()
            for try await (name, display, created, gateways) in rows.decode((String, String?, Int64, String).self) {
                guard let tenant = try? Tenant(name) else { continue }
                result.append(
                    AccessTenantRow(
                        tenant: tenant,
                        display: display,
                        created: Timestamp(millisecondsSinceEpoch: created),
                        gateways: gateways.split(separator: " ").compactMap { try? GatewayID(String($0)) }
                    )
                )
            }
            return result
        }
    }

    public func addGateway(_ gateway: GatewayID, tenant: Tenant, now: Timestamp) throws(StorageError) {
        let logger = self.logger
        try changing("adding gateway \(gateway) to \(tenant)") { connection in
            guard try await Self.exists(connection, tenant: tenant, logger) else {
                throw AccessRefusal("tenant \(tenant) does not exist (add it with `kakehashi-hub tenant add \(tenant)`)")
            }
            let taken = try await connection.query("SELECT tenant FROM access_gateways WHERE gateway = \(gateway.rawValue)", logger: logger)
            for try await (owner, ) in taken.decode((String,).self) {
                throw AccessRefusal("gateway \(gateway) is registered already, for tenant \(owner)")
            }
            try await connection.query(
                """
                INSERT INTO access_gateways(tenant, gateway, created) VALUES (\(tenant.name), \(gateway.rawValue), \(now.millisecondsSinceEpoch))
                """,
                logger: logger
            )
        }
    }

    public func gateways() throws(StorageError) -> [(tenant: Tenant, gateway: GatewayID)] {
        let logger = self.logger
        let rows: [AccessTenantGateway] = try call("listing gateways") { connection in
            var result = [AccessTenantGateway]()
            let rows = try await connection.query("SELECT tenant, gateway FROM access_gateways ORDER BY tenant, gateway", logger: logger)
            for try await (t, g) in rows.decode((String, String).self) {
                if let tenant = try? Tenant(t), let gateway = try? GatewayID(g) {
                    result.append(AccessTenantGateway(tenant: tenant, gateway: gateway))
                }
            }
            return result
        }
        return rows.map { ($0.tenant, $0.gateway) }
    }

    public func createKey(
        tenant: Tenant,
        role: AccessRole,
        label: String?,
        expires: Timestamp?,
        knownTenants: Set<Tenant>,
        now: Timestamp
    ) throws(StorageError) -> (secret: APIKeySecret, record: APIKeyRecord) {
        let logger = self.logger
        let issued = try changing("creating a \(role) key for \(tenant)") { connection in
            if !knownTenants.contains(tenant), !(try await Self.exists(connection, tenant: tenant, logger)) {
                throw AccessRefusal("tenant \(tenant) does not exist (add it with `kakehashi-hub tenant add \(tenant)`)")
            }
            if let expires, expires <= now { throw AccessRefusal("the expiry \(expires.iso8601) is not in the future") }
            let (secret, record) = APIKeyRecord.issue(tenant: tenant, role: role, label: label, expires: expires, now: now)
            try await connection.query(
                """
                INSERT INTO access_keys(id, tenant, role, label, salt, hash, created, expires)
                VALUES (\(record.id), \(tenant.name), \(role.rawValue), \(label), \(ByteBuffer(bytes: record.salt)), \(ByteBuffer(bytes: record.hash)),
                        \(now.millisecondsSinceEpoch), \(expires?.millisecondsSinceEpoch))
                """,
                logger: logger
            )
            return IssuedKey(secret: secret, record: record)
        }
        return (issued.secret, issued.record)
    }

    public func keys(tenant: Tenant?) throws(StorageError) -> [APIKeyRecord] {
        let logger = self.logger
        return try call("listing keys") { connection in try await Self.keys(connection, tenant: tenant, logger) }
    }

    public func revokeKey(id: String, now: Timestamp) throws(StorageError) {
        let logger = self.logger
        try changing("revoking key \(id)") { connection in
            let rows = try await connection.query("SELECT revoked FROM access_keys WHERE id = \(id) FOR UPDATE", logger: logger)
            var found = false, revoked = false
            for try await (at, ) in rows.decode((Int64?,).self) {
                found = true
                revoked = at != nil
            }
            guard found else { throw AccessRefusal("no key has the id \(id) (see `kakehashi-hub key list`)") }
            guard !revoked else { throw AccessRefusal("key \(id) is revoked already") }
            try await connection.query("UPDATE access_keys SET revoked = \(now.millisecondsSinceEpoch) WHERE id = \(id)", logger: logger)
        }
    }

    public func grant(
        owner: Tenant,
        grantee: Tenant,
        type: String,
        area: [GeoPoint]?,
        precision: ShareGrant.Precision,
        knownTenants: Set<Tenant>,
        now: Timestamp
    ) throws(StorageError) -> ShareGrant {
        let logger = self.logger
        return try changing("sharing \(owner)'s \(type) with \(grantee)") { connection in
            guard owner != grantee else { throw AccessRefusal("a tenant sees its own data already: name another tenant to share with") }
            for tenant in [owner, grantee] where !knownTenants.contains(tenant) {
                guard try await Self.exists(connection, tenant: tenant, logger) else { throw AccessRefusal("tenant \(tenant) does not exist") }
            }
            let draft = ShareGrant(id: 0, owner: owner, grantee: grantee, type: type, area: area, precision: precision, created: now)
            let rows = try await connection.query(
                """
                INSERT INTO access_grants(owner, grantee, type, area, precision, created)
                VALUES (\(owner.name), \(grantee.name), \(type), \(draft.areaText), \(precision.rawValue), \(now.millisecondsSinceEpoch)) RETURNING id
                """,
                logger: logger
            )
            var id: Int64 = 0
            for try await (new, ) in rows.decode((Int64,).self) { id = new }
            return ShareGrant(id: id, owner: owner, grantee: grantee, type: type, area: area, precision: precision, created: now)
        }
    }

    public func grants(involving tenant: Tenant?) throws(StorageError) -> [ShareGrant] {
        let logger = self.logger
        return try call("listing grants") { connection in
            guard let tenant else { return try await Self.grants(connection, "true", logger) }
            return try await Self.grants(connection, "owner = $1 OR grantee = $1", logger, tenant.name)
        }
    }

    public func revokeGrant(id: Int64, now: Timestamp) throws(StorageError) {
        let logger = self.logger
        try changing("revoking grant \(id)") { connection in
            let rows = try await connection.query(
                "UPDATE access_grants SET revoked = \(now.millisecondsSinceEpoch) WHERE id = \(id) AND revoked IS NULL RETURNING id",
                logger: logger
            )
            var changed = false
            for try await _ in rows { changed = true }
            guard changed else { throw AccessRefusal("no active grant has the id \(id) (see `kakehashi-hub share list`)") }
        }
    }

    // MARK: Rows

    private static func exists(_ connection: PostgresConnection, tenant: Tenant, _ logger: Logger) async throws -> Bool {
        for try await _ in try await connection.query("SELECT 1 FROM access_tenants WHERE name = \(tenant.name)", logger: logger) { return true }
        return false
    }

    private static func keys(_ connection: PostgresConnection, tenant: Tenant?, _ logger: Logger) async throws -> [APIKeyRecord] {
        let rows = try await connection.query(
            """
            SELECT id, tenant, role, label, salt, hash, created, expires, revoked FROM access_keys
            WHERE \(tenant?.name)::text IS NULL OR tenant = \(tenant?.name) ORDER BY created DESC, id
            """,
            logger: logger
        )
        var result = [APIKeyRecord]()
        for try await (id, t, r, label, salt, hash, created, expires, revoked) in rows.decode(
            (String, String, String, String?, ByteBuffer, ByteBuffer, Int64, Int64?, Int64?).self
        ) {
            guard let tenant = try? Tenant(t), let role = AccessRole(rawValue: r) else { continue }
            result.append(
                APIKeyRecord(
                    id: id,
                    tenant: tenant,
                    role: role,
                    label: label,
                    salt: Array(salt.readableBytesView),
                    hash: Array(hash.readableBytesView),
                    created: Timestamp(millisecondsSinceEpoch: created),
                    expires: expires.map { Timestamp(millisecondsSinceEpoch: $0) },
                    revoked: revoked.map { Timestamp(millisecondsSinceEpoch: $0) }
                )
            )
        }
        return result
    }

    private static func grants(
        _ connection: PostgresConnection,
        _ condition: String,
        _ logger: Logger,
        _ values: any PostgresEncodable & Sendable...
    ) async throws -> [ShareGrant] {
        var binds = PostgresBindings()
        for value in values { try binds.append(value, context: .default) }
        let rows = try await connection.query(
            PostgresQuery(
                unsafeSQL: "SELECT id, owner, grantee, type, area, precision, created, revoked FROM access_grants WHERE \(condition) ORDER BY id",
                binds: binds
            ),
            logger: logger
        )
        var result = [ShareGrant]()
        for try await (id, o, g, type, areaText, p, created, revoked) in rows.decode(
            (Int64, String, String, String, String?, String, Int64, Int64?).self
        ) {
            guard let owner = try? Tenant(o), let grantee = try? Tenant(g), let precision = ShareGrant.Precision(rawValue: p) else { continue }
            var area: [GeoPoint]?
            if let areaText {
                guard let parsed = try? ShareGrant.area(parsing: areaText) else { continue }
                area = parsed
            }
            result.append(
                ShareGrant(
                    id: id,
                    owner: owner,
                    grantee: grantee,
                    type: type,
                    area: area,
                    precision: precision,
                    created: Timestamp(millisecondsSinceEpoch: created),
                    revoked: revoked.map { Timestamp(millisecondsSinceEpoch: $0) }
                )
            )
        }
        return result
    }
}

/// The access store's connection, once made.
final class ConnectionHolder: Sendable {
    let value = Mutex<PostgresConnection?>(nil)
}

/// A refused access change, with the reason.
struct AccessRefusal: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A gateway with its tenant (a tuple is not `Sendable` across the bridge).
struct AccessTenantGateway: Sendable {
    let tenant: Tenant
    let gateway: GatewayID
}

/// A key just issued.
struct IssuedKey: Sendable {
    let secret: APIKeySecret
    let record: APIKeyRecord
}
