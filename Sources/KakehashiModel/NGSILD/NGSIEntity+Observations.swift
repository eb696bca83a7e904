extension NGSIEntity {
    /// The entity's measured values as observations: every Property with an `observedAt` and a
    /// scalar value. Static attributes (names, thresholds, addresses) have no `observedAt` and are
    /// metadata, not observations.
    public func observations(receivedAt: Timestamp? = nil, provenance: Provenance? = nil) -> [Observation] {
        let location = try? self.location()
        var result = [Observation]()
        result.reserveCapacity(attributes.count)
        for (name, attribute) in attributes {
            guard case .property(let property) = attribute, let observedAt = property.observedAt else { continue }
            let value: Observation.Value
            switch property.value {
            case .number(let number):
                if let unit = property.unitCode, let quantity = try? Quantity(number, unit) {
                    value = .quantity(quantity)
                } else {
                    value = .number(number)
                }
            case .text(let text): value = .text(text)
            case .boolean(let flag): value = .boolean(flag)
            case .dateTime, .list, .structured: continue
            }
            // Names and values were validated when the entity was built; this cannot fail.
            if let observation = try? Observation(
                entityID: id, attribute: name, value: value, observedAt: observedAt, receivedAt: receivedAt,
                location: location, provenance: provenance) {
                result.append(observation)
            }
        }
        result.sort { $0.attribute < $1.attribute }
        return result
    }
}
