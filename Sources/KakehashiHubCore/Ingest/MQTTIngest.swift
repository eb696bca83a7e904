import KakehashiMQTT
import KakehashiModel
import Logging
import ServiceLifecycle

/// Subscribes to every gateway's batches on the central broker and ingests them.
///
/// The sessions are persistent (batches published while the hub is down wait for it) and each
/// batch is acknowledged to the broker only after it was stored or kept as a dead letter: a hub
/// killed mid-batch gets the batch again when it comes back, and the exactly-once key makes the
/// second delivery change nothing. Then the hub confirms the batch's sequences to its gateway on
/// `kakehashi/v1/<tenant>/<gateway>/ack` (``WireAcknowledgement``): only that lets the gateway
/// forget them, so a batch the broker acknowledged and then lost (a restart, a crash, a shared
/// subscription with no live session) is sent again.
///
/// With more than one consumer (``HubConfiguration/ingestConsumers``) the sessions share one
/// subscription, so the broker gives each batch to one of them: one batch is decoded and
/// validated while another is being written. Batches of one gateway may then be stored out of
/// order, which the store is built for (exactly-once key, latest state by observation time).
public final class MQTTIngest: Service, Sendable {
    let consumers: [(client: MQTTClient, filter: String)]
    let ingestor: Ingestor
    let logger: Logger

    /// Creates the ingest clients (not connected until `run`).
    public init(
        broker: MQTTConfiguration,
        consumers count: Int = 1,
        instance: String? = nil,
        ingestor: Ingestor,
        logger: Logger
    ) throws(MQTTError) {
        var consumers = [(client: MQTTClient, filter: String)]()
        for index in 0..<max(1, count) {
            let (settings, filter) = HubConfiguration.ingestSession(broker, index: index, of: max(1, count), instance: instance)
            consumers.append((try MQTTClient(configuration: settings, logger: logger), filter))
        }
        self.consumers = consumers
        self.ingestor = ingestor
        self.logger = logger
    }

    /// Whether every ingest session is connected to the broker now.
    public var isConnected: Bool {
        consumers.allSatisfy { consumer in
            if case .connected = consumer.client.state { return true }
            return false
        }
    }

    /// The broker address, for health reports.
    public var broker: String { consumers[0].client.broker }

    public func run() async throws {
        // Not waiting for the grant: batches kept by the persistent session arrive first, and the
        // network waits until each is stored.
        var subscriptions = [MQTTSubscription]()
        for consumer in consumers {
            subscriptions.append(try consumer.client.subscribeWithoutWaiting(consumer.filter, qos: .atLeastOnce))
        }
        logger.info(
            "hub ingest subscribed",
            metadata: [
                "broker": "\(broker)", "filter": "\(consumers[0].filter)", "sessions": "\(consumers.count)",
            ]
        )
        let ingestor = self.ingestor
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for (subscription, consumer) in zip(subscriptions, consumers) {
                    group.addTask {
                        for await message in subscription {
                            let handled: (outcome: Ingestor.Outcome, confirmation: Ingestor.Confirmation?)
                            do {
                                handled = try await ingestor.handle(topic: message.topic, payload: message.payload)
                            } catch {
                                // Cancelled while storage was failing: the batch stays unacknowledged.
                                break
                            }
                            // Tell the gateway it may forget the batch; queued, not waited for (a
                            // confirmation lost on the way only means the gateway sends the batch again).
                            if let confirmation = handled.confirmation { await self.confirm(confirmation, on: consumer.client) }
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            Task { await self.disconnectAll() }
        }
        await disconnectAll()
        logger.info("hub ingest stopped")
    }

    /// Creates the hub's persistent, subscribed sessions on the broker and leaves, so batches
    /// published before the hub first runs wait for it.
    public static func prepareSessions(
        broker: MQTTConfiguration,
        consumers count: Int,
        instance: String? = nil,
        logger: Logger
    ) async throws(MQTTError) {
        for index in 0..<max(1, count) {
            let (settings, filter) = HubConfiguration.ingestSession(broker, index: index, of: max(1, count), instance: instance)
            var plain = settings
            plain.acknowledgement = .onReceipt
            let client = try MQTTClient(configuration: plain, logger: logger)
            try await client.connect()
            _ = try await client.subscribe(filter, qos: .atLeastOnce)
            await client.disconnect()
        }
    }

    /// Publishes `confirmation` at QoS 1 without waiting for the broker's acknowledgement.
    func confirm(_ confirmation: Ingestor.Confirmation, on client: MQTTClient) async {
        let metrics = ingestor.metrics
        do {
            try await client.enqueue(confirmation.topic, payload: confirmation.acknowledgement.payload(), qos: .atLeastOnce) { error in
                if error == nil { metrics.confirmationsSent.increment() } else { metrics.confirmationsFailed.increment() }
            }
        } catch {
            metrics.confirmationsFailed.increment()
        }
    }

    private func disconnectAll() async {
        for consumer in consumers { await consumer.client.disconnect(drainTimeout: .zero) }
    }
}
