/// Why a batch was not stored; it goes to the dead-letter table with this reason and detail.
public struct IngestRejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// The closed set of reasons, each counted in metrics. Spelled as the gateway's rejection
    /// reasons are (`snake_case`), in metrics labels, dead letters and logs alike.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        /// The topic is not `kakehashi/v1/<tenant>/<gateway>/obs`.
        case badTopic = "bad_topic"
        /// The tenant is not one of this hub's tenants.
        case unknownTenant = "unknown_tenant"
        /// The gateway is not registered for the tenant.
        case unknownGateway = "unknown_gateway"
        /// The payload is not a valid wire batch (JSON, version, sequences, entities).
        case invalidBatch = "invalid_batch"
        /// The batch names another tenant or gateway than its topic.
        case topicMismatch = "topic_mismatch"
        /// An entity belongs to another tenant than the request's.
        case tenantMismatch = "tenant_mismatch"
        /// Storage kept failing for this batch (older versions; batches are now held until stored).
        case storageFailed = "storage_failed"
        /// A reading observed further ahead of the hub's clock than `limits.max_future_skew`.
        case clockSkew = "clock_skew"
        /// A reading observed longer ago than `limits.max_reading_age`.
        case tooOld = "too_old"
    }

    /// The reason.
    public let reason: Reason
    /// What exactly is wrong, naming the field or value.
    public let detail: String
    /// The tenant named by the topic or request, when readable.
    public let tenant: String?

    /// Creates a rejection.
    public init(_ reason: Reason, _ detail: String, tenant: String? = nil) {
        self.reason = reason
        self.detail = detail
        self.tenant = tenant
    }

    public var description: String { "\(reason.rawValue): \(detail)" }
}
