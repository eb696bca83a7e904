import Foundation
import KakehashiHubCore
import KakehashiModel
import KakehashiSQLite
import Synchronization

/// Subscriptions in the hub database (the `subscriptions` table): one row per tenant and id, the
/// subscription as its NGSI-LD JSON. The notifications waiting and each subscription's delivery
/// status live in a file of their own beside it (`<hub database>-notifications`, WAL, sync
/// normal): their many small writes never wait for, nor hold up, ingest's on the hub database.
public final class SubscriptionStore: SubscriptionRecords, Sendable {
    private let connection: Mutex<SQLiteConnection>
    private let queue: Mutex<NotificationQueue>

    /// The notifications file of the hub database at `path`.
    public static func notificationsFile(of path: String) -> String { path + "-notifications" }

    /// Opens the hub database at `path` (created and migrated if needed) and its notifications file.
    public init(path: String) throws(StorageError) {
        _ = try SQLiteStore.migrate(path: path)
        do {
            let connection = try SQLiteStore.open(path: path, sync: .full)
            try connection.execute("PRAGMA busy_timeout=5000")
            self.connection = Mutex(connection)
            var known = Set<SubscriptionKey>()
            let rows = try connection.prepare("SELECT tenant, id FROM subscriptions")
            while try rows.step() {
                if let name = rows.string(0), let tenant = try? Tenant(name), let id = rows.string(1) {
                    known.insert(SubscriptionKey(tenant: tenant, id: id))
                }
            }
            let queue = try SQLiteStore.open(path: Self.notificationsFile(of: path), sync: .normal)
            try queue.execute("PRAGMA busy_timeout=5000")
            self.queue = Mutex(try NotificationQueue(queue, known: known))
        } catch {
            throw StorageError("opening the subscriptions of \(path)", cause: "\(error)")
        }
    }

    func locked<T: Sendable>(_ operation: String, _ body: (SQLiteConnection) throws -> T) throws(StorageError) -> T {
        do { return try connection.withLock { connection in try body(connection) } } catch {
            throw StorageError(operation, cause: "\(error)")
        }
    }

    func queued<T: Sendable>(_ operation: @autoclosure () -> String, _ body: (NotificationQueue) throws -> T) throws(StorageError) -> T {
        do { return try queue.withLock { queue in try body(queue) } } catch {
            throw StorageError(operation(), cause: "\(error)")
        }
    }

    /// Deletes `tenant`'s notifications and delivery status from the notifications file of the
    /// hub database at `path`, if there is one; the rows deleted.
    public static func forget(tenant: Tenant, path: String) throws(StorageError) -> Int {
        let file = notificationsFile(of: path)
        guard FileManager.default.fileExists(atPath: file) else { return 0 }
        do {
            let queue = try SQLiteConnection(path: file)
            try queue.execute("PRAGMA busy_timeout=10000")
            try queue.execute(NotificationQueue.schema)
            var deleted = 0
            for table in ["notification_batches", "subscription_status"] {
                let delete = try queue.prepare("DELETE FROM \(table) WHERE tenant = ?")
                try delete.bind(1, tenant.name)
                try delete.run()
                deleted += queue.changes
            }
            return deleted
        } catch {
            throw StorageError("deleting the notifications of \(tenant)", cause: "\(error)")
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

// MARK: Pending notifications and status

extension SubscriptionStore: NotificationRecords {
    public func allSubscriptions() throws(StorageError) -> [(tenant: Tenant, stored: StoredSubscription)] {
        try locked("reading the subscriptions") { connection in
            let rows = try connection.prepare("SELECT body, created, modified, tenant FROM subscriptions ORDER BY tenant, id")
            var list = [(tenant: Tenant, stored: StoredSubscription)]()
            while try rows.step() {
                guard let stored = Self.row(rows), let name = rows.string(3), let tenant = try? Tenant(name) else { continue }
                list.append((tenant, stored))
            }
            return list
        }
    }

    public func enqueue(_ items: [(key: SubscriptionKey, body: String)], at: Timestamp, limit: Int) throws(StorageError) -> [SubscriptionKey: Int] {
        guard !items.isEmpty else { return [:] }
        return try queued("queueing \(items.count) notifications") { queue in try queue.enqueue(items, at: at, limit: limit) }
    }

    public func pending(_ key: SubscriptionKey, limit: Int) throws(StorageError) -> [PendingNotification] {
        try queued("reading the notifications of \(key)") { queue in try queue.oldest(key, limit: limit) }
    }

    public func pendingCounts() throws(StorageError) -> [SubscriptionKey: Int] {
        try queued("counting the notifications") { queue in queue.counts }
    }

    public func delivered(_ notifications: [PendingNotification], at: Timestamp) throws(StorageError) {
        guard let first = notifications.first else { return }
        try queued(
            "recording \(notifications.count) notifications of "
                + (notifications.allSatisfy({ $0.key == first.key }) ? "\(first.key)" : "several subscriptions") + " as delivered"
        ) { queue in
            try queue.delivered(notifications, at: at)
        }
    }

    public func failed(_ key: SubscriptionKey, at: Timestamp, reason: String) throws(StorageError) {
        try queued("recording a failed notification of \(key)") { queue in
            try queue.bump(
                key,
                "failed = failed + 1, last_notification = ?3, last_failure = ?3, failure_reason = ?4",
                [at.millisecondsSinceEpoch, reason]
            )
        }
    }

    public func status(_ key: SubscriptionKey) throws(StorageError) -> SubscriptionStatus {
        // Under the queue's lock: a delivery is recorded (counted and no longer pending) at
        // once, so it is counted once here, as sent or as pending.
        try queued("reading the status of \(key)") { queue in
            var status = SubscriptionStatus()
            try queue.with(
                """
                SELECT sent, failed, dropped, last_notification, last_success, last_failure, failure_reason
                FROM subscription_status WHERE tenant = ?1 AND id = ?2
                """
            ) { rows in
                try rows.bind(1, key.tenant.name)
                try rows.bind(2, key.id)
                guard try rows.step() else { return }
                func time(_ column: Int32) -> Timestamp? {
                    rows.isNull(column) ? nil : Timestamp(millisecondsSinceEpoch: rows.int64(column))
                }
                status.timesSent = rows.int(0)
                status.timesFailed = rows.int(1)
                status.dropped = rows.int(2)
                status.lastNotification = time(3)
                status.lastSuccess = time(4)
                status.lastFailure = time(5)
                status.lastFailureReason = rows.string(6)
            }
            status.pending = queue.pending[key]?.count ?? 0
            return status
        }
    }

    public func clear(_ key: SubscriptionKey) throws(StorageError) {
        try queued("forgetting the notifications of \(key)") { queue in try queue.clear(key) }
    }
}
