import KakehashiModel

/// One alert rule of a tenant: which entities and attribute it watches, and what raises it.
///
/// ```swift
/// let flood = AlertRule(id: "river-stage", tenant: kurume, entityType: "WaterObserved", attribute: "waterLevel",
///                       kind: .threshold(.init(direction: .above, stages: [
///                           .init(name: "warning", level: .attribute("alertLevel"), severity: .high),
///                           .init(name: "flood", level: .attribute("dangerLevel"), severity: .critical),
///                       ], hysteresis: 0.1, raiseAfter: 0, clearAfter: 30 * 60_000)))
/// ```
public struct AlertRule: Sendable, Hashable {
    /// The rule's name, unique within its tenant (`river-stage`).
    public var id: String
    /// The tenant whose entities it watches.
    public var tenant: Tenant
    /// The entity type it watches.
    public var entityType: String
    /// The attribute it reads (ignored by `.stale`, which watches any reading of the entity).
    public var attribute: String
    /// Only these entities, when set.
    public var entityIDs: Set<EntityID>?
    /// Only entities located in this box, when set (entities without a location never match).
    public var area: GeoBox?
    /// What raises it.
    public var kind: Kind
    /// Words for people: the event name and texts in Japanese and English.
    public var text: Text
    /// How its alerts are published as CAP messages.
    public var publishing: Publishing

    /// What raises an alert.
    public enum Kind: Sendable, Hashable {
        /// The value against one or more ordered levels.
        case threshold(Threshold)
        /// The change of the value over a window.
        case rateOfChange(RateOfChange)
        /// No reading of the entity for `after` milliseconds (evaluated on the clock).
        case stale(after: Int64, severity: Alert.Severity)
        /// A presence attribute (boolean, or text `present`/`absent`) says the tag is absent;
        /// it clears when the tag is back. `after` is how long it must stay absent first.
        case absence(after: Int64, severity: Alert.Severity)
    }

    /// Texts for alert messages.
    public struct Text: Sendable, Hashable {
        /// The event name, English (`River flood stage`).
        public var event: String
        /// The event name, Japanese (`河川水位`).
        public var eventJapanese: String

        /// Creates texts.
        public init(event: String, eventJapanese: String) {
            self.event = event
            self.eventJapanese = eventJapanese
        }
    }

    /// How alerts of a rule are published (CAP 1.2 fields the rule decides).
    public struct Publishing: Sendable, Hashable {
        /// CAP `category` (`Met` for river levels and rain, `Env`, `Safety`, …).
        public var category: CAPMessage.Category
        /// Radius (km) of the CAP `circle` around the entity.
        public var radiusKilometres: Double
        /// The unit written after values in texts (`m`, `人`), or empty.
        public var unit: String

        /// Creates settings.
        public init(category: CAPMessage.Category = .met, radiusKilometres: Double = 1, unit: String = "") {
            self.category = category
            self.radiusKilometres = radiusKilometres
            self.unit = unit
        }
    }

    /// Creates a rule.
    public init(
        id: String,
        tenant: Tenant,
        entityType: String,
        attribute: String,
        entityIDs: Set<EntityID>? = nil,
        area: GeoBox? = nil,
        kind: Kind,
        text: Text? = nil,
        publishing: Publishing = Publishing()
    ) {
        self.id = id
        self.tenant = tenant
        self.entityType = entityType
        self.attribute = attribute
        self.entityIDs = entityIDs
        self.area = area
        self.kind = kind
        self.text = text ?? Text(event: id, eventJapanese: id)
        self.publishing = publishing
    }

    /// Whether the rule watches `id` (located at `location`, if known).
    public func watches(_ id: EntityID, location: GeoPoint?) -> Bool {
        guard id.tenant == tenant, id.type == entityType else { return false }
        if let entityIDs, !entityIDs.contains(id) { return false }
        if let area {
            guard let location, area.contains(location) else { return false }
        }
        return true
    }
}

/// A latitude/longitude box.
public struct GeoBox: Sendable, Hashable {
    /// South-west corner.
    public var south: Double, west: Double
    /// North-east corner.
    public var north: Double, east: Double

    /// Creates a box; corners are taken as given (south ≤ north, west ≤ east).
    public init(south: Double, west: Double, north: Double, east: Double) {
        self.south = south
        self.west = west
        self.north = north
        self.east = east
    }

    /// Whether `point` lies inside, borders included.
    public func contains(_ point: GeoPoint) -> Bool {
        point.latitude >= south && point.latitude <= north && point.longitude >= west && point.longitude <= east
    }
}

/// Ordered levels: the value against each, with hysteresis and minimum durations.
public struct Threshold: Sendable, Hashable {
    /// Which side of a level raises.
    public enum Direction: String, Sendable, Hashable {
        /// value ≥ level.
        case above
        /// value ≤ level.
        case below
    }

    /// One stage: its name, level and severity. Stages are listed least severe first.
    public struct Stage: Sendable, Hashable {
        /// The stage name (`flood`, `氾濫危険`).
        public var name: String
        /// Where its level comes from.
        public var level: Level
        /// The severity while in it.
        public var severity: Alert.Severity

        /// Creates a stage.
        public init(name: String, level: Level, severity: Alert.Severity) {
            self.name = name
            self.level = level
            self.severity = severity
        }
    }

    /// A level: fixed, or read from the entity's own attribute (each gauge has its own).
    public enum Level: Sendable, Hashable {
        /// A fixed value.
        case constant(Double)
        /// The latest value of this attribute of the same entity; a stage whose attribute the
        /// entity lacks does not apply to it.
        case attribute(String)
    }

    /// Which side raises.
    public var direction: Direction
    /// The stages, least severe first.
    public var stages: [Stage]
    /// How far back past a level the value must go before that stage is left (same unit as the value).
    public var hysteresis: Double
    /// How long (ms) a stage's condition must hold before the alert enters it.
    public var raiseAfter: Int64
    /// How long (ms) the value must stay past a stage's clear level before the alert leaves it.
    public var clearAfter: Int64

    /// Creates a threshold.
    public init(direction: Direction, stages: [Stage], hysteresis: Double = 0, raiseAfter: Int64 = 0, clearAfter: Int64 = 0) {
        self.direction = direction
        self.stages = stages
        self.hysteresis = max(0, hysteresis)
        self.raiseAfter = max(0, raiseAfter)
        self.clearAfter = max(0, clearAfter)
    }
}

/// A rise (or fall) of more than `change` within `window` milliseconds.
public struct RateOfChange: Sendable, Hashable {
    /// The window, ms.
    public var window: Int64
    /// The change that raises: positive for a rise, negative for a fall.
    public var change: Double
    /// The severity.
    public var severity: Alert.Severity
    /// How long (ms) the change must stay under the limit before the alert clears.
    public var clearAfter: Int64

    /// Creates the rule.
    public init(window: Int64, change: Double, severity: Alert.Severity, clearAfter: Int64 = 0) {
        self.window = max(1, window)
        self.change = change
        self.severity = severity
        self.clearAfter = max(0, clearAfter)
    }
}
