import KakehashiModel

/// A subscription as kept, with when it was created and last changed.
public struct StoredSubscription: Sendable, Hashable {
    public var subscription: Subscription
    public var createdAt: Timestamp
    public var modifiedAt: Timestamp

    public init(subscription: Subscription, createdAt: Timestamp, modifiedAt: Timestamp) {
        self.subscription = subscription
        self.createdAt = createdAt
        self.modifiedAt = modifiedAt
    }
}

/// Where a hub keeps its tenants' subscriptions (a table of the hub database).
public protocol SubscriptionRecords: Sendable {
    /// Every subscription of `tenant`, by id.
    func subscriptions(tenant: Tenant) throws(StorageError) -> [StoredSubscription]
    /// One subscription, or nil.
    func subscription(tenant: Tenant, id: String) throws(StorageError) -> StoredSubscription?
    /// Adds a subscription; false when `tenant` has one with that id.
    func insert(_ subscription: Subscription, tenant: Tenant, at: Timestamp) throws(StorageError) -> Bool
    /// Replaces a subscription; false when there is none with its id.
    func replace(_ subscription: Subscription, tenant: Tenant, at: Timestamp) throws(StorageError) -> Bool
    /// Deletes a subscription; false when there is none.
    func delete(tenant: Tenant, id: String) throws(StorageError) -> Bool
}

extension Subscription {
    /// A subscription as it was kept (its `expiresAt` may have passed since).
    public init(stored json: JSONValue) throws(SubscriptionError) {
        try self.init(json: json, now: Timestamp(millisecondsSinceEpoch: 0))
    }
}
