import KakehashiMQTT
import KakehashiModel
import Logging
import ServiceLifecycle

/// Subscribes to an edge broker's topics and feeds decoded readings to the committer.
///
/// The session is persistent, so readings published while the gateway is down wait on the edge
/// broker. On graceful shutdown it disconnects first, then drains what was already received.
public final class MQTTSource: Service, Sendable {
    let name: String
    let configuration: MQTTSourceConfiguration
    let ingest: Ingest
    let committer: Committer
    let logger: Logger
    let client: MQTTClient
    let clock: @Sendable () -> Timestamp

    public init(
        name: String,
        configuration: MQTTSourceConfiguration,
        ingest: Ingest,
        committer: Committer,
        logger: Logger,
        clock: @escaping @Sendable () -> Timestamp
    ) throws(MQTTError) {
        self.name = name
        self.configuration = configuration
        self.ingest = ingest
        self.committer = committer
        self.logger = logger
        self.clock = clock
        client = try MQTTClient(configuration: configuration.mqtt, logger: logger)
    }

    public func run() async throws {
        // Register every subscription before the connection exists and consume at once, without
        // waiting for the broker's grants: messages the edge broker kept for this persistent
        // session arrive right after CONNACK, ahead of the grants, and the network thread waits for
        // room in a subscription's buffer. Waiting for the grants first would stall the start
        // whenever more readings waited than one buffer holds. A refused grant is logged.
        var subscriptions = [(MQTTSubscription, MQTTSourceConfiguration.Route)]()
        for route in configuration.routes {
            subscriptions.append((try client.subscribeWithoutWaiting(route.pattern.filter, qos: route.qos), route))
        }
        logger.info(
            "source \(name) subscribed",
            metadata: ["broker": "\(client.broker)", "topics": "\(configuration.routes.map(\.pattern.description))"]
        )
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for (subscription, route) in subscriptions {
                    group.addTask { await self.consume(subscription, route: route) }
                }
            }
        } onGracefulShutdown: {
            // Stop the network; the subscriptions end after what they hold is drained.
            Task { await self.client.disconnect(drainTimeout: .zero) }
        }
        logger.info("source \(name) stopped")
    }

    func consume(_ subscription: MQTTSubscription, route: MQTTSourceConfiguration.Route) async {
        for await message in subscription {
            switch ingest.readings(payload: message.payload, topic: message.topic, route: route, source: name, receivedAt: clock()) {
            case .readings(let readings):
                await committer.submit(readings)
            case .rejected(let letter):
                logger.debug("rejected a message on \(message.topic): \(letter.reason): \(letter.detail)")
                committer.reject(letter)
            }
        }
    }
}
