import KakehashiMQTT
import KakehashiModel
import Logging
import ServiceLifecycle

/// Subscribes to every gateway's batches on the central broker and ingests them.
///
/// The session is persistent (batches published while the hub is down wait for it) and each
/// batch is acknowledged to the broker only after it was stored or kept as a dead letter: a hub
/// killed mid-batch gets the batch again when it comes back, and the exactly-once key makes the
/// second delivery change nothing.
public final class MQTTIngest: Service, Sendable {
    let client: MQTTClient
    let ingestor: Ingestor
    let logger: Logger

    /// Creates the ingest client (not connected until `run`).
    public init(broker: MQTTConfiguration, ingestor: Ingestor, logger: Logger) throws(MQTTError) {
        self.client = try MQTTClient(configuration: HubConfiguration.ingestSettings(broker), logger: logger)
        self.ingestor = ingestor
        self.logger = logger
    }

    /// Whether the client is connected to the broker now.
    public var isConnected: Bool {
        if case .connected = client.state { return true }
        return false
    }

    /// The broker address, for health reports.
    public var broker: String { client.broker }

    public func run() async throws {
        // Not waiting for the grant: batches kept by the persistent session arrive first, and the
        // network waits until each is stored.
        let subscription = try client.subscribeWithoutWaiting(WireTopic.allObservations, qos: .atLeastOnce)
        logger.info("hub ingest subscribed", metadata: ["broker": "\(client.broker)", "filter": "\(WireTopic.allObservations)"])
        await withGracefulShutdownHandler {
            for await message in subscription {
                do {
                    _ = try await ingestor.ingest(topic: message.topic, payload: message.payload)
                } catch {
                    // Cancelled while storage was failing: the batch stays unacknowledged.
                    break
                }
            }
        } onGracefulShutdown: {
            Task { await self.client.disconnect(drainTimeout: .zero) }
        }
        await client.disconnect(drainTimeout: .zero)
        logger.info("hub ingest stopped")
    }
}
