import KakehashiModel
import KakehashiMQTT
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

    public init(name: String, configuration: MQTTSourceConfiguration, ingest: Ingest, committer: Committer, logger: Logger,
                clock: @escaping @Sendable () -> Timestamp) throws(MQTTError) {
        self.name = name
        self.configuration = configuration
        self.ingest = ingest
        self.committer = committer
        self.logger = logger
        self.clock = clock
        client = try MQTTClient(configuration: configuration.mqtt, logger: logger)
    }

    public func run() async throws {
        // Subscribe to every topic at once, before the connection exists: messages the edge broker
        // kept for this persistent session arrive right after CONNACK and must find their subscription.
        let subscriptions = try await withThrowingTaskGroup(of: (MQTTSubscription, MQTTSourceConfiguration.Route).self) { group in
            for route in configuration.routes {
                group.addTask { (try await self.client.subscribe(route.pattern.filter, qos: route.qos), route) }
            }
            var subscribed = [(MQTTSubscription, MQTTSourceConfiguration.Route)]()
            for try await pair in group { subscribed.append(pair) }
            return subscribed
        }
        logger.info("source \(name) subscribed", metadata: ["broker": "\(client.broker)", "topics": "\(configuration.routes.map(\.pattern.description))"])
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
