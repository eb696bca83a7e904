import KakehashiModel

/// A change in the life of an alert: one per (rule, entity) at a time.
public struct AlertEvent: Sendable, Hashable {
    /// What happened.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The alert starts (stage above none).
        case raised
        /// It moved to a more severe stage.
        case escalated
        /// It moved to a less severe stage, still active.
        case deescalated
        /// It ended.
        case cleared
        /// An operator acknowledged it (the hub adds these; the engine never does).
        case acknowledged
    }

    /// What happened.
    public var kind: Kind
    /// The rule.
    public var rule: String
    /// The entity.
    public var entity: EntityID
    /// The stage now (1-based; 0 once cleared).
    public var stage: Int
    /// Its name (`flood`), nil once cleared.
    public var stageName: String?
    /// The severity now; nil once cleared.
    public var severity: Alert.Severity?
    /// The value that decided it (the level, the change over the window); nil for staleness and absence.
    public var value: Double?
    /// The level of the stage entered or left, when it has one.
    public var level: Double?
    /// When (the observation's time, or the clock's for decisions taken on the clock).
    public var at: Timestamp
    /// The entity's location, when known.
    public var location: GeoPoint?
    /// Decided on a reading that arrived after later readings of the entity (dated by sensor
    /// time, earlier than events already given for the entity).
    public var late = false
    /// The entity's newest reading when the event was decided (a silent sensor's last reading).
    public var lastReadingAt: Timestamp?

    /// Creates an event.
    public init(
        kind: Kind,
        rule: String,
        entity: EntityID,
        stage: Int,
        stageName: String?,
        severity: Alert.Severity?,
        value: Double?,
        level: Double?,
        at: Timestamp,
        location: GeoPoint?
    ) {
        self.kind = kind
        self.rule = rule
        self.entity = entity
        self.stage = stage
        self.stageName = stageName
        self.severity = severity
        self.value = value
        self.level = level
        self.at = at
        self.location = location
    }

    /// The tenant.
    public var tenant: Tenant { entity.tenant }
}
