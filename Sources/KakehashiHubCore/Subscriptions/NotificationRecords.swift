import KakehashiModel

/// One subscription of one tenant.
public struct SubscriptionKey: Sendable, Hashable, CustomStringConvertible {
    public let tenant: Tenant
    public let id: String

    public init(tenant: Tenant, id: String) {
        self.tenant = tenant
        self.id = id
    }

    public var description: String { "\(tenant)/\(id)" }
}

/// A notification waiting to be delivered, in the order it was made (`seq`).
public struct PendingNotification: Sendable, Hashable {
    public let seq: Int64
    public let key: SubscriptionKey
    /// The notification as sent (JSON text).
    public let body: String
    public let createdAt: Timestamp

    public init(seq: Int64, key: SubscriptionKey, body: String, createdAt: Timestamp) {
        self.seq = seq
        self.key = key
        self.body = body
        self.createdAt = createdAt
    }
}

/// How a subscription's deliveries went (the NGSI-LD status members, and what the hub dropped).
public struct SubscriptionStatus: Sendable, Hashable {
    public var timesSent = 0
    public var timesFailed = 0
    /// Notifications dropped because the subscription's queue was full.
    public var dropped = 0
    /// The last attempt, whatever its outcome.
    public var lastNotification: Timestamp?
    public var lastSuccess: Timestamp?
    public var lastFailure: Timestamp?
    /// Why the last failed attempt failed.
    public var lastFailureReason: String?
    /// Notifications waiting.
    public var pending = 0

    public init() {}
}

/// Where a hub keeps the notifications not yet delivered, and how deliveries went: in the hub
/// database, so that what was pending is delivered after a restart.
public protocol NotificationRecords: Sendable {
    /// Every tenant's subscriptions.
    func allSubscriptions() throws(StorageError) -> [(tenant: Tenant, stored: StoredSubscription)]
    /// Keeps `items` (in this order) as pending, in one transaction; then drops the oldest of a
    /// subscription beyond `limit` pending ones (counted in its status). Returns the number dropped
    /// per subscription.
    func enqueue(_ items: [(key: SubscriptionKey, body: String)], at: Timestamp, limit: Int) throws(StorageError) -> [SubscriptionKey: Int]
    /// The oldest pending notifications of `key`, at most `limit`.
    func pending(_ key: SubscriptionKey, limit: Int) throws(StorageError) -> [PendingNotification]
    /// How many notifications wait, per subscription.
    func pendingCounts() throws(StorageError) -> [SubscriptionKey: Int]
    /// Deliveries succeeded (of one subscription, in order): the notifications are no longer
    /// pending; counted.
    func delivered(_ notifications: [PendingNotification], at: Timestamp) throws(StorageError)
    /// A delivery failed (the notification stays pending); counted.
    func failed(_ key: SubscriptionKey, at: Timestamp, reason: String) throws(StorageError)
    /// The delivery status of a subscription.
    func status(_ key: SubscriptionKey) throws(StorageError) -> SubscriptionStatus
    /// Forgets a subscription's pending notifications and status (it was deleted).
    func clear(_ key: SubscriptionKey) throws(StorageError)
}

extension NotificationRecords {
    /// One delivery succeeded.
    public func delivered(_ notification: PendingNotification, at: Timestamp) throws(StorageError) {
        try delivered([notification], at: at)
    }
}
