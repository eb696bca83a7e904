/// The value of an NGSI-LD Property.
public enum PropertyValue: Sendable, Hashable {
    /// A number (integers included), always finite.
    case number(Double)
    /// A text, at most ``ModelLimits/maxTextLength`` characters.
    case text(String)
    /// A boolean.
    case boolean(Bool)
    /// A date-time, written `{"@type": "DateTime", "@value": "…"}` in normalized form.
    case dateTime(Timestamp)
    /// A list of texts (`deviceCategory`, `controlledProperty`).
    case list([String])
    /// Any other JSON structure (an `address` object).
    case structured(JSONValue)
}

extension PropertyValue {
    /// The value as plain JSON (a date-time as its text), as temporal values and keyValues show it.
    public var plainJSON: JSONValue {
        switch self {
        case .number(let n): .number(n)
        case .text(let t): .string(t)
        case .boolean(let b): .bool(b)
        case .dateTime(let t): .string(t.iso8601)
        case .list(let items): .array(items.map { .string($0) })
        case .structured(let json): json
        }
    }
}

/// An NGSI-LD Property: a value with its unit and the time it was observed.
public struct NGSIProperty: Sendable, Hashable {
    /// The value.
    public var value: PropertyValue
    /// The UN/CEFACT unit of a numeric value.
    public var unitCode: MeasurementUnit?
    /// When the value was measured (the sensor's time). Static attributes (a name, a threshold)
    /// have none; measured ones always do.
    public var observedAt: Timestamp?

    /// Creates a property.
    public init(_ value: PropertyValue, unitCode: MeasurementUnit? = nil, observedAt: Timestamp? = nil) {
        self.value = value
        self.unitCode = unitCode
        self.observedAt = observedAt
    }

    /// A measured quantity: its number, unit and observation time.
    public init(_ quantity: Quantity, observedAt: Timestamp?) {
        self.init(.number(quantity.value), unitCode: quantity.unit, observedAt: observedAt)
    }
}

/// One attribute of an NGSI-LD entity.
public enum NGSIAttribute: Sendable, Hashable {
    /// A Property.
    case property(NGSIProperty)
    /// A Relationship to another entity, by its id.
    case relationship(object: String, observedAt: Timestamp?)
    /// A GeoProperty holding a GeoJSON Point.
    case geoProperty(GeoPoint, observedAt: Timestamp?)
    /// A LanguageProperty: one text per language tag (`{"ja": "瀬ノ下", "en": "Senoshita"}`).
    case languageProperty([String: String], observedAt: Timestamp?)

    /// The observation time, when the attribute has one.
    public var observedAt: Timestamp? {
        switch self {
        case .property(let property): property.observedAt
        case .relationship(_, let observedAt), .geoProperty(_, let observedAt), .languageProperty(_, let observedAt): observedAt
        }
    }
}
