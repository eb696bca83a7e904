import HTTPTypes
import Hummingbird
import KakehashiHubCore
import KakehashiModel

extension HubAPI {
    static let entityQueryParameters: Set<String> = [
        "type", "id", "q", "attrs", "georel", "geometry", "coordinates", "geoproperty", "limit", "offset", "options", "format", "count",
        "pick", "omit", "geometryProperty", "lang",
    ]

    /// Whether the request asks for GeoJSON (`Accept: application/geo+json`, NGSI-LD 6.3.15).
    static func wantsGeoJSON(_ request: Request) -> Bool {
        guard let accept = request.headers[.accept] else { return false }
        return accept.split(separator: ",").contains { $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces) == "application/geo+json" }
    }

    /// An entity as a GeoJSON Feature: its `geometryProperty` (location by default) as the
    /// geometry (null when it has none), its type and attributes as the properties.
    static func feature(_ rendered: JSONValue, of entity: NGSIEntity, geometryProperty: String) -> JSONValue {
        var properties = rendered.objectValue ?? [:]
        properties["id"] = nil
        properties["@context"] = nil
        let geometry: JSONValue
        if let point = try? entity.location(geometryProperty) {
            geometry = ["type": "Point", "coordinates": .array(point.geoJSONCoordinates.map(JSONValue.number))]
        } else {
            geometry = .null
        }
        return ["id": .string(entity.id.rawValue), "type": "Feature", "geometry": geometry, "properties": .object(properties)]
    }

    /// A GeoJSON answer (`application/geo+json`, the core context in `Link`).
    static func geoJSON(_ body: JSONValue, extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "application/geo+json"
        headers.append(HTTPField(name: HTTPField.Name("Link")!, value: coreContextLink))
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body.serialized())))
    }

    /// `pick` / `omit` (NGSI-LD 4.21): the members of each entity shown (`id` and `type`
    /// included), after `attrs` chose the entities; not both at once.
    static func projection(_ query: QueryString) throws(NGSIProblem) -> (pick: Set<String>?, omit: Set<String>) {
        let pick = query["pick"].map { Set($0.split(separator: ",").map(String.init)) }
        let omit = Set((query["omit"] ?? "").split(separator: ",").map(String.init))
        if pick != nil && !omit.isEmpty { throw NGSIProblem(.badRequestData, "pick and omit cannot be given together") }
        if let pick, pick.isEmpty { throw NGSIProblem(.badRequestData, "pick: name at least one member") }
        return (pick, omit)
    }

    /// `json` with only the members `pick` names (and `@context`), or without those `omit` names.
    static func project(_ json: JSONValue, _ projection: (pick: Set<String>?, omit: Set<String>)) -> JSONValue {
        guard case .object(var members) = json else { return json }
        if let pick = projection.pick { members = members.filter { pick.contains($0.key) || $0.key == "@context" } }
        for name in projection.omit { members[name] = nil }
        return .object(members)
    }

    /// `GET /ngsi-ld/v1/entities`
    func queryEntities(_ request: Request) async throws -> Response {
        try await queryEntities(request, query: try QueryString(request.uri.query))
    }

    /// An entity query with its parameters (from the URL, or `POST /entityOperations/query`).
    func queryEntities(_ request: Request, query: QueryString) async throws -> Response {
        let tenant = try tenant(of: request)
        try query.allow(Self.entityQueryParameters)
        let asGeoJSON = Self.wantsGeoJSON(request)
        let jsonLD = asGeoJSON ? false : try Self.wantsJSONLD(request)
        guard query["type"] != nil || query["id"] != nil || query["q"] != nil || query["georel"] != nil || query["attrs"] != nil else {
            throw NGSIProblem(.badRequestData, "too broad: give at least one of type, id, q, attrs or a geo-query (georel)")
        }
        let (types, ids) = try Self.typesAndIDs(query, tenant: tenant)
        let filter: QExpression?
        do { filter = try query["q"].map { (text) throws(QueryError) in try QExpression(text) } } catch { throw NGSIProblem(error) }
        let geo: GeoQuery?
        do {
            geo = try query["georel"].map { (georel) throws(QueryError) in
                try GeoQuery(georel: georel, geometry: query["geometry"], coordinates: query["coordinates"])
            }
        } catch { throw NGSIProblem(error) }
        let geoProperty = query["geoproperty"] ?? "location"
        let attributes = query["attrs"].map { Set($0.split(separator: ",").map(String.init)) }
        let (limit, offset) = try page(query)
        let count = try query["count"].map { $0 == "true" } ?? (try query.options).contains("count")

        let own = try await stored { () async throws(StorageError) in try await store.entities(tenant: tenant, types: types, ids: ids) }
        // Then what other tenants shared with this one, marked with their owner.
        // An id the tenant uses itself hides another tenant's entity of the same id.
        let ownIDs = Set(own.map(\.id.rawValue))
        let candidates =
            own + (try await sharedEntities(for: tenant, types: types, ids: ids)).map(\.entity).filter { !ownIDs.contains($0.id.rawValue) }
        let matching = candidates.filter { entity in
            if let filter, !filter.matches(entity) { return false }
            if let attributes, !attributes.contains(where: { entity.hasAttribute($0) }) { return false }
            if let geo {
                guard let point = try? entity.location(geoProperty) else { return false }
                return geo.matches(point)
            }
            return true
        }
        let page = matching.dropFirst(offset).prefix(limit)
        let (keyValues, concise) = try Self.representation(try query.options)
        let projection = try Self.projection(query)
        var headers = Self.paginationLinks(request, limit: limit, offset: offset, total: matching.count)
        if count { headers[Self.countHeader] = String(matching.count) }
        if asGeoJSON {
            let features = page.map { entity in
                Self.feature(
                    Self.project(Self.render(entity, keyValues: keyValues, attributes: attributes, jsonLD: false, concise: concise), projection),
                    of: entity,
                    geometryProperty: query["geometryProperty"] ?? "location"
                )
            }
            return Self.geoJSON(["type": "FeatureCollection", "features": .array(features)], extra: headers)
        }
        var rendered = page.map { Self.render($0, keyValues: keyValues, attributes: attributes, jsonLD: jsonLD, concise: concise) }
        if let lang = query["lang"] {
            rendered = zip(rendered, page).map { NGSIEntity.inLanguage($0, of: $1, lang, keyValues: keyValues, concise: concise) }
        }
        if try query.options.contains("sysAttrs") { rendered = try await withSystemTimes(rendered, of: Array(page)) }
        return Self.json(.array(rendered.map { Self.project($0, projection) }), jsonLD: jsonLD, extra: headers)
    }

    /// `rendered[i]` with `createdAt` and `modifiedAt` of `entities[i]` (NGSI-LD `sysAttrs`; a
    /// shared entity's from its owner). Kept for entities, not for each attribute.
    func withSystemTimes(_ rendered: [JSONValue], of entities: [NGSIEntity]) async throws(NGSIProblem) -> [JSONValue] {
        var times = [EntityID: EntitySystemTimes]()
        for (owner, owned) in Dictionary(grouping: entities, by: \.id.tenant) {
            let ids = owned.map(\.id)
            times.merge(try await stored { () async throws(StorageError) in try await store.systemTimes(tenant: owner, ids: ids) }) { a, _ in a }
        }
        return zip(rendered, entities).map { json, entity in
            guard case .object(var members) = json, let time = times[entity.id] else { return json }
            if let created = time.createdAt { members["createdAt"] = .string(created.iso8601) }
            members["modifiedAt"] = .string(time.modifiedAt.iso8601)
            return .object(members)
        }
    }

    /// The `type` and `id` lists of a query.
    static func typesAndIDs(_ query: QueryString, tenant: Tenant) throws(NGSIProblem) -> (Set<String>?, Set<EntityID>?) {
        let types = query["type"].map { Set($0.split(separator: ",").map(String.init)) }
        guard let list = query["id"] else { return (types, nil) }
        var ids = Set<EntityID>()
        for text in list.split(separator: ",") { ids.insert(try entityID(String(text), parameter: "id", tenant: tenant)) }
        return (types, ids)
    }

    /// `limit` (within the hub's maximum page size) and `offset`.
    func page(_ query: QueryString) throws(NGSIProblem) -> (limit: Int, offset: Int) {
        let limit = try query.integer("limit", default: configuration.limits.defaultPageSize, range: 0...Int.max)
        guard limit <= configuration.limits.maxPageSize else {
            throw NGSIProblem(.tooManyResults, "limit \(limit) is above this hub's maximum page size \(configuration.limits.maxPageSize)")
        }
        return (limit, try query.integer("offset", default: 0, range: 0...Int.max))
    }

    /// `GET /ngsi-ld/v1/entities/{id}`
    func retrieveEntity(_ request: Request, id text: String) async throws -> Response {
        let tenant = try tenant(of: request)
        let query = try QueryString(request.uri.query)
        try query.allow(["attrs", "options", "format", "pick", "omit", "geometryProperty", "lang"])
        let projection = try Self.projection(query)
        let asGeoJSON = Self.wantsGeoJSON(request)
        let jsonLD = asGeoJSON ? false : try Self.wantsJSONLD(request)
        let id = try Self.entityID(text, parameter: "id", tenant: tenant)
        var found = try await stored({ () async throws(StorageError) in try await store.entity(tenant: tenant, id: id) })
        if found == nil { found = try await sharedEntity(id, for: tenant)?.0 }
        guard let entity = found else {
            throw NGSIProblem(.resourceNotFound, "entity \(id) was not found for tenant \(tenant)")
        }
        let attributes = query["attrs"].map { Set($0.split(separator: ",").map(String.init)) }
        let (keyValues, concise) = try Self.representation(try query.options)
        var shown = Self.render(entity, keyValues: keyValues, attributes: attributes, jsonLD: jsonLD, concise: concise)
        if let lang = query["lang"] { shown = NGSIEntity.inLanguage(shown, of: entity, lang, keyValues: keyValues, concise: concise) }
        if try query.options.contains("sysAttrs") { shown = try await withSystemTimes([shown], of: [entity])[0] }
        let rendered = Self.project(shown, projection)
        if asGeoJSON { return Self.geoJSON(Self.feature(rendered, of: entity, geometryProperty: query["geometryProperty"] ?? "location")) }
        return Self.json(rendered, jsonLD: jsonLD)
    }

    static func upsertError(_ id: String, _ problem: NGSIProblem) -> JSONValue {
        ["entityId": .string(id), "error": problem.json]
    }
}
