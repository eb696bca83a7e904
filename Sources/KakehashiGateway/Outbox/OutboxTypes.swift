import KakehashiModel

/// A reading on its way into the outbox: its entity fragment (normalized NGSI-LD without
/// `@context`, as the wire batch carries it) and its priority.
public struct PendingReading: Sendable, Hashable {
    public let priority: Int
    public let entity: [UInt8]

    public init(priority: Int, entity: [UInt8]) {
        self.priority = priority
        self.entity = entity
    }
}

/// A rejected message kept for inspection.
public struct DeadLetter: Sendable, Hashable {
    public let id: Int64
    public let receivedAt: Timestamp
    public let source: String
    public let topic: String
    public let reason: String
    public let detail: String
    /// The payload's full size; `payload` holds at most its first 4 KiB.
    public let size: Int
    public let payload: [UInt8]

    public init(id: Int64 = 0, receivedAt: Timestamp, source: String, topic: String, reason: String, detail: String, size: Int, payload: [UInt8]) {
        self.id = id
        self.receivedAt = receivedAt
        self.source = source
        self.topic = topic
        self.reason = reason
        self.detail = detail
        self.size = size
        self.payload = payload
    }
}

/// A stored reading read back for sending.
public struct StoredReading: Sendable, Hashable {
    public let sequence: Int64
    public let entity: [UInt8]
}

/// What one commit did.
public struct CommitResult: Sendable, Hashable {
    /// Sequence numbers given to the committed readings, in order.
    public var sequences: ClosedRange<Int64>?
    /// Readings dropped by the quota, by priority.
    public var dropped: [Int: Int] = [:]
    /// Readings deleted because their batches were acknowledged.
    public var acknowledged = 0
}
