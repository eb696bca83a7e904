/// Counters of a client's life, for metrics and status.
public struct MQTTStatistics: Sendable, Hashable {
    /// Connections accepted by the broker (1 + reconnections).
    public var connections = 0
    /// Connection attempts that failed or connections that dropped.
    public var connectionFailures = 0
    /// Subscriptions granted by the broker (each renewal after a reconnection counts again).
    public var subscriptionsGranted = 0
    /// Messages received from the broker.
    public var messagesReceived = 0
    /// Publishes acknowledged (QoS 1/2) or sent (QoS 0).
    public var messagesPublished = 0
}
