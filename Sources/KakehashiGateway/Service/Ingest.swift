import KakehashiModel
import Logging

/// Decodes sensor messages into readings, or into dead letters with their reason.
public struct Ingest: Sendable {
    public let factory: EntityFactory
    public let outbox: OutboxConfiguration
    public let limits: InputLimits
    public let metrics: GatewayMetrics
    /// Arrival times of sensors without a clock, strictly increasing per sensor.
    public let arrivals: ArrivalClock

    public init(
        factory: EntityFactory,
        outbox: OutboxConfiguration,
        limits: InputLimits,
        metrics: GatewayMetrics,
        arrivals: ArrivalClock = ArrivalClock()
    ) {
        self.factory = factory
        self.outbox = outbox
        self.limits = limits
        self.metrics = metrics
        self.arrivals = arrivals
    }

    /// The readings of one message, or the rejection to keep.
    public func readings(
        payload: [UInt8],
        topic: String,
        route: MQTTSourceConfiguration.Route,
        source: String,
        receivedAt: Timestamp
    ) -> IngestOutcome {
        metrics.received(source: source)
        let decode = { () throws(Rejection) -> [PendingReading] in
            guard payload.count <= limits.maxPayloadBytes else {
                throw Rejection(.payloadTooLarge, "\(payload.count) bytes, the limit is \(limits.maxPayloadBytes)")
            }
            guard let levels = route.pattern.match(topic) else {
                throw Rejection(.missingField, "topic \(topic) does not match \(route.pattern)")
            }
            var reading = try route.decoder.decode(payload, topicLevels: levels, receivedAt: receivedAt)
            if case .arrival = route.decoder.timestamp {
                reading = DecodedReading(
                    sensor: reading.sensor,
                    observedAt: arrivals.stamp(sensor: reading.sensor, arrivedAt: receivedAt),
                    values: reading.values
                )
            }
            let skew = limits.maxFutureSkew
            if reading.observedAt.millisecondsSinceEpoch > receivedAt.millisecondsSinceEpoch + skew.milliseconds {
                throw Rejection(.clockSkew, "observed at \(reading.observedAt), after the gateway's clock (\(receivedAt)) by more than \(skew)")
            }
            return try entities(for: reading)
        }
        do {
            return .readings(try decode())
        } catch {
            metrics.rejected(error.reason)
            return .rejected(
                DeadLetter(
                    receivedAt: receivedAt,
                    source: source,
                    topic: topic,
                    reason: error.reason.rawValue,
                    detail: error.detail,
                    size: payload.count,
                    payload: payload
                )
            )
        }
    }

    /// Entities for a decoded reading, serialized as the wire batch carries them.
    public func entities(for reading: DecodedReading) throws(Rejection) -> [PendingReading] {
        let (record, entities) = try factory.entities(for: reading)
        let priority = outbox.priority(of: record.kind.rawValue)
        return entities.map { Self.pending($0, priority: priority) }
    }

    /// A reading for the outbox: the normalized fragment without `@context`.
    public static func pending(_ entity: NGSIEntity, priority: Int) -> PendingReading {
        var fragment = entity
        fragment.context = []
        return PendingReading(priority: priority, entity: fragment.json(.normalized).serialized())
    }
}

/// What became of one sensor message.
public enum IngestOutcome: Sendable {
    case readings([PendingReading])
    case rejected(DeadLetter)
}
