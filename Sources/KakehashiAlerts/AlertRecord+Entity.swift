import KakehashiModel

extension AlertRecord {
    /// The alert's NGSI-LD id in its tenant: `urn:ngsi-ld:Alert:<tenant>:<alert id>`.
    public var entityID: EntityID {
        // A tenant name and a number always make a valid id.
        try! EntityID(type: Alert.entityType, tenant: tenant, localID: String(id))
    }

    /// The alert as a Smart Data Models `Alert` entity, as the query API serves it: `category`
    /// from the rule's CAP category, `severity`, `dateIssued` and `validFrom` (when it was raised),
    /// `validTo` (once cleared), `alertSource` (the entity that raised it), `description`,
    /// `location`, `name` (the rule's event); and the hub's own `rule`, `stage`, `stageName`,
    /// `value`, `level`, `active`, `acknowledgedBy`.
    public func entity(rule: AlertRule?) -> NGSIEntity {
        let category: Alert.Category =
            switch rule?.publishing.category ?? .other {
            case .met: .weather
            case .geo: .naturalDisaster
            case .env: .environment
            case .health: .health
            case .transport: .traffic
            case .safety, .security, .rescue, .fire, .cbrne, .infra, .other: .security
            }
        let event = rule?.text.event ?? self.rule
        var description = event
        if let stageName { description += ": \(stageName)" }
        if let value { description += " (\(value))" }
        if !isActive { description += ", cleared" }
        // Texts the rule writes within the model's limits; the model checks them.
        let model =
            (try? Alert(
                id: entityID,
                category: category,
                severity: severity,
                dateIssued: raisedAt,
                validFrom: raisedAt,
                validTo: clearedAt,
                alertSource: entity.rawValue,
                description: String(description.prefix(1000)),
                location: location,
                name: String(event.prefix(200))
            ))
        var result = model?.ngsiEntity ?? (try! NGSIEntity(id: entityID))
        result.attributes["rule"] = .property(NGSIProperty(.text(self.rule)))
        result.attributes["stage"] = .property(NGSIProperty(.number(Double(stage))))
        if let stageName { result.attributes["stageName"] = .property(NGSIProperty(.text(stageName))) }
        if let value { result.attributes["value"] = .property(NGSIProperty(.number(value))) }
        if let level { result.attributes["level"] = .property(NGSIProperty(.number(level))) }
        result.attributes["active"] = .property(NGSIProperty(.boolean(isActive)))
        if let acknowledgedBy { result.attributes["acknowledgedBy"] = .property(NGSIProperty(.text(acknowledgedBy))) }
        return result
    }
}
