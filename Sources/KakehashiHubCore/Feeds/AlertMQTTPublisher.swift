import KakehashiAlerts
import KakehashiMQTT
import KakehashiModel
import Logging
import ServiceLifecycle

/// Publishes every tenant's alert events to `kakehashi/v1/<tenant>/alerts` (QoS 1, the same JSON
/// as the SSE feed), as one more follower of the alert feed (`alerts.publish_mqtt`).
public struct AlertMQTTPublisher: Service {
    let client: MQTTClient
    let subscription: AlertFeed.Subscription
    let logger: Logger

    /// The events a slow broker connection may hold back before the oldest are dropped (logged).
    public static let capacity = 100_000

    /// Creates the publisher on its own session (`<client id>-alerts`, or
    /// `<client id>-<instance>-alerts` for one of several hubs; clean), following the events
    /// `feed`'s hub stores from now on.
    public init(broker: MQTTConfiguration, feed: AlertFeed, instance: String? = nil, logger: Logger) throws(MQTTError) {
        var settings = broker
        settings.clientID = "\(broker.clientID)-\(instance.map { "\($0)-" } ?? "")alerts"
        settings.session = .clean
        client = try MQTTClient(configuration: settings, logger: logger)
        subscription = feed.subscribeAll(capacity: Self.capacity)
        self.logger = logger
    }

    public func run() async throws {
        // At shutdown what the subscription holds is published, then the publisher ends.
        await withGracefulShutdownHandler {
            for await event in subscription.events {
                do {
                    try await client.publish(WireTopic.alerts(tenant: event.record.event.tenant), payload: event.json, qos: .atLeastOnce)
                } catch {
                    logger.error("publishing an alert event to MQTT failed", metadata: ["error": "\(error)", "id": "\(event.record.id)"])
                }
            }
        } onGracefulShutdown: {
            subscription.end()
        }
        await client.disconnect()
    }
}
