import KakehashiMQTT
import KakehashiModel
import Logging
import ServiceLifecycle

/// Subscribes to an edge broker's topics and feeds decoded readings to the committer.
///
/// The session is persistent, so readings published while the gateway is down wait on the edge
/// broker. On graceful shutdown it disconnects first, then drains what was already received.
///
/// A broker away (at start or later) is retried with backoff while ``SourceHealth`` says the
/// source is down, since when and why. A refusal that retrying cannot fix before the first
/// connection (wrong credentials, TLS) stops the source with a ``SourceError``, and so the gateway.
public final class MQTTSource: Service, Sendable {
    let name: String
    let configuration: MQTTSourceConfiguration
    let ingest: Ingest
    let committer: Committer
    let logger: Logger
    let client: MQTTClient
    let clock: @Sendable () -> Timestamp
    let health: SourceHealth

    public init(
        name: String,
        configuration: MQTTSourceConfiguration,
        ingest: Ingest,
        committer: Committer,
        health: SourceHealth,
        logger: Logger,
        clock: @escaping @Sendable () -> Timestamp
    ) throws(MQTTError) {
        self.health = health
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
        health.register(name)
        let stop: @Sendable () -> Void = { Task { await self.client.disconnect(drainTimeout: .zero) } }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await self.watchConnection() }
                    await withTaskGroup(of: Void.self) { consumers in
                        for (subscription, route) in subscriptions {
                            consumers.addTask { await self.consume(subscription, route: route) }
                        }
                    }
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                // Stop the network; the subscriptions end after what they hold is drained.
                stop()
            }
        } onCancel: {
            stop()
        }
        if case .stopped(let error?) = client.state, !Task.isShuttingDownGracefully {
            health.down(name, reason: error.description)
            throw SourceError(source: name, detail: "the edge broker \(client.broker) cannot be used: \(error)")
        }
        health.finished(name)
        logger.info("source \(name) stopped")
    }

    /// Reports the connection's state to ``SourceHealth`` (and beats) four times a second; a loss
    /// is logged at error level once, and so is the recovery.
    func watchConnection() async {
        var previous = SourceHealth.State.starting
        while !Task.isCancelled {
            let next: SourceHealth.State
            var reason: String?
            switch client.state {
            case .stopped:
                return
            case .connected:
                next = .up
            case .idle, .connecting, .awaitingConnack, .waitingToRetry:
                if let error = client.lastError {
                    next = .down
                    reason = error.description
                } else if previous == .starting {
                    next = .starting
                } else {
                    next = .down
                    reason = "connecting again to the edge broker \(client.broker)"
                }
            }
            if next != previous {
                if next == .down {
                    logger.error(
                        "source \(name): the edge broker \(client.broker) is not reachable; retrying with backoff",
                        metadata: ["reason": "\(reason ?? "")"]
                    )
                } else if next == .up && previous == .down {
                    logger.notice("source \(name): the edge broker \(client.broker) is back")
                }
            }
            health.set(name, next, reason: reason)
            health.beat(name)
            previous = next
            try? await Task.sleep(for: .milliseconds(250))
        }
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
