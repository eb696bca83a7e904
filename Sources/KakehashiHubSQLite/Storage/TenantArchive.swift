import Foundation
import KakehashiHubCore
import KakehashiModel
import KakehashiSQLite

/// A tenant's data as a whole: exported to a SQLite file of its own (the hub's schema, only
/// that tenant's rows: entities, series, observations, rollups, gateways, alerts and their
/// history, NGSI-LD subscriptions), or deleted from the hub with its keys, gateways and grants.
public enum TenantArchive {
    /// The tables holding a tenant's rows, with how their rows are picked (children first for
    /// deletion, parents first for copying).
    static let tables: [(name: String, rows: String)] = [
        ("observations", "series IN (SELECT id FROM series WHERE tenant = ?1)"),
        ("rollups", "series IN (SELECT id FROM series WHERE tenant = ?1)"),
        ("series", "tenant = ?1"),
        ("entities", "tenant = ?1"),
        ("gateways", "tenant = ?1"),
        ("alert_events", "tenant = ?1"),
        ("alerts", "tenant = ?1"),
    ]

    /// The file that holds `tenant`'s data in `configuration`'s storage.
    static func source(of tenant: Tenant, _ configuration: HubConfiguration) -> String {
        guard configuration.storageSeparation == .perTenant else { return configuration.storagePath }
        let folder = URL(fileURLWithPath: configuration.storagePath).deletingLastPathComponent().appendingPathComponent("tenants").path
        return TenantSeparatedStore.file(of: tenant, folder: folder)
    }

    /// Writes `tenant`'s rows to a new database at `destination`; returns the rows copied per table.
    public static func export(_ tenant: Tenant, configuration: HubConfiguration, to destination: String) throws(StorageError) -> [String: Int] {
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw StorageError("exporting \(tenant)", cause: "\(destination) exists already (choose a new file)")
        }
        let source = source(of: tenant, configuration)
        guard FileManager.default.fileExists(atPath: source) else {
            throw StorageError("exporting \(tenant)", cause: "\(source) does not exist: the tenant has stored nothing")
        }
        _ = try SQLiteStore.migrate(path: destination)
        do {
            let db = try SQLiteConnection(path: source)
            try db.execute("PRAGMA busy_timeout=10000")
            let escaped = destination.replacingOccurrences(of: "'", with: "''")
            try db.execute("ATTACH DATABASE '\(escaped)' AS export")
            defer { try? db.execute("DETACH DATABASE export") }
            var counts = [String: Int]()
            try db.transaction {
                for (name, rows) in tables.reversed() {
                    let copy = try db.prepare("INSERT INTO export.\(name) SELECT * FROM main.\(name) WHERE \(rows)")
                    try copy.bind(1, tenant.name)
                    try copy.run()
                    counts[name] = db.changes
                }
            }
            // Its NGSI-LD subscriptions, from the hub database (not the notifications waiting).
            let hub = try SQLiteConnection(path: configuration.storagePath)
            try hub.execute("PRAGMA busy_timeout=10000")
            try hub.execute("ATTACH DATABASE '\(escaped)' AS export")
            defer { try? hub.execute("DETACH DATABASE export") }
            let copy = try hub.prepare("INSERT INTO export.subscriptions SELECT * FROM main.subscriptions WHERE tenant = ?1")
            try copy.bind(1, tenant.name)
            try copy.run()
            counts["subscriptions"] = hub.changes
            return counts
        } catch {
            try? FileManager.default.removeItem(atPath: destination)
            throw StorageError("exporting \(tenant) to \(destination)", cause: "\(error)")
        }
    }

    /// Deletes every row of `tenant` (its file in per-tenant storage), its dead letters, and
    /// its keys, gateways, grants and subscriptions. Returns the rows deleted per table.
    public static func delete(_ tenant: Tenant, configuration: HubConfiguration) throws(StorageError) -> [String: Int] {
        var counts = [String: Int]()
        do {
            let main = try SQLiteConnection(path: configuration.storagePath)
            try main.execute("PRAGMA busy_timeout=10000")
            if configuration.storageSeparation == .perTenant {
                let file = source(of: tenant, configuration)
                if FileManager.default.fileExists(atPath: file) {
                    let db = try SQLiteConnection(path: file, readOnly: true)
                    counts["observations"] = Int(try db.scalar("SELECT count(*) FROM observations") ?? 0)
                    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: file + suffix) }
                }
            } else {
                try main.transaction {
                    // A running hub's decoded entities no longer match the file (see EntityCache).
                    try main.execute("UPDATE writer_mark SET token = 'tenant-delete', n = n + 1 WHERE id = 1")
                    for (name, rows) in tables {
                        let delete = try main.prepare("DELETE FROM \(name) WHERE \(rows)")
                        try delete.bind(1, tenant.name)
                        try delete.run()
                        counts[name] = main.changes
                    }
                }
            }
            try main.transaction {
                for (name, rows) in [
                    ("deadletters", "tenant = ?1"), ("access_keys", "tenant = ?1"), ("access_gateways", "tenant = ?1"),
                    ("access_grants", "owner = ?1 OR grantee = ?1"), ("subscriptions", "tenant = ?1"), ("access_tenants", "name = ?1"),
                ] {
                    let delete = try main.prepare("DELETE FROM \(name) WHERE \(rows)")
                    try delete.bind(1, tenant.name)
                    try delete.run()
                    counts[name] = main.changes
                }
                try main.execute("UPDATE access_version SET version = version + 1")
            }
        } catch {
            throw StorageError("deleting tenant \(tenant)", cause: "\(error)")
        }
        counts["notifications"] = try SubscriptionStore.forget(tenant: tenant, path: configuration.storagePath)
        return counts
    }
}
