import KakehashiModel

/// Checks an incoming batch against the hub's tenants and gateways: pure, no I/O.
///
/// ```swift
/// let validator = BatchValidator(tenants: configuration.tenants, retention: configuration.retention)
/// switch validator.validate(topic: message.topic, payload: message.payload, receivedAt: now) { … }
/// ```
public struct BatchValidator: Sendable {
    /// Tenants and their gateways (those of the configuration and those added since).
    public let directory: AccessDirectory
    /// Retention, to refuse readings already past it.
    public let retention: RetentionPolicy
    /// How far ahead of the hub's clock a reading may be observed.
    public var maxFutureSkew: Duration = .seconds(600)
    /// How long ago a reading may be observed (nil: any age).
    public var maxReadingAge: Duration?

    /// Creates a validator of fixed tenants.
    public init(tenants: [Tenant: HubConfiguration.TenantSettings], retention: RetentionPolicy = RetentionPolicy()) {
        self.init(directory: AccessDirectory(tenants: tenants), retention: retention)
    }

    /// Creates a validator of the directory's tenants.
    public init(directory: AccessDirectory, retention: RetentionPolicy = RetentionPolicy()) {
        self.directory = directory
        self.retention = retention
    }

    /// Splits `entities` into those observed within the clock limits around `now` and those
    /// refused, each with its rejection (`clock_skew`, `too_old`).
    public func screen(_ entities: [NGSIEntity], tenant: Tenant, now: Timestamp) -> (kept: [NGSIEntity], refused: [(NGSIEntity, IngestRejection)]) {
        let refusals = self.refusals(entities, tenant: tenant, now: now)
        guard !refusals.isEmpty else { return (entities, []) }
        let refused = Set(refusals.map(\.index))
        return (entities.indices.filter { !refused.contains($0) }.map { entities[$0] }, refusals.map { (entities[$0.index], $0.rejection) })
    }

    /// The entities observed outside the clock limits around `now`, by position, each with its
    /// rejection (`clock_skew`, `too_old`); the first attribute by name that is outside is named.
    public func refusals(_ entities: [NGSIEntity], tenant: Tenant, now: Timestamp) -> [(index: Int, rejection: IngestRejection)] {
        let latest = now.millisecondsSinceEpoch + maxFutureSkew.milliseconds
        let earliest = maxReadingAge.map { now.millisecondsSinceEpoch - $0.milliseconds } ?? Int64.min
        func outside(_ attribute: NGSIAttribute) -> Bool {
            guard let at = attribute.observedAt?.millisecondsSinceEpoch else { return false }
            return at > latest || at < earliest
        }
        var refused = [(index: Int, rejection: IngestRejection)]()
        for (index, entity) in entities.enumerated() where entity.attributes.values.contains(where: outside) {
            // Rare: named in a stable order.
            for (name, attribute) in entity.attributes.sorted(by: { $0.key < $1.key }) where outside(attribute) {
                let at = attribute.observedAt!
                let rejection =
                    at.millisecondsSinceEpoch > latest
                    ? IngestRejection(
                        .clockSkew,
                        "\(entity.id) \(name) observed at \(at.iso8601), after the hub's clock (\(now.iso8601)) by more than \(maxFutureSkew) "
                            + "(limits.max_future_skew)",
                        tenant: tenant.name
                    )
                    : IngestRejection(
                        .tooOld,
                        "\(entity.id) \(name) observed at \(at.iso8601), more than \(maxReadingAge!) before the hub's clock (\(now.iso8601)) "
                            + "(limits.max_reading_age)",
                        tenant: tenant.name
                    )
                refused.append((index, rejection))
                break
            }
        }
        return refused
    }

    /// Validates an MQTT wire batch: the topic names a known tenant and one of its gateways, the
    /// payload is a valid batch of that tenant and gateway.
    public func validate(topic: String, payload: [UInt8], receivedAt: Timestamp) -> Result<IngestBatch, IngestRejection> {
        let wireTopic: WireTopic
        do {
            wireTopic = try WireTopic(parsing: topic)
        } catch {
            return .failure(IngestRejection(.badTopic, error.description))
        }
        let tenant = wireTopic.tenant
        guard wireTopic.kind == .observations else {
            return .failure(IngestRejection(.badTopic, "topic \(topic) does not carry observations", tenant: tenant.name))
        }
        switch directory.admits(gateway: wireTopic.gateway, tenant: tenant) {
        case .admitted: break
        case .unknownTenant:
            return .failure(IngestRejection(.unknownTenant, "tenant \(tenant) is not served by this hub", tenant: tenant.name))
        case .unknownGateway:
            return .failure(
                IngestRejection(.unknownGateway, "gateway \(wireTopic.gateway) is not registered for tenant \(tenant)", tenant: tenant.name)
            )
        }
        let batch: WireBatch
        do {
            batch = try WireBatch(payload: payload)
        } catch {
            return .failure(IngestRejection(.invalidBatch, error.description, tenant: tenant.name))
        }
        guard batch.tenant == tenant, batch.gateway == wireTopic.gateway else {
            return .failure(
                IngestRejection(
                    .topicMismatch,
                    "the batch says \(batch.tenant)/\(batch.gateway), its topic \(tenant)/\(wireTopic.gateway)",
                    tenant: tenant.name
                )
            )
        }
        let entities = batch.entries.map(\.entity)
        return .success(
            IngestBatch(
                tenant: tenant,
                gateway: batch.gateway,
                highestSequence: batch.entries.last?.sequence,
                lowestSequence: batch.entries.first?.sequence,
                entities: entities,
                received: batch.entries.map(\.receivedAttributes),
                receivedAt: receivedAt,
                oldestAccepted: oldestAccepted(tenant: tenant, entities: entities, now: receivedAt)
            )
        )
    }

    /// Validates entities posted over HTTP for `tenant`: each must belong to it. With
    /// `replacing`, each entity's state is replaced rather than merged.
    public func validate(
        entities: [NGSIEntity],
        tenant: Tenant,
        receivedAt: Timestamp,
        replacing: Bool = false
    ) -> Result<IngestBatch, IngestRejection> {
        guard directory.settings(of: tenant) != nil else {
            return .failure(IngestRejection(.unknownTenant, "tenant \(tenant) is not served by this hub", tenant: tenant.name))
        }
        for entity in entities where entity.id.tenant != tenant {
            return .failure(
                IngestRejection(.tenantMismatch, "entity \(entity.id) belongs to tenant \(entity.id.tenant), not \(tenant)", tenant: tenant.name)
            )
        }
        return .success(
            IngestBatch(
                tenant: tenant,
                gateway: nil,
                entities: entities,
                receivedAt: receivedAt,
                oldestAccepted: oldestAccepted(tenant: tenant, entities: entities, now: receivedAt),
                replacing: replacing
            )
        )
    }

    /// The oldest observation time kept for the batch's entity types (the most permissive rule,
    /// so no reading still inside retention is refused).
    private func oldestAccepted(tenant: Tenant, entities: [NGSIEntity], now: Timestamp) -> Timestamp? {
        var oldest: Timestamp?
        for type in Set(entities.map(\.type)) {
            guard let limit = retention.oldestRaw(tenant: tenant, type: type, now: now) else { return nil }
            oldest = oldest.map { min($0, limit) } ?? limit
        }
        return oldest
    }
}
