extension NGSIEntity {
    /// Decodes an entity from NGSI-LD JSON in `form`, owned by `tenant`.
    ///
    /// Everything is checked: the id (any absolute URI), the type, attribute names, attribute
    /// structure (normalized), unit codes, timestamps, coordinates, finite numbers and text
    /// lengths. The error names the field, e.g. `waterLevel.unitCode: unknown unit code "XYZ"`.
    /// Without `tenant`, the id must follow the gateway convention
    /// (`urn:ngsi-ld:<Type>:<tenant>:<local id>`), which names the tenant, and `type` must match it.
    public init(json: JSONValue, form: NGSIForm, tenant: Tenant? = nil) throws(ModelError) {
        guard case .object(let members) = json else {
            throw ModelError(field: "", .wrongType(expected: "a JSON object (an NGSI-LD entity), not \(json.typeName)"))
        }
        guard let idValue = members["id"] else { throw ModelError(field: "id", .missing) }
        guard case .string(let idText) = idValue else { throw ModelError(field: "id", .wrongType(expected: "a string")) }
        guard let typeValue = members["type"] else { throw ModelError(field: "type", .missing) }
        guard case .string(let type) = typeValue else { throw ModelError(field: "type", .wrongType(expected: "a string")) }
        let id: EntityID
        if let tenant {
            id = try EntityID(uri: idText, type: type, tenant: tenant)
        } else {
            id = try EntityID(idText)
            guard type == id.type else {
                throw ModelError(field: "type", .invalid("type \"\(type)\" does not match the id's type \"\(id.type)\""))
            }
        }
        var context = [String]()
        if let contextValue = members["@context"] { context = try Self.decodeContext(contextValue) }
        var attributes = [String: NGSIAttribute](minimumCapacity: members.count)
        for (name, value) in members where name != "id" && name != "type" && name != "@context" {
            try Self.checkAttributeName(name)
            switch form {
            case .normalized: try Self.decodeInstances(value, name: name, into: &attributes)
            case .keyValues: attributes[name] = try Self.decodeKeyValue(value, name: name)
            }
        }
        try self.init(id: id, attributes: attributes, context: context)
    }

    /// Decodes an entity from UTF-8 JSON bytes.
    public init(bytes: some Collection<UInt8>, form: NGSIForm, tenant: Tenant? = nil) throws(ModelError) {
        try self.init(json: JSONValue(parsing: bytes), form: form, tenant: tenant)
    }

    static func decodeContext(_ value: JSONValue) throws(ModelError) -> [String] {
        switch value {
        case .string(let url): return [try ModelLimits.checkLength(url, field: "@context")]
        case .array(let elements):
            var urls = [String]()
            for (i, element) in elements.enumerated() {
                guard case .string(let url) = element else {
                    throw ModelError(field: "@context[\(i)]", .wrongType(expected: "a context URL string"))
                }
                urls.append(try ModelLimits.checkLength(url, field: "@context[\(i)]"))
            }
            return urls
        default:
            throw ModelError(field: "@context", .wrongType(expected: "a URL or an array of URLs"))
        }
    }

    static func decodeNormalized(_ value: JSONValue, name: String) throws(ModelError) -> NGSIAttribute {
        guard case .object(let members) = value else {
            throw ModelError(field: name, .wrongType(expected: "an object with \"type\" (normalized NGSI-LD), not \(value.typeName)"))
        }
        guard let kindValue = members["type"] else { throw ModelError(field: name + ".type", .missing) }
        guard case .string(let kind) = kindValue else { throw ModelError(field: name + ".type", .wrongType(expected: "a string")) }
        var observedAt: Timestamp?
        if let observed = members["observedAt"] {
            guard case .string(let text) = observed else {
                throw ModelError(field: name + ".observedAt", .wrongType(expected: "a date-time string"))
            }
            observedAt = try Timestamp(iso8601: text, field: name + ".observedAt")
        }
        switch kind {
        case "Property":
            guard let raw = members["value"] else { throw ModelError(field: name + ".value", .missing) }
            var unit: MeasurementUnit?
            if let unitValue = members["unitCode"] {
                guard case .string(let code) = unitValue else {
                    throw ModelError(field: name + ".unitCode", .wrongType(expected: "a UN/CEFACT code string"))
                }
                unit = try MeasurementUnit(code: code, field: name + ".unitCode")
            }
            let decoded = try decodeValue(raw, field: name + ".value", normalized: true)
            if unit != nil {
                guard case .number = decoded else {
                    throw ModelError(field: name + ".unitCode", .invalid("a unitCode is only allowed on a numeric value"))
                }
            }
            return .property(NGSIProperty(decoded, unitCode: unit, observedAt: observedAt))
        case "Relationship":
            guard let object = members["object"] else { throw ModelError(field: name + ".object", .missing) }
            guard case .string(let target) = object else {
                throw ModelError(field: name + ".object", .wrongType(expected: "an entity id string"))
            }
            return .relationship(object: try checkReference(target, field: name + ".object"), observedAt: observedAt)
        case "GeoProperty":
            guard let geo = members["value"] else { throw ModelError(field: name + ".value", .missing) }
            return .geoProperty(try decodePoint(geo, field: name + ".value"), observedAt: observedAt)
        case "LanguageProperty":
            guard let map = members["languageMap"] else { throw ModelError(field: name + ".languageMap", .missing) }
            return .languageProperty(try decodeLanguageMap(map, field: name + ".languageMap"), observedAt: observedAt)
        default:
            throw ModelError(
                field: name + ".type",
                .invalid("\"\(kind)\" is not \"Property\", \"Relationship\", \"GeoProperty\" or \"LanguageProperty\"")
            )
        }
    }

    /// A LanguageProperty's map: language tags (BCP 47 shape: letters, digits and `-`, up to 35
    /// characters, or `@none`) to texts.
    static func decodeLanguageMap(_ value: JSONValue, field: String) throws(ModelError) -> [String: String] {
        guard case .object(let members) = value, !members.isEmpty else {
            throw ModelError(field: field, .wrongType(expected: "an object of language tags to texts, with at least one"))
        }
        var map = [String: String]()
        for (tag, text) in members {
            let valid =
                tag == "@none"
                || (1...35).contains(tag.utf8.count) && tag.utf8.first.map { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0 | 0x20) } == true
                    && tag.utf8.allSatisfy { b in
                        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b | 0x20) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
                            || b == UInt8(ascii: "-")
                    }
            guard valid else { throw ModelError(field: field, .invalid("\"\(tag.prefix(40))\" is not a language tag (BCP 47, like ja or en-GB)")) }
            guard case .string(let string) = text else { throw ModelError(field: field + "." + tag, .wrongType(expected: "a text")) }
            map[tag] = try ModelLimits.checkLength(string, field: field + "." + tag)
        }
        return map
    }

    static func decodeKeyValue(_ value: JSONValue, name: String) throws(ModelError) -> NGSIAttribute {
        if case .object(let members) = value, case .string(let geoType)? = members["type"], members["coordinates"] != nil {
            guard geoType == "Point" else {
                throw ModelError(field: name + ".type", .invalid("only GeoJSON Point locations are supported, not \(geoType)"))
            }
            return .geoProperty(try decodePoint(value, field: name), observedAt: nil)
        }
        return .property(NGSIProperty(try decodeValue(value, field: name, normalized: false)))
    }

    static func decodeValue(_ value: JSONValue, field: String, normalized: Bool) throws(ModelError) -> PropertyValue {
        switch value {
        case .number(let number): return .number(try ModelLimits.checkFinite(number, field: field))
        case .string(let text): return .text(try ModelLimits.checkLength(text, field: field))
        case .bool(let flag): return .boolean(flag)
        case .null: throw ModelError(field: field, .wrongType(expected: "a value, not null"))
        case .array(let elements):
            var texts = [String]()
            for (i, element) in elements.enumerated() {
                guard case .string(let text) = element else { return .structured(try checkStructured(value, field: field)) }
                texts.append(try ModelLimits.checkLength(text, field: "\(field)[\(i)]"))
            }
            return .list(texts)
        case .object(let members):
            if normalized, case .string(let type)? = members["@type"], type == "DateTime" {
                guard case .string(let text)? = members["@value"] else {
                    throw ModelError(field: field + ".@value", .wrongType(expected: "a date-time string"))
                }
                return .dateTime(try Timestamp(iso8601: text, field: field + ".@value"))
            }
            return .structured(try checkStructured(value, field: field))
        }
    }

    /// Checks a structured value (no limits beyond size and finite numbers).
    static func checkStructured(_ value: JSONValue, field: String, depth: Int = 0) throws(ModelError) -> JSONValue {
        guard depth < 8 else { throw ModelError(field: field, .invalid("structured value is nested deeper than 8 levels")) }
        switch value {
        case .number(let number): _ = try ModelLimits.checkFinite(number, field: field)
        case .string(let text): _ = try ModelLimits.checkLength(text, field: field)
        case .array(let elements):
            guard elements.count <= 256 else { throw ModelError(field: field, .invalid("array of \(elements.count) elements exceeds 256")) }
            for (i, element) in elements.enumerated() { _ = try checkStructured(element, field: "\(field)[\(i)]", depth: depth + 1) }
        case .object(let members):
            guard members.count <= 256 else { throw ModelError(field: field, .invalid("object of \(members.count) members exceeds 256")) }
            for (key, member) in members { _ = try checkStructured(member, field: "\(field).\(key)", depth: depth + 1) }
        case .null, .bool: break
        }
        return value
    }

    /// Decodes a GeoJSON Point object.
    static func decodePoint(_ value: JSONValue, field: String) throws(ModelError) -> GeoPoint {
        guard case .object(let members) = value else {
            throw ModelError(field: field, .wrongType(expected: "a GeoJSON Point object, not \(value.typeName)"))
        }
        guard case .string(let type)? = members["type"] else { throw ModelError(field: field + ".type", .missing) }
        guard type == "Point" else {
            throw ModelError(field: field + ".type", .invalid("only GeoJSON Point locations are supported, not \(type)"))
        }
        guard case .array(let elements)? = members["coordinates"] else {
            throw ModelError(field: field + ".coordinates", .wrongType(expected: "an array [longitude, latitude]"))
        }
        var numbers = [Double]()
        for (i, element) in elements.enumerated() {
            guard case .number(let number) = element else {
                throw ModelError(field: "\(field).coordinates[\(i)]", .wrongType(expected: "a number"))
            }
            numbers.append(number)
        }
        return try GeoPoint(geoJSONCoordinates: numbers, field: field + ".coordinates")
    }

    /// Checks the target of a relationship: a URI without whitespace, at most 256 characters.
    static func checkReference(_ target: String, field: String) throws(ModelError) -> String {
        guard !target.isEmpty else { throw ModelError(field: field, .missing) }
        _ = try ModelLimits.checkLength(target, field: field, limit: ModelLimits.maxEntityIDLength)
        guard target.contains(":"), !target.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw ModelError(field: field, .invalid("\"\(target)\" is not a URI (expected an entity id such as urn:ngsi-ld:Device:city:tag1)"))
        }
        return target
    }
}
