import Foundation
import KakehashiHubCore
import KakehashiHubTestSupport
import KakehashiModel
import KakehashiSQLite
import Testing

@testable import KakehashiHubSQLite

/// The notifications kept for delivery (``SubscriptionStore`` as ``NotificationRecords``): one row
/// per change however many subscriptions it notifies, each subscription's own order, limits and
/// counts, and what a store opened again on the file (a restarted hub) finds pending.
struct NotificationQueueTests {
    static let tenant = Readings.kurume
    static func key(_ id: String, _ tenant: Tenant = tenant) -> SubscriptionKey { SubscriptionKey(tenant: tenant, id: id) }
    static let at = Timestamp(millisecondsSinceEpoch: 1_780_272_000_000)

    /// A store on a new file with subscriptions `ids` of `tenant`.
    static func store(_ path: String, ids: [String], tenant: Tenant = tenant) throws -> SubscriptionStore {
        let store = try SubscriptionStore(path: path)
        for id in ids {
            _ = try store.insert(Subscription(id: id, endpoint: .init(uri: "http://example.org/notify")), tenant: tenant, at: at)
        }
        // Opened again so the queue knows them (as a hub reads its subscriptions at start).
        return try SubscriptionStore(path: path)
    }

    static func rows(_ path: String) throws -> Int {
        let file = try SQLiteConnection(path: SubscriptionStore.notificationsFile(of: path))
        return Int(try file.scalar("SELECT count(*) FROM notification_batches") ?? -1)
    }

    static func bodies(_ store: SubscriptionStore, _ key: SubscriptionKey) throws -> [String] {
        try store.pending(key, limit: 1000).map(\.body)
    }

    @Test func oneRowPerChangeAndEachSubscriptionInItsOrderAcrossARestart() throws {
        let path = Readings.temporaryDatabase()
        var store = try Self.store(path, ids: ["a", "b", "c"])
        let (a, b, c) = (Self.key("a"), Self.key("b"), Self.key("c"))
        for n in 1...3 {
            _ = try store.enqueue([(a, "a\(n)"), (b, "b\(n)"), (c, "c\(n)")], at: Self.at, limit: 100)
        }
        #expect(try Self.rows(path) == 3)
        #expect(try store.pendingCounts() == [a: 3, b: 3, c: 3])

        // a takes two, b one, c none; then the hub stops and starts again.
        for notification in try store.pending(a, limit: 2) + store.pending(b, limit: 1) { try store.delivered(notification, at: Self.at) }
        store = try SubscriptionStore(path: path)
        #expect(try Self.bodies(store, a) == ["a3"])
        #expect(try Self.bodies(store, b) == ["b2", "b3"])
        #expect(try Self.bodies(store, c) == ["c1", "c2", "c3"])
        #expect(try store.status(a).timesSent == 2)
        #expect(try store.status(a).pending == 1)

        // c takes everything: the first change is wanted by nobody now, and its row is gone.
        for notification in try store.pending(c, limit: 10) { try store.delivered(notification, at: Self.at) }
        #expect(try Self.rows(path) == 2)
        for key in [a, b] { for notification in try store.pending(key, limit: 10) { try store.delivered(notification, at: Self.at) } }
        #expect(try Self.rows(path) == 0)
        #expect(try store.pendingCounts().isEmpty)
        #expect(try store.status(b).timesSent == 3)
    }

    @Test func theOldestBeyondTheLimitAreDroppedCountedAndStayDroppedAfterARestart() throws {
        let path = Readings.temporaryDatabase()
        var store = try Self.store(path, ids: ["a", "b"])
        let (a, b) = (Self.key("a"), Self.key("b"))
        for n in 1...4 { _ = try store.enqueue([(a, "a\(n)"), (b, "b\(n)")], at: Self.at, limit: 3) }
        // One enqueue larger than the limit drops part of itself.
        let dropped = try store.enqueue([(a, "a5"), (a, "a6"), (a, "a7"), (a, "a8")], at: Self.at, limit: 3)
        #expect(dropped == [a: 4])
        #expect(try Self.bodies(store, a) == ["a6", "a7", "a8"])
        #expect(try Self.bodies(store, b) == ["b2", "b3", "b4"])
        #expect(try store.status(a).dropped == 5)
        #expect(try store.status(b).dropped == 1)

        store = try SubscriptionStore(path: path)
        #expect(try Self.bodies(store, a) == ["a6", "a7", "a8"])
        #expect(try Self.bodies(store, b) == ["b2", "b3", "b4"])
        #expect(try Self.rows(path) == 4)  // the first change is wanted by nobody
    }

    @Test func aDeletedSubscriptionsNotificationsAreForgottenAndOthersKept() throws {
        let path = Readings.temporaryDatabase()
        var store = try Self.store(path, ids: ["a", "b"])
        let other = try Tenant("omuta")
        _ = try store.insert(Subscription(id: "a", endpoint: .init(uri: "http://example.org/notify")), tenant: other, at: Self.at)
        store = try SubscriptionStore(path: path)
        let (a, b, otherA) = (Self.key("a"), Self.key("b"), Self.key("a", other))
        _ = try store.enqueue([(a, "a1"), (b, "b1"), (otherA, "o1")], at: Self.at, limit: 10)
        _ = try store.enqueue([(a, "a2")], at: Self.at, limit: 10)
        #expect(try Self.rows(path) == 3)  // one per tenant of the first change

        // Deleted through the API: the row, then its notifications.
        _ = try store.delete(tenant: Self.tenant, id: "a")
        try store.clear(a)
        #expect(try store.pending(a, limit: 10).isEmpty)
        #expect(try Self.rows(path) == 2)
        #expect(try Self.bodies(store, b) == ["b1"])
        #expect(try Self.bodies(store, otherA) == ["o1"])

        // Deliveries that were on their way when it was deleted leave no trace of it.
        let inFlight = try store.pending(b, limit: 10)
        _ = try store.delete(tenant: Self.tenant, id: "b")
        try store.clear(b)
        for notification in inFlight { try store.delivered(notification, at: Self.at) }
        #expect(try store.status(b).timesSent == 0)
        _ = try store.insert(Subscription(id: "b", endpoint: .init(uri: "http://example.org/notify")), tenant: Self.tenant, at: Self.at)
        _ = try store.enqueue([(b, "b2")], at: Self.at, limit: 10)

        // A subscription deleted while the hub was stopped: its notifications are not loaded.
        _ = try store.delete(tenant: Self.tenant, id: "b")
        store = try SubscriptionStore(path: path)
        #expect(try store.pendingCounts() == [otherA: 1])
        #expect(try Self.rows(path) == 1)

        #expect(try SubscriptionStore.forget(tenant: other, path: path) == 1)
        #expect(try Self.rows(path) == 0)
    }

    @Test func aFileOfTheFirstLayoutKeepsItsPendingNotificationsInOrder() throws {
        let path = Readings.temporaryDatabase()
        _ = try Self.store(path, ids: ["a", "b"])
        // The first layout: one row per notification, and no delivery position in the status.
        let file = SubscriptionStore.notificationsFile(of: path)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: file + suffix) }
        let old = try SQLiteConnection(path: file)
        try old.execute(
            """
            CREATE TABLE notifications(seq INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, subscription TEXT NOT NULL,
                body TEXT NOT NULL, created INTEGER NOT NULL);
            CREATE TABLE subscription_status(tenant TEXT NOT NULL, id TEXT NOT NULL, sent INTEGER NOT NULL DEFAULT 0,
                failed INTEGER NOT NULL DEFAULT 0, dropped INTEGER NOT NULL DEFAULT 0, last_notification INTEGER, last_success INTEGER,
                last_failure INTEGER, failure_reason TEXT, PRIMARY KEY (tenant, id));
            INSERT INTO notifications(tenant, subscription, body, created) VALUES
                ('kurume', 'a', 'a1', 1), ('kurume', 'b', 'b1', 1), ('kurume', 'a', 'a2', 2);
            INSERT INTO subscription_status(tenant, id, sent) VALUES ('kurume', 'a', 7);
            """
        )
        let store = try SubscriptionStore(path: path)
        #expect(try Self.bodies(store, Self.key("a")) == ["a1", "a2"])
        #expect(try Self.bodies(store, Self.key("b")) == ["b1"])
        #expect(try store.status(Self.key("a")).timesSent == 7)
        _ = try store.enqueue([(Self.key("a"), "a3")], at: Self.at, limit: 10)
        #expect(try Self.bodies(store, Self.key("a")) == ["a1", "a2", "a3"])
    }

    @Test(arguments: [
        [(id: String, body: String)](),
        [("urn:ngsi-ld:Subscription:1", "{\"data\":[]}")],
        [("a", ""), ("", "b"), ("久留米", "{\"name\":\"筑後川 瀬ノ下\"}")],
    ])
    func itemsReadBackAsWritten(_ items: [(id: String, body: String)]) {
        let decoded = NotificationQueue.decode(NotificationQueue.encode(items))
        #expect(decoded.map(\.id) == items.map(\.id))
        #expect(decoded.map(\.body) == items.map(\.body))
    }

    @Test func aTruncatedRowYieldsTheWholeItemsBeforeTheCut() {
        let bytes = NotificationQueue.encode([("a", "first"), ("b", "second")])
        #expect(NotificationQueue.decode(Array(bytes.dropLast(3))).map(\.body) == ["first"])
    }
}
