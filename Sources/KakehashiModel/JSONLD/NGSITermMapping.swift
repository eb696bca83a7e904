/// Renames the short names of NGSI-LD JSON from one context to another: an entity's attribute
/// names (its sub-attributes too) and its type(s). Values are left alone, and so are the members
/// NGSI-LD itself defines (`id`, `type`, `value`, `observedAt`, …).
public struct NGSITermMapping: Sendable {
    /// How a name is read in the client's context and written in the stored one (or back).
    public let name: @Sendable (String) -> String

    public init(name: @escaping @Sendable (String) -> String) { self.name = name }

    /// From `client` to the hub's stored names (the core context's compaction).
    public static func storing(from client: JSONLDContext) -> NGSITermMapping {
        NGSITermMapping { name in
            let iri = client.expand(name)
            return iri.hasPrefix("@") ? name : JSONLDContext.core.compact(iri)
        }
    }

    /// From the hub's stored names to `client`'s.
    public static func showing(to client: JSONLDContext) -> NGSITermMapping {
        NGSITermMapping { name in
            let iri = JSONLDContext.core.expand(name)
            return iri.hasPrefix("@") ? name : client.compact(iri)
        }
    }

    /// Entity members that are not attributes.
    public static let entityMembers: Set<String> = ["id", "type", "@context", "scope", "createdAt", "modifiedAt", "deletedAt", "@id", "@type"]
    /// Attribute members that are not sub-attributes.
    public static let attributeMembers: Set<String> = [
        "type", "value", "object", "objectList", "valueList", "languageMap", "vocab", "json", "unitCode", "observedAt", "datasetId",
        "createdAt", "modifiedAt", "deletedAt", "instanceId", "lang", "previousValue", "previousObject", "previousLanguageMap", "@type",
        // Temporal representations (temporalValues, aggregatedValues).
        "values", "avg", "min", "max", "sum", "sumsq", "stddev", "totalCount", "distinctCount",
    ]

    /// An entity (normalized, concise or, with `keyValues`, simplified) with its type(s) and
    /// attribute names mapped; a temporal entity's instance arrays too.
    public func entity(_ json: JSONValue, keyValues: Bool = false) -> JSONValue {
        guard case .object(let members) = json else { return json }
        var out = [String: JSONValue](minimumCapacity: members.count)
        for (key, value) in members {
            if key == "type" {
                out[key] = types(value)
            } else if Self.entityMembers.contains(key) {
                out[key] = value
            } else {
                out[name(key)] = keyValues ? value : attribute(value)
            }
        }
        return .object(out)
    }

    /// A list of entities, or one.
    public func entities(_ json: JSONValue, keyValues: Bool = false) -> JSONValue {
        if case .array(let items) = json { return .array(items.map { entity($0, keyValues: keyValues) }) }
        return entity(json, keyValues: keyValues)
    }

    /// A type name, or a list of them.
    public func types(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let type): .string(name(type))
        case .array(let items): .array(items.map { types($0) })
        default: value
        }
    }

    /// An attribute (or a list of its instances) with its sub-attributes' names mapped. An object
    /// that is not an attribute (a concise value) is left alone.
    public func attribute(_ value: JSONValue) -> JSONValue {
        switch value {
        case .array(let items): return .array(items.map { attribute($0) })
        case .object(let members):
            guard members["type"] != nil || members["value"] != nil || members["object"] != nil || members["languageMap"] != nil
            else { return value }
            var out = [String: JSONValue](minimumCapacity: members.count)
            for (key, inner) in members {
                if Self.attributeMembers.contains(key) { out[key] = inner } else { out[name(key)] = attribute(inner) }
            }
            return .object(out)
        default: return value
        }
    }

    /// A comma-separated list of names (`attrs`, `pick`, `type`), each mapped; `|`, `;`, `(`
    /// and `)` of a type expression are kept.
    public func list(_ text: String) -> String {
        var out = ""
        var word = ""
        for character in text {
            if ",|;()".contains(character) {
                out += word.isEmpty ? "" : name(word)
                out.append(character)
                word = ""
            } else {
                word.append(character)
            }
        }
        return out + (word.isEmpty ? "" : name(word))
    }
}
