import Foundation
import KakehashiHubCore
import KakehashiModel
import KakehashiSQLite
import Synchronization

/// Subscriptions in the hub database (the `subscriptions` table): one row per tenant and id, the
/// subscription as its NGSI-LD JSON.
public final class SubscriptionStore: SubscriptionRecords, Sendable {
    private let connection: Mutex<SQLiteConnection>

    /// Opens the hub database at `path`, creating and migrating it if needed.
    public init(path: String) throws(StorageError) {
        _ = try SQLiteStore.migrate(path: path)
        do {
            let connection = try SQLiteConnection(path: path)
            try connection.execute("PRAGMA busy_timeout=5000")
            self.connection = Mutex(connection)
        } catch {
            throw StorageError("opening the subscriptions of \(path)", cause: "\(error)")
        }
    }

    func locked<T: Sendable>(_ operation: String, _ body: (SQLiteConnection) throws -> T) throws(StorageError) -> T {
        do { return try connection.withLock { connection in try body(connection) } } catch {
            throw StorageError(operation, cause: "\(error)")
        }
    }

    static func row(_ rows: SQLiteStatement) -> StoredSubscription? {
        guard let text = rows.string(0), let json = try? JSONValue(parsing: text), let subscription = try? Subscription(stored: json) else {
            return nil
        }
        return StoredSubscription(
            subscription: subscription,
            createdAt: Timestamp(millisecondsSinceEpoch: rows.int64(1)),
            modifiedAt: Timestamp(millisecondsSinceEpoch: rows.int64(2))
        )
    }

    public func subscriptions(tenant: Tenant) throws(StorageError) -> [StoredSubscription] {
        try locked("reading the subscriptions of \(tenant)") { connection in
            let rows = try connection.prepare("SELECT body, created, modified FROM subscriptions WHERE tenant = ? ORDER BY id")
            try rows.bind(1, tenant.name)
            var list = [StoredSubscription]()
            while try rows.step() { if let stored = Self.row(rows) { list.append(stored) } }
            return list
        }
    }

    public func subscription(tenant: Tenant, id: String) throws(StorageError) -> StoredSubscription? {
        try locked("reading subscription \(id)") { connection in
            let rows = try connection.prepare("SELECT body, created, modified FROM subscriptions WHERE tenant = ? AND id = ?")
            try rows.bind(1, tenant.name)
            try rows.bind(2, id)
            return try rows.step() ? Self.row(rows) : nil
        }
    }

    public func insert(_ subscription: Subscription, tenant: Tenant, at: Timestamp) throws(StorageError) -> Bool {
        try locked("storing subscription \(subscription.id)") { connection in
            let insert = try connection.prepare(
                "INSERT INTO subscriptions(tenant, id, body, created, modified) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
            )
            try insert.bind(1, tenant.name)
            try insert.bind(2, subscription.id)
            try insert.bind(3, subscription.json.jsonText)
            try insert.bind(4, at.millisecondsSinceEpoch)
            try insert.bind(5, at.millisecondsSinceEpoch)
            _ = try insert.step()
            return connection.changes > 0
        }
    }

    public func replace(_ subscription: Subscription, tenant: Tenant, at: Timestamp) throws(StorageError) -> Bool {
        try locked("storing subscription \(subscription.id)") { connection in
            let update = try connection.prepare("UPDATE subscriptions SET body = ?, modified = ? WHERE tenant = ? AND id = ?")
            try update.bind(1, subscription.json.jsonText)
            try update.bind(2, at.millisecondsSinceEpoch)
            try update.bind(3, tenant.name)
            try update.bind(4, subscription.id)
            _ = try update.step()
            return connection.changes > 0
        }
    }

    public func delete(tenant: Tenant, id: String) throws(StorageError) -> Bool {
        try locked("deleting subscription \(id)") { connection in
            let delete = try connection.prepare("DELETE FROM subscriptions WHERE tenant = ? AND id = ?")
            try delete.bind(1, tenant.name)
            try delete.bind(2, id)
            _ = try delete.step()
            return connection.changes > 0
        }
    }
}
