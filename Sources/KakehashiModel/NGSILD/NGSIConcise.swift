/// The NGSI-LD concise representation (ETSI GS CIM 009, 4.5.x): normalized without the `type`
/// members the rest implies. A Property whose only member is a value that is not an object is
/// that bare value; otherwise `value` says Property (GeoProperty when it is a GeoJSON geometry),
/// `object` says Relationship, `languageMap` LanguageProperty.
///
/// ```swift
/// NGSIConcise.compact(["type": "Property", "value": 1.5])               // 1.5
/// NGSIConcise.compact(["type": "Property", "value": 1.5, "unitCode": "MTR"]) // {"value": 1.5, "unitCode": "MTR"}
/// NGSIConcise.expand(1.5)                                              // {"type": "Property", "value": 1.5}
/// ```
public enum NGSIConcise {
    /// The GeoJSON geometry types a GeoProperty value has.
    static let geometries: Set<String> = ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"]

    /// One attribute's normalized JSON in the concise representation.
    public static func compact(_ attribute: JSONValue) -> JSONValue {
        guard case .object(var members) = attribute, let kind = members["type"]?.stringValue else { return attribute }
        switch kind {
        case "Property":
            members["type"] = nil
            if members.count == 1, let value = members["value"], value.objectValue == nil { return value }
        case "Relationship", "GeoProperty", "LanguageProperty":
            members["type"] = nil
        default:
            return attribute
        }
        return .object(members)
    }

    /// Whether `value` is an attribute instance of a multi-attribute: an object with `type`,
    /// `value`, `object`, `languageMap` or `datasetId`.
    static func isInstance(_ value: JSONValue) -> Bool {
        guard case .object(let members) = value else { return false }
        return ["type", "value", "object", "languageMap", "datasetId"].contains { members[$0] != nil }
    }

    /// An entity's normalized JSON in the concise representation (`id`, `type`, `@context` as they are).
    public static func compactEntity(_ entity: JSONValue) -> JSONValue {
        guard case .object(var members) = entity else { return entity }
        for (name, value) in members where !NGSIEntity.reservedNames.contains(name) {
            if case .array(let instances) = value {
                // An instance stays an object (a bare value in the array would read as a list).
                members[name] = .array(
                    instances.map { instance in
                        let compacted = compact(instance)
                        return compacted.objectValue == nil ? .object(["value": compacted]) : compacted
                    }
                )
            } else {
                members[name] = compact(value)
            }
        }
        return .object(members)
    }

    /// One attribute given in the concise (or normalized) representation, as normalized JSON: a
    /// member with a `type` is left as it is; `object` makes a Relationship, `languageMap` a
    /// LanguageProperty, a GeoJSON geometry `value` a GeoProperty, any other `value` a Property;
    /// a bare value (not an object) is a Property's value.
    public static func expand(_ attribute: JSONValue) -> JSONValue {
        // A multi-attribute: an array of its instances (each an attribute object).
        if case .array(let instances) = attribute, !instances.isEmpty, instances.allSatisfy(isInstance) {
            return .array(instances.map(expand))
        }
        guard case .object(var members) = attribute else { return ["type": "Property", "value": attribute] }
        if members["type"] != nil { return attribute }
        if members["object"] != nil {
            members["type"] = "Relationship"
        } else if members["languageMap"] != nil {
            members["type"] = "LanguageProperty"
        } else if let value = members["value"] {
            let geometry = value["type"]?.stringValue.map(geometries.contains) == true && value["coordinates"] != nil
            members["type"] = geometry ? "GeoProperty" : "Property"
        } else {
            return ["type": "Property", "value": attribute]
        }
        return .object(members)
    }

    /// An entity or fragment given in the concise (or normalized) representation, as normalized JSON.
    public static func expandEntity(_ entity: JSONValue) -> JSONValue {
        guard case .object(var members) = entity else { return entity }
        for (name, value) in members where !NGSIEntity.reservedNames.contains(name) { members[name] = expand(value) }
        return .object(members)
    }
}
