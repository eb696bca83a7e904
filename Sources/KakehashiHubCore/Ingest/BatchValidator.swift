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
    /// refused, each with its rejection (`clock-skew`, `too-old`).
    public func screen(_ entities: [NGSIEntity], tenant: Tenant, now: Timestamp) -> (kept: [NGSIEntity], refused: [(NGSIEntity, IngestRejection)]) {
        let latest = now.millisecondsSinceEpoch + maxFutureSkew.milliseconds
        let earliest = maxReadingAge.map { now.millisecondsSinceEpoch - $0.milliseconds }
        var kept = [NGSIEntity](), refused = [(NGSIEntity, IngestRejection)]()
        kept.reserveCapacity(entities.count)
        for entity in entities {
            var problem: IngestRejection?
            for (name, attribute) in entity.attributes.sorted(by: { $0.key < $1.key }) {
                guard let at = attribute.observedAt else { continue }
                if at.millisecondsSinceEpoch > latest {
                    problem = IngestRejection(.clockSkew, "\(entity.id) \(name) observed at \(at.iso8601), after the hub's clock (\(now.iso8601)) by more than \(maxFutureSkew) (limits.max_future_skew)", tenant: tenant.name)
                } else if let earliest, at.millisecondsSinceEpoch < earliest, let age = maxReadingAge {
                    problem = IngestRejection(.tooOld, "\(entity.id) \(name) observed at \(at.iso8601), more than \(age) before the hub's clock (\(now.iso8601)) (limits.max_reading_age)", tenant: tenant.name)
                }
                if problem != nil { break }
            }
            if let problem { refused.append((entity, problem)) } else { kept.append(entity) }
        }
        return (kept, refused)
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
        guard directory.settings(of: tenant) != nil else {
            return .failure(IngestRejection(.unknownTenant, "tenant \(tenant) is not served by this hub", tenant: tenant.name))
        }
        guard directory.accepts(gateway: wireTopic.gateway, tenant: tenant) else {
            return .failure(IngestRejection(.unknownGateway, "gateway \(wireTopic.gateway) is not registered for tenant \(tenant)", tenant: tenant.name))
        }
        let batch: WireBatch
        do {
            batch = try WireBatch(payload: payload)
        } catch {
            return .failure(IngestRejection(.invalidBatch, error.description, tenant: tenant.name))
        }
        guard batch.tenant == tenant, batch.gateway == wireTopic.gateway else {
            return .failure(IngestRejection(
                .topicMismatch, "the batch says \(batch.tenant)/\(batch.gateway), its topic \(tenant)/\(wireTopic.gateway)", tenant: tenant.name))
        }
        return .success(IngestBatch(
            tenant: tenant, gateway: batch.gateway, highestSequence: batch.entries.last?.sequence, lowestSequence: batch.entries.first?.sequence,
            entities: batch.entries.map(\.entity), receivedAt: receivedAt, oldestAccepted: oldestAccepted(tenant: tenant, entities: batch.entries.map(\.entity), now: receivedAt)))
    }

    /// Validates entities posted over HTTP for `tenant`: each must belong to it.
    public func validate(entities: [NGSIEntity], tenant: Tenant, receivedAt: Timestamp) -> Result<IngestBatch, IngestRejection> {
        guard directory.settings(of: tenant) != nil else {
            return .failure(IngestRejection(.unknownTenant, "tenant \(tenant) is not served by this hub", tenant: tenant.name))
        }
        for entity in entities where entity.id.tenant != tenant {
            return .failure(IngestRejection(.tenantMismatch, "entity \(entity.id) belongs to tenant \(entity.id.tenant), not \(tenant)", tenant: tenant.name))
        }
        return .success(IngestBatch(tenant: tenant, gateway: nil, entities: entities, receivedAt: receivedAt,
                                    oldestAccepted: oldestAccepted(tenant: tenant, entities: entities, now: receivedAt)))
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
