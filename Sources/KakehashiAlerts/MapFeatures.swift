import KakehashiModel

/// The live map as a GeoJSON FeatureCollection (RFC 7946): one Point feature per located
/// entity with its latest values and its most severe active alert.
///
/// Properties: `type`, `name` (when the entity has one), each property attribute's latest value
/// (numbers, text, booleans), `observedAt` (the newest of them), and `alert` (the most severe
/// active alert: id, rule, stage, stageName, severity, acknowledged) or null.
public enum MapFeatures {
    /// The collection of `entities` (those without a location are left out), with `alerts`
    /// (active ones) attached to their entities.
    public static func collection(entities: [NGSIEntity], alerts: [AlertRecord]) -> JSONValue {
        var worst = [EntityID: AlertRecord]()
        for alert in alerts where alert.isActive {
            if let known = worst[alert.entity], rank(known) >= rank(alert) { continue }
            worst[alert.entity] = alert
        }
        var features = [JSONValue]()
        features.reserveCapacity(entities.count)
        for entity in entities {
            guard case .geoProperty(let point, _)? = entity.attributes["location"] else { continue }
            var properties: [String: JSONValue] = ["type": .string(entity.type)]
            var newest: Timestamp?
            for (name, attribute) in entity.attributes {
                guard case .property(let property) = attribute else { continue }
                switch property.value {
                case .number(let number): properties[name] = .number(number)
                case .text(let text): properties[name] = .string(text)
                case .boolean(let flag): properties[name] = .bool(flag)
                default: continue
                }
                if let at = property.observedAt { newest = max(newest ?? at, at) }
            }
            if let newest { properties["observedAt"] = .string(newest.iso8601) }
            if let alert = worst[entity.id] {
                var summary: [String: JSONValue] = [
                    "id": .number(Double(alert.id)), "rule": .string(alert.rule), "stage": .number(Double(alert.stage)),
                    "acknowledged": .bool(alert.acknowledgedAt != nil),
                ]
                if let name = alert.stageName { summary["stageName"] = .string(name) }
                if let severity = alert.severity { summary["severity"] = .string(severity.rawValue) }
                if alert.stale { summary["stale"] = .bool(true) }
                properties["alert"] = .object(summary)
            } else {
                properties["alert"] = .null
            }
            features.append(
                .object([
                    "type": "Feature", "id": .string(entity.id.rawValue),
                    "geometry": AlertEventRecord.point(point), "properties": .object(properties),
                ])
            )
        }
        return .object(["type": "FeatureCollection", "features": .array(features)])
    }

    private static func rank(_ alert: AlertRecord) -> (Int, Int) {
        (Alert.Severity.allCases.firstIndex(of: alert.severity ?? .informational) ?? 0, alert.stage)
    }
}
