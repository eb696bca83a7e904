import KakehashiModel

/// One alert as the hub keeps it: a (rule, entity) episode from its raise to its clear, named by
/// the id of the event that raised it.
public struct AlertRecord: Sendable, Hashable {
    /// The id of the raising event (unique per tenant).
    public var id: Int64
    /// The tenant.
    public var tenant: Tenant
    /// The rule that raised it.
    public var rule: String
    /// The entity it is about.
    public var entity: EntityID
    /// The stage now (1-based; 0 once cleared).
    public var stage: Int
    /// The stage's name; the last one once cleared.
    public var stageName: String?
    /// The severity now; the last one once cleared.
    public var severity: Alert.Severity?
    /// The value that decided the latest change.
    public var value: Double?
    /// The level of the stage entered or left.
    public var level: Double?
    /// When it was raised.
    public var raisedAt: Timestamp
    /// When it last changed.
    public var updatedAt: Timestamp
    /// When it cleared; nil while active.
    public var clearedAt: Timestamp?
    /// The entity's location.
    public var location: GeoPoint?
    /// Who acknowledged it, and when.
    public var acknowledgedBy: String?
    /// When it was acknowledged (the hub's clock).
    public var acknowledgedAt: Timestamp?
    /// The latest event of the alert decided by the engine (not an acknowledgement).
    public var lastChange: Int64
    /// Its kind.
    public var lastChangeKind: AlertEvent.Kind
    /// The newest reading of the entity, when the hub looked (not stored with the alert).
    public var lastReadingAt: Timestamp?
    /// Whether the entity has gone silent while the alert is active: a `stale` rule's alert is
    /// active on it (not stored with the alert).
    public var stale = false

    /// Creates a record.
    public init(
        id: Int64,
        tenant: Tenant,
        rule: String,
        entity: EntityID,
        stage: Int,
        stageName: String?,
        severity: Alert.Severity?,
        value: Double?,
        level: Double?,
        raisedAt: Timestamp,
        updatedAt: Timestamp,
        clearedAt: Timestamp?,
        location: GeoPoint?,
        acknowledgedBy: String?,
        acknowledgedAt: Timestamp?,
        lastChange: Int64,
        lastChangeKind: AlertEvent.Kind
    ) {
        self.id = id
        self.tenant = tenant
        self.rule = rule
        self.entity = entity
        self.stage = stage
        self.stageName = stageName
        self.severity = severity
        self.value = value
        self.level = level
        self.raisedAt = raisedAt
        self.updatedAt = updatedAt
        self.clearedAt = clearedAt
        self.location = location
        self.acknowledgedBy = acknowledgedBy
        self.acknowledgedAt = acknowledgedAt
        self.lastChange = lastChange
        self.lastChangeKind = lastChangeKind
    }

    /// Whether it has not cleared.
    public var isActive: Bool { clearedAt == nil }

    /// The record as JSON (the API's alert object).
    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "id": .number(Double(id)), "tenant": .string(tenant.name), "rule": .string(rule), "entity": .string(entity.rawValue),
            "entityType": .string(entity.type), "stage": .number(Double(stage)), "active": .bool(isActive),
            "raisedAt": .string(raisedAt.iso8601), "updatedAt": .string(updatedAt.iso8601), "lastEvent": .number(Double(lastChange)),
            "lastEventKind": .string(lastChangeKind.rawValue),
        ]
        if let stageName { members["stageName"] = .string(stageName) }
        if let severity { members["severity"] = .string(severity.rawValue) }
        if let value { members["value"] = .number(value) }
        if let level { members["level"] = .number(level) }
        if let clearedAt { members["clearedAt"] = .string(clearedAt.iso8601) }
        if let location { members["location"] = AlertEventRecord.point(location) }
        if let acknowledgedBy { members["acknowledgedBy"] = .string(acknowledgedBy) }
        if let acknowledgedAt { members["acknowledgedAt"] = .string(acknowledgedAt.iso8601) }
        if let lastReadingAt { members["lastReadingAt"] = .string(lastReadingAt.iso8601) }
        if stale { members["stale"] = .bool(true) }
        return .object(members)
    }
}

/// An alert event with its place in the tenant's feed.
public struct AlertEventRecord: Sendable, Hashable {
    /// Strictly increasing per tenant, from 1, without gaps: the SSE event id.
    public var id: Int64
    /// The alert it belongs to (the id of its raising event).
    public var alert: Int64
    /// What happened.
    public var event: AlertEvent
    /// Who acknowledged (acknowledgements only).
    public var actor: String?

    /// Creates a record.
    public init(id: Int64, alert: Int64, event: AlertEvent, actor: String? = nil) {
        self.id = id
        self.alert = alert
        self.event = event
        self.actor = actor
    }

    /// The event as JSON: the SSE data, the WebSocket message and the MQTT payload.
    public var json: JSONValue {
        var members = event.jsonMembers
        members["id"] = .number(Double(id))
        members["alert"] = .number(Double(alert))
        if let actor { members["by"] = .string(actor) }
        return .object(members)
    }

    /// A GeoJSON point.
    static func point(_ location: GeoPoint) -> JSONValue {
        .object(["type": "Point", "coordinates": .array([.number(location.longitude), .number(location.latitude)])])
    }
}

extension AlertEvent {
    /// The event's members as JSON (without feed ids).
    public var jsonMembers: [String: JSONValue] {
        var members: [String: JSONValue] = [
            "tenant": .string(tenant.name), "kind": .string(kind.rawValue), "rule": .string(rule), "entity": .string(entity.rawValue),
            "entityType": .string(entity.type), "stage": .number(Double(stage)), "at": .string(at.iso8601),
        ]
        if let stageName { members["stageName"] = .string(stageName) }
        if let severity { members["severity"] = .string(severity.rawValue) }
        if let value { members["value"] = .number(value) }
        if let level { members["level"] = .number(level) }
        if let location { members["location"] = AlertEventRecord.point(location) }
        if late { members["late"] = .bool(true) }
        if let lastReadingAt { members["lastReadingAt"] = .string(lastReadingAt.iso8601) }
        if stageName == "stale", kind != .cleared { members["stale"] = .bool(true) }
        return members
    }
}

extension AlertRecord {
    /// An event of this alert as it stands: its latest change (the default), or one of `kind`
    /// at `at` (an acknowledgement).
    public func event(_ kind: AlertEvent.Kind? = nil, at: Timestamp? = nil) -> AlertEvent {
        AlertEvent(
            kind: kind ?? lastChangeKind,
            rule: rule,
            entity: entity,
            stage: stage,
            stageName: stageName,
            severity: severity,
            value: value,
            level: level,
            at: at ?? updatedAt,
            location: location
        )
    }
}
