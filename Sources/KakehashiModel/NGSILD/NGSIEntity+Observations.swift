/// A measured scalar value: what one observation holds.
public enum ObservedScalar: Sendable, Hashable {
    case number(Double)
    case text(String)
    case boolean(Bool)
}

extension NGSIEntity {
    /// The rule that makes an attribute an observation: a Property with an `observedAt` and a
    /// scalar value (number, text or boolean). Static attributes (names, thresholds, addresses)
    /// have no `observedAt` and are metadata, not observations. Nil when `attribute` is not one.
    public static func observedValue(_ attribute: NGSIAttribute) -> (observedAt: Timestamp, value: ObservedScalar, unit: MeasurementUnit?)? {
        guard case .property(let property) = attribute, let observedAt = property.observedAt else { return nil }
        switch property.value {
        case .number(let number): return (observedAt, .number(number), property.unitCode)
        case .text(let text): return (observedAt, .text(text), property.unitCode)
        case .boolean(let flag): return (observedAt, .boolean(flag), property.unitCode)
        case .dateTime, .list, .structured: return nil
        }
    }

    /// The entity's measured values as observations (``observedValue(_:)``), by attribute name.
    public func observations(receivedAt: Timestamp? = nil, provenance: Provenance? = nil) -> [Observation] {
        let location = try? self.location()
        var result = [Observation]()
        result.reserveCapacity(attributes.count)
        for (name, attribute) in attributes {
            guard let observed = Self.observedValue(attribute) else { continue }
            let value: Observation.Value
            switch observed.value {
            case .number(let number):
                if let unit = observed.unit, let quantity = try? Quantity(number, unit) {
                    value = .quantity(quantity)
                } else {
                    value = .number(number)
                }
            case .text(let text): value = .text(text)
            case .boolean(let flag): value = .boolean(flag)
            }
            // Names and values were validated when the entity was built; this cannot fail.
            if let observation = try? Observation(
                entityID: id,
                attribute: name,
                value: value,
                observedAt: observed.observedAt,
                receivedAt: receivedAt,
                location: location,
                provenance: provenance
            ) {
                result.append(observation)
            }
        }
        result.sort { $0.attribute < $1.attribute }
        return result
    }
}
