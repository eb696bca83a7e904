import KakehashiModel

/// Ingests kept dead letters again, after what refused them was put right (a gateway registered
/// late, a tenant added, a clock fixed): each one from a gateway's topic goes through the same
/// validation and storage as when it arrived; stored, it is forgotten; refused again, it stays as
/// it was (no second copy) and the new reason is reported. What the retry stores is history: the
/// running hub's alert rules do not see it.
public struct DeadLetterRetry: Sendable {
    let validator: BatchValidator
    let store: any ObservationStore
    let now: WallClock

    /// What became of one dead letter.
    public enum Outcome: Sendable, Hashable {
        /// Stored now, and forgotten as a dead letter.
        case stored(IngestResult)
        /// Refused again, for this reason; kept.
        case refused(IngestRejection)
        /// Not a gateway batch (the HTTP path answered its caller at the time); kept.
        case notRetriable(String)
    }

    /// A retry with the hub's own validation (tenants, gateways, clock limits, retention).
    public init(configuration: HubConfiguration, store: any ObservationStore, access: any AccessRecords, now: @escaping WallClock) {
        var validator = BatchValidator(
            directory: AccessDirectory(store: access, configured: configuration.tenants),
            retention: configuration.retention
        )
        validator.maxFutureSkew = configuration.limits.maxFutureSkew
        validator.maxReadingAge = configuration.limits.maxReadingAge
        self.validator = validator
        self.store = store
        self.now = now
    }

    /// Ingests `letter` again.
    public func retry(_ letter: HubDeadLetter) async throws(StorageError) -> Outcome {
        guard letter.source != "http" else { return .notRetriable("posted over HTTP: the caller was answered with the reason") }
        guard letter.payload.count == letter.size else {
            return .notRetriable("only \(letter.payload.count) of its \(letter.size) bytes were kept")
        }
        let receivedAt = now()
        switch validator.validate(topic: letter.source, payload: letter.payload, receivedAt: receivedAt) {
        case .failure(let rejection):
            return .refused(rejection)
        case .success(let whole):
            if let (_, rejection) = validator.refusals(whole.entities, tenant: whole.tenant, now: receivedAt).first { return .refused(rejection) }
            let result = try await store.ingest(whole)
            _ = try await store.deleteDeadLetter(id: letter.id)
            return .stored(result)
        }
    }
}
