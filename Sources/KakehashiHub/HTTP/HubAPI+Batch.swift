import HTTPTypes
import Hummingbird
import KakehashiHubCore
import KakehashiModel

/// NGSI-LD batch operations (ETSI GS CIM 009, 5.6.7 to 5.6.10 and 5.6.20): each entity of the
/// array is handled on its own; the answer is 201/204 when all succeeded, else 207 with
/// `success` (ids) and `errors` (`entityId` and a ProblemDetails each).
extension HubAPI {
    /// The batch operations.
    enum BatchOperation: String, CaseIterable, Sendable {
        /// New entities only (an existing one is AlreadyExists).
        case create
        /// New or existing; existing ones replaced (`options=replace`, the default) or merged
        /// (`options=update`).
        case upsert
        /// Existing entities only, their attributes appended (`options=noOverwrite` keeps those there).
        case update
        /// Existing entities only, merged.
        case merge
        /// Entities by id.
        case delete
    }

    /// `POST /ngsi-ld/v1/entityOperations/{create|upsert|update|merge|delete}`.
    func batch(_ request: Request, _ operation: BatchOperation) async throws -> Response {
        let tenant = operation == .create || operation == .upsert ? try creatingTenant(of: request) : try tenant(of: request)
        let query = try QueryString(request.uri.query)
        try query.allow(operation == .upsert || operation == .update ? ["options"] : [])
        let options = try query.options
        let allowed: Set<String> = operation == .upsert ? ["update", "replace"] : ["noOverwrite"]
        if let other = options.subtracting(allowed).sorted().first {
            throw NGSIProblem(
                .badRequestData,
                "options: \(other) does not apply to a batch \(operation.rawValue) (\(allowed.sorted().joined(separator: ", ")))"
            )
        }
        if options.contains("update") && options.contains("replace") {
            throw NGSIProblem(.badRequestData, "options: give update or replace, not both")
        }
        let (json, jsonLD) = try await writeBody(request)
        guard case .array(let elements) = json else {
            throw NGSIProblem(
                .badRequestData,
                "the body must be a JSON array of \(operation == .delete ? "entity ids" : "entities"), not \(json.typeName)"
            )
        }
        guard !elements.isEmpty else { throw NGSIProblem(.badRequestData, "the array is empty") }
        guard elements.count <= configuration.limits.maxUpsertEntities else {
            throw NGSIProblem(
                .requestEntityTooLarge,
                "\(elements.count) entries exceed this hub's limit of \(configuration.limits.maxUpsertEntities) per request"
            )
        }
        if operation == .delete { return try await batchDelete(elements, tenant: tenant) }

        var errors = [JSONValue]()
        var valid = [NGSIEntity]()
        for (index, element) in elements.enumerated() {
            let claimed = element["id"]?.stringValue ?? "entities[\(index)]"
            do { valid.append(try Self.decodeEntity(element, jsonLD: jsonLD, tenant: tenant, field: "entities[\(index)]")) } catch {
                errors.append(Self.upsertError(claimed, error))
            }
        }
        // What exists already decides the rest (create, update and merge; an upsert only for a
        // type change): one query for the whole batch.
        let ids = Set(valid.map(\.id))
        let existing = Dictionary(
            try await stored { () async throws(StorageError) in try await store.entities(tenant: tenant, types: nil, ids: ids) }.map { ($0.id, $0) },
            uniquingKeysWith: { first, _ in first }
        )
        var kept = [NGSIEntity]()
        for var entity in valid {
            let known = existing[entity.id]
            do {
                if let known { try Self.checkSameType(entity, as: known) }
                switch operation {
                case .create:
                    if known != nil { throw NGSIProblem(.alreadyExists, "entity \(entity.id) already exists for tenant \(tenant)") }
                case .update, .merge:
                    guard let known else { throw NGSIProblem(.resourceNotFound, "entity \(entity.id) was not found for tenant \(tenant)") }
                    if options.contains("noOverwrite") { entity.attributes = entity.attributes.filter { known.attributes[$0.key] == nil } }
                case .upsert, .delete: break
                }
                kept.append(entity)
            } catch let problem as NGSIProblem {
                errors.append(Self.upsertError(entity.id.rawValue, problem))
            }
        }
        let replacing = operation == .upsert && !options.contains("update")
        var created = [EntityID]()
        var success = [String]()
        if !kept.isEmpty {
            let (result, refused) = try await write(kept, tenant: tenant, replacing: replacing)
            let refusedIDs = Set(refused.map(\.0.id))
            for (entity, rejection) in refused {
                errors.append(Self.upsertError(entity.id.rawValue, NGSIProblem(.badRequestData, rejection.description)))
            }
            created = result.created
            var seen = Set<EntityID>()
            for entity in kept where !refusedIDs.contains(entity.id) && seen.insert(entity.id).inserted { success.append(entity.id.rawValue) }
        }
        if !errors.isEmpty {
            return Self.json(
                ["success": .array(success.map { .string($0) }), "errors": .array(errors)],
                status: Self.multiStatus,
                jsonLD: false
            )
        }
        switch operation {
        case .create: return Self.json(.array(success.map { .string($0) }), status: .created, jsonLD: false)
        case .upsert where !created.isEmpty: return Self.json(.array(created.map { .string($0.rawValue) }), status: .created, jsonLD: false)
        default: return Response(status: .noContent)
        }
    }

    /// `POST /entityOperations/delete`: an array of ids.
    func batchDelete(_ elements: [JSONValue], tenant: Tenant) async throws(NGSIProblem) -> Response {
        var errors = [JSONValue]()
        var success = [String]()
        for (index, element) in elements.enumerated() {
            guard case .string(let text) = element else {
                errors.append(
                    Self.upsertError("entities[\(index)]", NGSIProblem(.badRequestData, "entities[\(index)] must be an entity id (a string)"))
                )
                continue
            }
            do throws(NGSIProblem) {
                let id = try Self.entityID(text, parameter: "entities[\(index)]", tenant: tenant)
                guard try await remove(id, tenant: tenant, attributes: nil) else {
                    throw NGSIProblem(.resourceNotFound, "entity \(id) was not found for tenant \(tenant)")
                }
                success.append(id.rawValue)
            } catch {
                errors.append(Self.upsertError(text, error))
            }
        }
        guard errors.isEmpty else {
            return Self.json(["success": .array(success.map { .string($0) }), "errors": .array(errors)], status: Self.multiStatus, jsonLD: false)
        }
        return Response(status: .noContent)
    }

    /// `POST /ngsi-ld/v1/entityOperations/query`: a `Query` object (`entities` as `{type, id}`
    /// selectors, `attrs`, `q`, `geoQ`) answered as `GET /entities` with the same parameters;
    /// `limit`, `offset`, `count` and `options` stay in the URL.
    func queryByPost(_ request: Request) async throws -> Response {
        let url = try QueryString(request.uri.query)
        try url.allow(["limit", "offset", "count", "options", "format"])
        let (json, _) = try await writeBody(request)
        guard case .object(var members) = json else { throw NGSIProblem(.badRequestData, "the body must be a Query object") }
        var values = url.values
        for (key, value) in try Self.queryValues(of: &members) { values[key] = value }
        guard members.isEmpty else {
            throw NGSIProblem(
                .badRequestData,
                "unknown member\(members.count > 1 ? "s" : "") of the Query: \(members.keys.sorted().joined(separator: ", "))"
            )
        }
        return try await queryEntities(request, query: QueryString(values: values))
    }

    /// The query parameters a Query body (`type`, `entities`, `attrs`, `q`, `geoQ`) stands for;
    /// what it reads is taken out of `members` (what is left is unknown to it).
    static func queryValues(of members: inout [String: JSONValue]) throws(NGSIProblem) -> [String: String] {
        members["@context"] = nil
        guard members.removeValue(forKey: "type")?.stringValue == "Query" else {
            throw NGSIProblem(.badRequestData, "the body's type must be \"Query\"")
        }
        var values = [String: String]()
        if let entities = members.removeValue(forKey: "entities") {
            guard case .array(let selectors) = entities, !selectors.isEmpty else {
                throw NGSIProblem(.badRequestData, "entities must be a non-empty array of {type, id} selectors")
            }
            var types = [String](), ids = [String]()
            for (index, selector) in selectors.enumerated() {
                guard case .object(let fields) = selector, Set(fields.keys).isSubset(of: ["type", "id"]) else {
                    throw NGSIProblem(.badRequestData, "entities[\(index)] must be an object with type and/or id (idPattern is not supported)")
                }
                if let type = fields["type"]?.stringValue { types.append(type) }
                if let id = fields["id"]?.stringValue { ids.append(id) }
            }
            if !types.isEmpty { values["type"] = types.joined(separator: ",") }
            if !ids.isEmpty { values["id"] = ids.joined(separator: ",") }
        }
        if let attrs = members.removeValue(forKey: "attrs") {
            guard let names = attrs.arrayValue?.compactMap(\.stringValue), names.count == attrs.arrayValue?.count else {
                throw NGSIProblem(.badRequestData, "attrs must be an array of attribute names")
            }
            values["attrs"] = names.joined(separator: ",")
        }
        if let q = members.removeValue(forKey: "q") {
            guard let text = q.stringValue else { throw NGSIProblem(.badRequestData, "q must be a string") }
            values["q"] = text
        }
        if let geo = members.removeValue(forKey: "geoQ") {
            guard case .object(let fields) = geo, let georel = fields["georel"]?.stringValue, let geometry = fields["geometry"]?.stringValue,
                let coordinates = fields["coordinates"]
            else {
                throw NGSIProblem(.badRequestData, "geoQ must be an object with georel, geometry and coordinates")
            }
            values["georel"] = georel
            values["geometry"] = geometry
            values["coordinates"] = coordinates.stringValue ?? coordinates.jsonText
            if let property = fields["geoproperty"]?.stringValue { values["geoproperty"] = property }
        }
        return values
    }
}
