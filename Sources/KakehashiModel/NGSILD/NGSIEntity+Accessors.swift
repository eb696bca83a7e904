/// Typed reads of attributes, for the Smart Data Model mappings. Each throws a ``ModelError``
/// naming the attribute when it is missing (and required) or of the wrong kind.
extension NGSIEntity {
    func property(_ name: String) throws(ModelError) -> NGSIProperty? {
        switch attributes[name] {
        case nil: return nil
        case .property(let property)?: return property
        case .relationship?: throw ModelError(field: name, .wrongType(expected: "a Property, not a Relationship"))
        case .geoProperty?: throw ModelError(field: name, .wrongType(expected: "a Property, not a GeoProperty"))
        case .languageProperty?: throw ModelError(field: name, .wrongType(expected: "a Property, not a LanguageProperty"))
        }
    }

    /// A numeric attribute as a quantity in `canonical`; a given `unitCode` must measure the same
    /// dimension and is converted; no `unitCode` means the value is already in `canonical`.
    func quantity(_ name: String, in canonical: MeasurementUnit) throws(ModelError) -> (quantity: Quantity, observedAt: Timestamp?)? {
        guard let property = try property(name) else { return nil }
        guard case .number(let number) = property.value else { throw ModelError(field: name, .wrongType(expected: "a number")) }
        let unit = property.unitCode ?? canonical
        guard unit.dimension == canonical.dimension else {
            throw ModelError(field: name + ".unitCode", .wrongDimension(unit: unit.code, expected: canonical.dimension.rawValue))
        }
        let quantity = try Quantity(number, unit, field: name).converted(to: canonical, field: name + ".unitCode")
        return (quantity, property.observedAt)
    }

    func requiredQuantity(_ name: String, in canonical: MeasurementUnit) throws(ModelError) -> (quantity: Quantity, observedAt: Timestamp?) {
        guard let found = try quantity(name, in: canonical) else { throw ModelError(field: name, .missing) }
        return found
    }

    func number(_ name: String) throws(ModelError) -> Double? {
        guard let property = try property(name) else { return nil }
        guard case .number(let number) = property.value else { throw ModelError(field: name, .wrongType(expected: "a number")) }
        return number
    }

    func text(_ name: String) throws(ModelError) -> String? {
        guard let property = try property(name) else { return nil }
        guard case .text(let text) = property.value else { throw ModelError(field: name, .wrongType(expected: "a string")) }
        return text
    }

    func requiredText(_ name: String) throws(ModelError) -> String {
        guard let text = try text(name) else { throw ModelError(field: name, .missing) }
        return text
    }

    func boolean(_ name: String) throws(ModelError) -> Bool? {
        guard let property = try property(name) else { return nil }
        guard case .boolean(let flag) = property.value else { throw ModelError(field: name, .wrongType(expected: "a boolean")) }
        return flag
    }

    func list(_ name: String) throws(ModelError) -> [String]? {
        guard let property = try property(name) else { return nil }
        switch property.value {
        case .list(let texts): return texts
        case .text(let text): return [text]
        default: throw ModelError(field: name, .wrongType(expected: "an array of strings"))
        }
    }

    /// A date-time attribute, written as a DateTime value (normalized) or as text (keyValues).
    func timestamp(_ name: String) throws(ModelError) -> Timestamp? {
        guard let property = try property(name) else { return nil }
        switch property.value {
        case .dateTime(let timestamp): return timestamp
        case .text(let text): return try Timestamp(iso8601: text, field: name)
        default: throw ModelError(field: name, .wrongType(expected: "a date-time"))
        }
    }

    func requiredTimestamp(_ name: String) throws(ModelError) -> Timestamp {
        guard let timestamp = try timestamp(name) else { throw ModelError(field: name, .missing) }
        return timestamp
    }

    /// A reference to another entity: a Relationship (normalized) or a text (keyValues).
    func reference(_ name: String) throws(ModelError) -> String? {
        switch attributes[name] {
        case nil: return nil
        case .relationship(let object, _)?: return object
        case .property(let property)?:
            guard case .text(let text) = property.value else { throw ModelError(field: name, .wrongType(expected: "an entity id")) }
            return try Self.checkReference(text, field: name)
        case .geoProperty?: throw ModelError(field: name, .wrongType(expected: "a Relationship, not a GeoProperty"))
        case .languageProperty?: throw ModelError(field: name, .wrongType(expected: "a Relationship, not a LanguageProperty"))
        }
    }

    /// The GeoJSON Point of the GeoProperty `name` (default `location`), if the entity has one.
    public func location(_ name: String = "location") throws(ModelError) -> GeoPoint? {
        switch attributes[name] {
        case nil: return nil
        case .geoProperty(let point, _)?: return point
        default: throw ModelError(field: name, .wrongType(expected: "a GeoProperty (GeoJSON Point)"))
        }
    }

    func requiredLocation(_ name: String = "location") throws(ModelError) -> GeoPoint {
        guard let point = try location(name) else { throw ModelError(field: name, .missing) }
        return point
    }

    /// Throws unless the entity's type is `expected`.
    func checkType(_ expected: String) throws(ModelError) {
        guard type == expected else {
            throw ModelError(field: "type", .invalid("expected a \(expected) entity, got \(type)"))
        }
    }
}

/// Builds the attributes of a typed entity, skipping absent optionals.
struct AttributeBuilder {
    var attributes: [String: NGSIAttribute] = [:]

    mutating func quantity(_ name: String, _ quantity: Quantity?, observedAt: Timestamp?) {
        guard let quantity else { return }
        attributes[name] = .property(NGSIProperty(quantity, observedAt: observedAt))
    }

    mutating func value(_ name: String, _ value: PropertyValue?, unit: MeasurementUnit? = nil, observedAt: Timestamp? = nil) {
        guard let value else { return }
        attributes[name] = .property(NGSIProperty(value, unitCode: unit, observedAt: observedAt))
    }

    mutating func text(_ name: String, _ text: String?) {
        guard let text else { return }
        attributes[name] = .property(NGSIProperty(.text(text)))
    }

    mutating func dateTime(_ name: String, _ timestamp: Timestamp?) {
        guard let timestamp else { return }
        attributes[name] = .property(NGSIProperty(.dateTime(timestamp)))
    }

    mutating func relationship(_ name: String, _ object: String?) {
        guard let object else { return }
        attributes[name] = .relationship(object: object, observedAt: nil)
    }

    mutating func location(_ point: GeoPoint?) {
        guard let point else { return }
        attributes["location"] = .geoProperty(point, observedAt: nil)
    }
}
