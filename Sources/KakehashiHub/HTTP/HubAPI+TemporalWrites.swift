import HTTPTypes
import Hummingbird
import KakehashiHubCore
import KakehashiModel

/// Temporal provision (NGSI-LD 5.6.11–5.6.16, 5.7.5): historical instances written, deleted and
/// queried by POST. Every instance takes the ingest path as one reading at its `observedAt`:
/// stored once (an instance given again is not stored twice), rolled up, and the latest one
/// becomes the entity's current value.
extension HubAPI {
    var temporalWriteRoutes: [NGSIRoute] {
        @Sendable func id(_ context: BasicRequestContext) -> String { context.parameters.get("id") ?? "" }
        @Sendable func attribute(_ context: BasicRequestContext) -> String { context.parameters.get("attr") ?? "" }
        return [
            NGSIRoute(path: "/ngsi-ld/v1/temporal/entities", method: .post) { request, _ in try await self.createTemporal(request) },
            NGSIRoute(path: "/ngsi-ld/v1/temporal/entities/:id", method: .delete) { request, context in
                try await self.deleteTemporal(request, id: id(context), attribute: nil)
            },
            NGSIRoute(path: "/ngsi-ld/v1/temporal/entities/:id/attrs", method: .post) { request, context in
                try await self.addTemporalAttributes(request, id: id(context))
            },
            NGSIRoute(path: "/ngsi-ld/v1/temporal/entities/:id/attrs/:attr", method: .delete) { request, context in
                try await self.deleteTemporal(request, id: id(context), attribute: attribute(context))
            },
            NGSIRoute(path: "/ngsi-ld/v1/temporal/entities/:id/attrs/:attr/:instance", method: .patch) { request, context in
                try await self.modifyInstance(
                    request,
                    id: id(context),
                    attribute: attribute(context),
                    instance: context.parameters.get("instance") ?? ""
                )
            },
            NGSIRoute(path: "/ngsi-ld/v1/temporal/entityOperations/query", method: .post) { request, _ in
                try await self.queryTemporalByPost(request)
            },
        ]
    }

    /// The fragments that carry a temporal entity's instances, one instance of each attribute
    /// (and dataset) per fragment, so each is stored as the reading it is. Every instance needs
    /// its `observedAt`.
    static func temporalFragments(_ json: JSONValue, jsonLD: Bool, id: EntityID, type: String) throws(NGSIProblem) -> [NGSIEntity] {
        guard case .object(let members) = try withoutContext(json, jsonLD: jsonLD, field: "the temporal entity", attributes: false) else {
            throw NGSIProblem(.badRequestData, "the temporal entity must be a JSON object")
        }
        // Per attribute, per dataset: its instances in the order given.
        var groups = [String: [String: [JSONValue]]]()
        for (name, value) in members where name != "id" && name != "type" {
            let instances: [JSONValue]
            switch value {
            case .array(let items): instances = items
            case .object: instances = [value]
            default: throw NGSIProblem(.badRequestData, "\(name) must be an instance or an array of instances, not \(value.typeName)")
            }
            guard !instances.isEmpty else { throw NGSIProblem(.badRequestData, "\(name) holds no instance") }
            for (index, item) in instances.enumerated() {
                let instance = NGSIConcise.expand(item)
                guard case .object(let fields) = instance, case .string? = fields["observedAt"] else {
                    throw NGSIProblem(.badRequestData, "\(name)[\(index)] needs an observedAt: a temporal instance is a value at a time")
                }
                let dataset = fields["datasetId"]?.stringValue ?? ""
                groups[name, default: [:]][dataset, default: []].append(instance)
            }
        }
        guard !groups.isEmpty else { throw NGSIProblem(.badRequestData, "the temporal entity holds no attribute instance") }
        let depth = groups.values.flatMap(\.values).map(\.count).max() ?? 0
        var fragments = [NGSIEntity]()
        for k in 0..<depth {
            var fragment: [String: JSONValue] = ["id": .string(id.rawValue), "type": .string(type)]
            for (name, datasets) in groups {
                let here = datasets.keys.sorted().compactMap { key -> JSONValue? in
                    guard let list = datasets[key], list.count > k else { return nil }
                    return list[k]
                }
                if here.count == 1 { fragment[name] = here[0] } else if !here.isEmpty { fragment[name] = .array(here) }
            }
            do { fragments.append(try NGSIEntity(json: .object(fragment), form: .normalized, tenant: id.tenant)) } catch {
                throw NGSIProblem(.badRequestData, error.description)
            }
        }
        return fragments
    }

    /// Stores the fragments; instances refused by the clock limits make the request a 400 that
    /// says how many were refused and why (the others are stored).
    func writeTemporal(_ fragments: [NGSIEntity], tenant: Tenant) async throws(NGSIProblem) {
        let (_, refused) = try await write(fragments, tenant: tenant)
        if let (_, rejection) = refused.first {
            throw NGSIProblem(
                .badRequestData,
                "\(refused.count) of \(fragments.count) instance sets were refused (the others are stored): \(rejection.description)"
            )
        }
    }

    /// `POST /ngsi-ld/v1/temporal/entities`: 201 with `Location` for a new entity, 204 when
    /// instances were added to one that exists.
    func createTemporal(_ request: Request) async throws -> Response {
        let tenant = try creatingTenant(of: request)
        try QueryString(request.uri.query).allow([])
        let (json, jsonLD) = try await writeBody(request)
        guard case .string(let text)? = json["id"], case .string(let type)? = json["type"] else {
            throw NGSIProblem(.badRequestData, "a temporal entity needs an id and a type")
        }
        let id = try Self.entityID(text, parameter: "id", tenant: tenant)
        let existing = try await ownEntity(id, tenant: tenant)
        if let existing, existing.type != type {
            throw NGSIProblem(.badRequestData, "entity \(id) is a \(existing.type), not a \(type)")
        }
        try await writeTemporal(try Self.temporalFragments(json, jsonLD: jsonLD, id: id, type: type), tenant: tenant)
        guard existing == nil else { return Response(status: .noContent) }
        var headers = HTTPFields()
        headers[.location] = "/ngsi-ld/v1/temporal/entities/\(Self.pathEncoded(id.rawValue))"
        return Response(status: .created, headers: headers)
    }

    /// `POST /ngsi-ld/v1/temporal/entities/{id}/attrs`: instances added to an entity (204, 404).
    func addTemporalAttributes(_ request: Request, id text: String) async throws -> Response {
        let tenant = try tenant(of: request)
        try QueryString(request.uri.query).allow([])
        let id = try Self.entityID(text, parameter: "id", tenant: tenant)
        let (json, jsonLD) = try await writeBody(request)
        let existing = try await requireEntity(id, tenant: tenant)
        if let given = json["id"], given.stringValue != id.rawValue {
            throw NGSIProblem(.badRequestData, "the body's id \(given.jsonText.prefix(120)) is not the entity's (\(id))")
        }
        try await writeTemporal(try Self.temporalFragments(json, jsonLD: jsonLD, id: id, type: existing.type), tenant: tenant)
        return Response(status: .noContent)
    }

    /// `DELETE /ngsi-ld/v1/temporal/entities/{id}` (the entity and all its history) and
    /// `.../attrs/{attrId}` (the attribute's history and value: its default instance, the one
    /// `datasetId` names, or with `deleteAll=true` every instance): 204, or 404.
    func deleteTemporal(_ request: Request, id text: String, attribute: String?) async throws -> Response {
        let tenant = try tenant(of: request)
        let query = try QueryString(request.uri.query)
        try query.allow(attribute == nil ? [] : ["datasetId", "deleteAll"])
        if let all = query["deleteAll"], all != "true" && all != "false" {
            throw NGSIProblem(.badRequestData, "deleteAll: '\(all.prefix(20))' is not true or false")
        }
        let id = try Self.entityID(text, parameter: "id", tenant: tenant)
        var names: Set<String>?
        if let attribute {
            if query["deleteAll"] == "true" {
                let series = try await stored { () async throws(StorageError) in try await store.series(tenant: tenant, entity: id) }
                var all = Set(series.map(\.attribute).filter { NGSIEntity.splitName($0).attribute == attribute })
                if let entity = try await ownEntity(id, tenant: tenant) { all.formUnion(entity.instanceNames(of: attribute)) }
                names = all
            } else {
                names = [NGSIEntity.keptName(attribute, datasetId: query["datasetId"])]
            }
        }
        let history = try await stored { () async throws(StorageError) in try await store.removeHistory(tenant: tenant, id: id, attributes: names) }
        let current = names?.isEmpty == true ? false : try await remove(id, tenant: tenant, attributes: names)
        guard history != nil || current else {
            throw NGSIProblem(
                .resourceNotFound,
                attribute.map { "entity \(id) has no attribute \($0) with history for tenant \(tenant)" }
                    ?? "entity \(id) was not found for tenant \(tenant)"
            )
        }
        return Response(status: .noContent)
    }

    /// The `instanceId` of the instance observed at `at`: unique within its attribute (an
    /// attribute has one value per instant per dataset).
    static func instanceID(_ at: Timestamp) -> String { "urn:ngsi-ld:Instance:\(at.millisecondsSinceEpoch)" }

    /// `PATCH /ngsi-ld/v1/temporal/entities/{id}/attrs/{attrId}/{instanceId}`: the instance's value
    /// replaced (its `observedAt` stays; `datasetId` in the body names a multi-attribute's
    /// instance): 204, or 404 for an instance there is not.
    func modifyInstance(_ request: Request, id text: String, attribute name: String, instance: String) async throws -> Response {
        let tenant = try tenant(of: request)
        try QueryString(request.uri.query).allow([])
        let id = try Self.entityID(text, parameter: "id", tenant: tenant)
        let decoded = instance.removingPercentEncoding ?? instance
        guard decoded.hasPrefix("urn:ngsi-ld:Instance:"), let ms = Int64(decoded.dropFirst("urn:ngsi-ld:Instance:".count)) else {
            throw NGSIProblem(.badRequestData, "instanceId \(decoded.prefix(120)) is not one of this hub's (urn:ngsi-ld:Instance:<ms>)")
        }
        let at = Timestamp(millisecondsSinceEpoch: ms)
        let (json, jsonLD) = try await writeBody(request)
        guard case .object(var members) = try Self.withoutContext(json, jsonLD: jsonLD, field: "the instance", attributes: false) else {
            throw NGSIProblem(.badRequestData, "the instance must be a JSON object")
        }
        if let given = members["observedAt"], given.stringValue.flatMap({ try? Timestamp(iso8601: $0, field: "observedAt") }) != at {
            throw NGSIProblem(
                .badRequestData,
                "observedAt \(given.jsonText.prefix(40)) is not the instance's (\(at.iso8601)): an instance keeps its time"
            )
        }
        members["observedAt"] = .string(at.iso8601)
        members["instanceId"] = nil
        let dataset: String?
        do { dataset = try NGSIEntity.datasetId(of: .object(members), field: name) } catch { throw NGSIProblem(.badRequestData, error.description) }
        let kept = NGSIEntity.keptName(name, datasetId: dataset)
        let attribute: NGSIAttribute
        do {
            let holder = try NGSIEntity(
                json: ["id": .string(id.rawValue), "type": "Instance", kept: NGSIConcise.expand(.object(members))],
                form: .normalized,
                tenant: tenant
            )
            guard let found = holder.attributes[kept], NGSIEntity.observedValue(found) != nil else {
                throw NGSIProblem(.badRequestData, "the instance must be a Property with a number, text or boolean value")
            }
            attribute = found
        } catch let problem as NGSIProblem {
            throw problem
        } catch {
            throw NGSIProblem(.badRequestData, "\(error)")
        }
        guard
            try await stored({ () async throws(StorageError) in
                try await store.replaceInstance(tenant: tenant, id: id, attribute: kept, at: at, with: attribute)
            })
        else {
            throw NGSIProblem(.resourceNotFound, "entity \(id) has no instance \(decoded) of \(name) for tenant \(tenant)")
        }
        return Response(status: .noContent)
    }

    /// `POST /ngsi-ld/v1/temporal/entityOperations/query`: a Query body (`entities`, `attrs`,
    /// `q`, `geoQ`, `temporalQ`), answered as `GET /temporal/entities` with those parameters.
    func queryTemporalByPost(_ request: Request) async throws -> Response {
        let url = try QueryString(request.uri.query)
        try url.allow(["limit", "offset", "count", "options", "format", "lastN", "aggrMethods", "aggrPeriodDuration"])
        let (json, _) = try await writeBody(request)
        guard case .object(var members) = json else { throw NGSIProblem(.badRequestData, "the body must be a Query object") }
        var values = url.values
        if let temporal = members.removeValue(forKey: "temporalQ") {
            guard case .object(let fields) = temporal else { throw NGSIProblem(.badRequestData, "temporalQ must be an object") }
            for (key, value) in fields {
                guard ["timerel", "timeAt", "endTimeAt", "timeproperty", "lastN"].contains(key) else {
                    throw NGSIProblem(.badRequestData, "temporalQ.\(key) is not a member of a temporal query")
                }
                switch value {
                case .string(let text): values[key] = text
                case .number(let number) where key == "lastN": values[key] = String(Int(number))
                default: throw NGSIProblem(.badRequestData, "temporalQ.\(key) must be a string")
                }
            }
        }
        for (key, value) in try Self.queryValues(of: &members) { values[key] = value }
        guard members.isEmpty else {
            throw NGSIProblem(
                .badRequestData,
                "unknown member\(members.count > 1 ? "s" : "") of the Query: \(members.keys.sorted().joined(separator: ", "))"
            )
        }
        return try await queryTemporal(request, id: nil, query: QueryString(values: values))
    }
}
