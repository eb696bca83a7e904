extension NGSIEntity {
    /// The entity as NGSI-LD JSON in `form`; `@context` is written when ``context`` is not empty.
    public func json(_ form: NGSIForm) -> JSONValue {
        var members = [String: JSONValue](minimumCapacity: attributes.count + 3)
        members["id"] = .string(id.rawValue)
        members["type"] = .string(id.type)
        if !context.isEmpty { members["@context"] = .array(context.map(JSONValue.string)) }
        var multi = false
        for (name, attribute) in attributes {
            if name.contains(Self.datasetSeparator) { multi = true }
            members[name] = form == .normalized ? Self.normalized(attribute) : Self.keyValue(attribute)
        }
        if multi {
            // In keyValues each instance is its value; an object value keeps no datasetId.
            Self.gatheringInstances(&members, attributes: attributes, markingDatasets: form == .normalized) {
                form == .normalized ? Self.normalized($0) : Self.keyValue($0)
            }
        }
        return .object(members)
    }

    /// Compact UTF-8 JSON of ``json(_:)``.
    public func serialized(_ form: NGSIForm) -> [UInt8] { json(form).serialized() }

    /// The normalized JSON of one attribute: its member value in ``serialized(_:)``.
    public static func normalizedFragment(_ attribute: NGSIAttribute) -> [UInt8] { normalized(attribute).serialized() }

    /// The normalized form of an entity without `@context` put together from its attributes'
    /// ``normalizedFragment(_:)``s: the same bytes as ``serialized(_:)``, without serializing
    /// each attribute again (a store rewrites an entity's latest state on every reading).
    public static func assembleNormalized(id: EntityID, fragments: [String: [UInt8]]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(64 + id.rawValue.utf8.count + fragments.values.reduce(0) { $0 + $1.count + 24 })
        out.append(contentsOf: #"{"id":"#.utf8)
        JSONValue.writeString(id.rawValue, into: &out)
        out.append(contentsOf: #","type":"#.utf8)
        JSONValue.writeString(id.type, into: &out)
        for name in fragments.keys.sorted() where name != "id" && name != "type" {
            out.append(UInt8(ascii: ","))
            JSONValue.writeString(name, into: &out)
            out.append(UInt8(ascii: ":"))
            out.append(contentsOf: fragments[name]!)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    static func normalized(_ attribute: NGSIAttribute) -> JSONValue {
        var members = [String: JSONValue](minimumCapacity: 4)
        switch attribute {
        case .property(let property):
            members["type"] = "Property"
            members["value"] = normalizedValue(property.value)
            if let unit = property.unitCode { members["unitCode"] = .string(unit.code) }
            if let observedAt = property.observedAt { members["observedAt"] = .string(observedAt.iso8601) }
        case .relationship(let object, let observedAt):
            members["type"] = "Relationship"
            members["object"] = .string(object)
            if let observedAt { members["observedAt"] = .string(observedAt.iso8601) }
        case .geoProperty(let point, let observedAt):
            members["type"] = "GeoProperty"
            members["value"] = geoJSON(point)
            if let observedAt { members["observedAt"] = .string(observedAt.iso8601) }
        case .languageProperty(let map, let observedAt):
            members["type"] = "LanguageProperty"
            members["languageMap"] = .object(map.mapValues(JSONValue.string))
            if let observedAt { members["observedAt"] = .string(observedAt.iso8601) }
        }
        return .object(members)
    }

    static func keyValue(_ attribute: NGSIAttribute) -> JSONValue {
        switch attribute {
        case .property(let property):
            if case .dateTime(let timestamp) = property.value { return .string(timestamp.iso8601) }
            return normalizedValue(property.value)
        case .relationship(let object, _): return .string(object)
        case .geoProperty(let point, _): return geoJSON(point)
        case .languageProperty(let map, _): return .object(["languageMap": .object(map.mapValues(JSONValue.string))])
        }
    }

    static func normalizedValue(_ value: PropertyValue) -> JSONValue {
        switch value {
        case .number(let number): .number(number)
        case .text(let text): .string(text)
        case .boolean(let flag): .bool(flag)
        case .dateTime(let timestamp): .object(["@type": "DateTime", "@value": .string(timestamp.iso8601)])
        case .list(let texts): .array(texts.map(JSONValue.string))
        case .structured(let json): json
        }
    }

    static func geoJSON(_ point: GeoPoint) -> JSONValue {
        .object(["type": "Point", "coordinates": .array(point.geoJSONCoordinates.map(JSONValue.number))])
    }
}
