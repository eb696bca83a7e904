import KakehashiModel
import Logging

/// A source of wall-clock time (injected so tests and replays control it).
public typealias WallClock = @Sendable () -> Timestamp

/// The path every batch takes, from MQTT or HTTP: validate, store, or keep as a dead letter
/// with the reason. Never drops a batch silently.
public struct Ingestor: Sendable {
    let validator: BatchValidator
    let store: any ObservationStore
    let metrics: HubMetrics
    let logger: Logger
    let now: WallClock
    /// Called with each stored batch (the alert rules, the entity feed).
    let stored: @Sendable (IngestBatch) async -> Void
    /// Whether storage is failing now (`/healthz`).
    public let health: StorageHealth

    /// What became of a batch.
    public enum Outcome: Sendable, Hashable {
        /// Stored.
        case stored(IngestResult)
        /// Rejected and kept as a dead letter.
        case rejected(IngestRejection)
    }

    /// Creates an ingestor.
    public init(
        validator: BatchValidator,
        store: any ObservationStore,
        metrics: HubMetrics,
        logger: Logger,
        now: @escaping WallClock,
        stored: @escaping @Sendable (IngestBatch) async -> Void = { _ in },
        health: StorageHealth = StorageHealth()
    ) {
        self.health = health
        self.validator = validator
        self.store = store
        self.metrics = metrics
        self.logger = logger
        self.now = now
        self.stored = stored
    }

    /// Ingests one MQTT message. Storage failures (a full disk) are retried with growing pauses
    /// (up to 5 s) until the batch is stored, or the task is cancelled (then it throws and the
    /// message stays unacknowledged, to be delivered again): a batch is never acknowledged before it
    /// is stored. Meanwhile ``health`` says storage is failing.
    public func ingest(topic: String, payload: [UInt8]) async throws(CancellationError) -> Outcome {
        try await handle(topic: topic, payload: payload).outcome
    }

    /// What the hub tells a gateway once its batch is handled for good (see ``WireAcknowledgement``).
    public struct Confirmation: Sendable, Hashable {
        /// `kakehashi/v1/<tenant>/<gateway>/ack`.
        public let topic: String
        public let acknowledgement: WireAcknowledgement
    }

    /// ``ingest(topic:payload:)``, with the confirmation to publish to the gateway: its batch's
    /// sequences, once stored or kept as a dead letter. None for a message that is not a
    /// registered gateway's batch, or whose sequences cannot be read (the gateway sends it again).
    public func handle(topic: String, payload: [UInt8]) async throws(CancellationError) -> (outcome: Outcome, confirmation: Confirmation?) {
        let receivedAt = now()
        switch validator.validate(topic: topic, payload: payload, receivedAt: receivedAt) {
        case .failure(let rejection):
            try await deadLetter(rejection, source: topic, payload: payload, receivedAt: receivedAt)
            // Only a registered gateway's own topic gets an answer; an unreadable batch, as a dead letter.
            var confirmation: Confirmation?
            if rejection.reason == .invalidBatch, let wire = try? WireTopic(parsing: topic),
                let sequences = WireAcknowledgement.sequences(ofUnreadableBatch: payload)
            {
                confirmation = Confirmation(
                    topic: WireAcknowledgement.topic(tenant: wire.tenant, gateway: wire.gateway),
                    acknowledgement: WireAcknowledgement(ranges: [sequences], outcome: .deadLetter)
                )
            }
            return (.rejected(rejection), confirmation)
        case .success(let whole):
            var confirmation: Confirmation?
            if let gateway = whole.gateway, let low = whole.lowestSequence, let high = whole.highestSequence {
                confirmation = Confirmation(
                    topic: WireAcknowledgement.topic(tenant: whole.tenant, gateway: gateway),
                    acknowledgement: WireAcknowledgement(ranges: [low...high], outcome: .stored)
                )
            }
            // Readings outside the clock limits are kept as dead letters of their own; the rest is stored.
            let refusals = validator.refusals(whole.entities, tenant: whole.tenant, now: receivedAt)
            for (index, rejection) in refusals {
                try await deadLetter(rejection, source: topic, payload: whole.entities[index].json(.normalized).serialized(), receivedAt: receivedAt)
            }
            if refusals.count == whole.entities.count, let (_, rejection) = refusals.first {
                return (
                    .rejected(rejection),
                    confirmation.map {
                        Confirmation(topic: $0.topic, acknowledgement: WireAcknowledgement(ranges: $0.acknowledgement.ranges, outcome: .deadLetter))
                    }
                )
            }
            let batch = refusals.isEmpty ? whole : whole.removing(Set(refusals.map(\.index)))
            // Held until stored: never acknowledged before (the broker keeps it and what follows).
            var attempt = 0
            while true {
                if Task.isCancelled { throw CancellationError() }
                let started = ContinuousClock.now
                do {
                    let result = try await store.ingest(batch)
                    metrics.ingestDuration.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
                    metrics.record(result)
                    recovered()
                    await stored(batch)
                    return (.stored(result), confirmation)
                } catch {
                    metrics.storageFailures.increment()
                    attempt += 1
                    if health.failed(error.description, at: now()) {
                        logger.error(
                            "storage is failing: the batch is held unacknowledged and retried, the broker keeps the rest",
                            metadata: [
                                "topic": "\(topic)", "error": "\(error)", "attempts": "\(health.failing?.attempts ?? attempt)",
                            ]
                        )
                    }
                    do { try await Task.sleep(for: .milliseconds(min(100 << min(attempt, 6), 5_000))) } catch { throw CancellationError() }
                }
            }
        }
    }

    private func recovered() {
        if let ended = health.succeeded() {
            logger.notice(
                "storage takes batches again",
                metadata: [
                    "failing_since": "\(ended.since.iso8601)", "failed_attempts": "\(ended.attempts)", "last_error": "\(ended.reason)",
                ]
            )
        }
    }

    /// Refuses the entities observed outside the clock limits (too far ahead of the hub's clock,
    /// or older than `limits.max_reading_age`): each is kept as a dead letter with its reason and
    /// returned with it; the others are returned to be stored.
    public func screen(
        _ entities: [NGSIEntity],
        tenant: Tenant,
        source: String = "http"
    ) async -> (kept: [NGSIEntity], refused: [(NGSIEntity, IngestRejection)]) {
        let receivedAt = now()
        let result = validator.screen(entities, tenant: tenant, now: receivedAt)
        for (entity, rejection) in result.refused {
            try? await deadLetter(rejection, source: source, payload: entity.json(.normalized).serialized(), receivedAt: receivedAt)
        }
        return result
    }

    /// Validates and stores entities posted over HTTP; a storage failure is thrown to the caller.
    /// With `replacing`, each entity's attributes are replaced (those not given are removed).
    public func ingest(
        entities: [NGSIEntity],
        tenant: Tenant,
        replacing: Bool = false
    ) async throws(StorageError) -> Result<IngestResult, IngestRejection> {
        switch validator.validate(entities: entities, tenant: tenant, receivedAt: now(), replacing: replacing) {
        case .failure(let rejection):
            metrics.rejected(rejection.reason).increment()
            return .failure(rejection)
        case .success(let batch):
            let started = ContinuousClock.now
            let result: IngestResult
            do { result = try await store.ingest(batch) } catch {
                metrics.storageFailures.increment()
                if health.failed(error.description, at: now()) { logger.error("storage is failing", metadata: ["error": "\(error)"]) }
                throw error
            }
            metrics.ingestDuration.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
            metrics.record(result)
            recovered()
            await stored(batch)
            return .success(result)
        }
    }

    /// Keeps a rejected batch; retried until storage takes it or the task is cancelled.
    private func deadLetter(_ rejection: IngestRejection, source: String, payload: [UInt8], receivedAt: Timestamp) async throws(CancellationError) {
        metrics.rejected(rejection.reason).increment()
        logger.warning("batch rejected", metadata: ["topic": "\(source)", "reason": "\(rejection.reason.rawValue)", "detail": "\(rejection.detail)"])
        let letter = HubDeadLetter(
            receivedAt: receivedAt,
            source: source,
            tenant: rejection.tenant,
            reason: rejection.reason.rawValue,
            detail: rejection.detail,
            payload: payload,
            size: payload.count
        )
        while true {
            if Task.isCancelled { throw CancellationError() }
            do {
                try await store.recordDeadLetter(letter)
                return
            } catch {
                metrics.storageFailures.increment()
                logger.error("keeping a dead letter failed; retrying", metadata: ["error": "\(error)"])
                do { try await Task.sleep(for: .seconds(1)) } catch { throw CancellationError() }
            }
        }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
