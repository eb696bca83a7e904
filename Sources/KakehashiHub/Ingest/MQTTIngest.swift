import KakehashiMQTT
import KakehashiModel
import Logging
import ServiceLifecycle

/// Subscribes to every gateway's batches on the central broker and ingests them.
///
/// The sessions are persistent (batches published while the hub is down wait for it) and each
/// batch is acknowledged to the broker only after it was stored or kept as a dead letter: a hub
/// killed mid-batch gets the batch again when it comes back, and the exactly-once key makes the
/// second delivery change nothing.
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
    public init(broker: MQTTConfiguration, consumers count: Int = 1, ingestor: Ingestor, logger: Logger) throws(MQTTError) {
        var consumers = [(client: MQTTClient, filter: String)]()
        for index in 0..<max(1, count) {
            let (settings, filter) = HubConfiguration.ingestSession(broker, index: index, of: max(1, count))
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
        logger.info("hub ingest subscribed", metadata: [
            "broker": "\(broker)", "filter": "\(consumers[0].filter)", "sessions": "\(consumers.count)",
        ])
        let ingestor = self.ingestor
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for subscription in subscriptions {
                    group.addTask {
                        for await message in subscription {
                            do {
                                _ = try await ingestor.ingest(topic: message.topic, payload: message.payload)
                            } catch {
                                // Cancelled while storage was failing: the batch stays unacknowledged.
                                break
                            }
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
    public static func prepareSessions(broker: MQTTConfiguration, consumers count: Int, logger: Logger) async throws(MQTTError) {
        for index in 0..<max(1, count) {
            let (settings, filter) = HubConfiguration.ingestSession(broker, index: index, of: max(1, count))
            var plain = settings
            plain.acknowledgement = .onReceipt
            let client = try MQTTClient(configuration: plain, logger: logger)
            try await client.connect()
            _ = try await client.subscribe(filter, qos: .atLeastOnce)
            await client.disconnect()
        }
    }

    private func disconnectAll() async {
        for consumer in consumers { await consumer.client.disconnect(drainTimeout: .zero) }
    }
}
