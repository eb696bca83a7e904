import HTTPTypes
import Hummingbird
import KakehashiHubCore
import KakehashiModel

/// NGSI-LD discovery (ETSI GS CIM 009, 5.7.5–5.7.8): the caller's tenant's entity types and
/// attributes, computed from its entities (shared entities of other tenants are not listed).
extension HubAPI {
    /// `GET /types` (`EntityTypeList`, or `EntityType` objects with `details=true`) and `/types/{type}` (`EntityTypeInfo`).
    func discoverTypes(_ request: Request, type name: String?) async throws -> Response {
        let tenant = try tenant(of: request)
        let query = try QueryString(request.uri.query)
        try query.allow(name == nil ? ["details"] : [])
        let details = try Self.details(query)
        let jsonLD = try Self.wantsJSONLD(request)
        let summary = try await discovery(tenant)
        if let name {
            guard let info = summary.types[name] else { throw NGSIProblem(.resourceNotFound, "no entity of type \(name)") }
            let attributes: [JSONValue] = info.attributes.keys.sorted().map { attribute in
                [
                    "id": .string(Discovery.fullName(attribute)), "type": "Attribute", "attributeName": .string(attribute),
                    "attributeTypes": .array(info.attributes[attribute]!.sorted().map(JSONValue.string)),
                ]
            }
            let body: JSONValue = [
                "id": .string(Discovery.fullName(name)), "type": "EntityTypeInfo", "typeName": .string(name),
                "entityCount": .number(Double(info.entityCount)), "attributeDetails": .array(attributes),
            ]
            return Self.json(body, jsonLD: jsonLD)
        }
        let names = summary.types.keys.sorted()
        if details {
            let list: [JSONValue] = names.map { type in
                [
                    "id": .string(Discovery.fullName(type)), "type": "EntityType", "typeName": .string(type),
                    "attributeNames": .array(summary.types[type]!.attributes.keys.sorted().map(JSONValue.string)),
                ]
            }
            return Self.json(.array(list), jsonLD: jsonLD)
        }
        let body: JSONValue = [
            "id": .string("urn:ngsi-ld:EntityTypeList:\(tenant.name)"), "type": "EntityTypeList",
            "typeList": .array(names.map(JSONValue.string)),
        ]
        return Self.json(body, jsonLD: jsonLD)
    }

    /// `GET /attributes` (`AttributeList`, or `Attribute` objects with `details=true`) and `/attributes/{attr}` (`Attribute`).
    func discoverAttributes(_ request: Request, attribute name: String?) async throws -> Response {
        let tenant = try tenant(of: request)
        let query = try QueryString(request.uri.query)
        try query.allow(name == nil ? ["details"] : [])
        let details = try Self.details(query)
        let jsonLD = try Self.wantsJSONLD(request)
        let summary = try await discovery(tenant)
        func describe(_ attribute: String, _ info: Discovery.AttributeInfo) -> JSONValue {
            [
                "id": .string(Discovery.fullName(attribute)), "type": "Attribute", "attributeName": .string(attribute),
                "attributeCount": .number(Double(info.count)), "attributeTypes": .array(info.kinds.sorted().map(JSONValue.string)),
                "typeNames": .array(info.typeNames.sorted().map(JSONValue.string)),
            ]
        }
        if let name {
            guard let info = summary.attributes[name] else { throw NGSIProblem(.resourceNotFound, "no entity has an attribute \(name)") }
            return Self.json(describe(name, info), jsonLD: jsonLD)
        }
        let names = summary.attributes.keys.sorted()
        if details { return Self.json(.array(names.map { describe($0, summary.attributes[$0]!) }), jsonLD: jsonLD) }
        let body: JSONValue = [
            "id": .string("urn:ngsi-ld:AttributeList:\(tenant.name)"), "type": "AttributeList",
            "attributeList": .array(names.map(JSONValue.string)),
        ]
        return Self.json(body, jsonLD: jsonLD)
    }

    /// `details=true|false` (false when absent).
    static func details(_ query: QueryString) throws(NGSIProblem) -> Bool {
        switch query["details"] {
        case nil, "false": return false
        case "true": return true
        case let other?: throw NGSIProblem(.badRequestData, "details: '\(other)' is not true or false")
        }
    }

    /// The tenant's entities summarized.
    func discovery(_ tenant: Tenant) async throws -> Discovery {
        let entities = try await stored({ () async throws(StorageError) in try await store.entities(tenant: tenant, types: nil, ids: nil) })
        return Discovery(entities: entities)
    }
}
