import Foundation
import HTTPTypes
import Hummingbird
import KakehashiHubCore
import KakehashiModel

/// NGSI-LD entity and attribute writes (ETSI GS CIM 009, 5.6): create, merge, replace and delete
/// entities; append, update, replace and delete attributes. Every write takes the ingest path of
/// MQTT batches (the same validation, the exactly-once store of measured values, alerts, feeds,
/// sharing and retention); a removal leaves the entity's time series for temporal queries.
extension HubAPI {
    // MARK: Bodies

    /// A write's body as JSON: `application/json` or `application/ld+json`, within the hub's
    /// size limit. Also says whether it came as JSON-LD.
    func writeBody(_ request: Request) async throws(NGSIProblem) -> (json: JSONValue, jsonLD: Bool) {
        let contentType = request.headers[.contentType]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard contentType == "application/json" || contentType == "application/ld+json" else {
            throw NGSIProblem(.unsupportedMediaType, "Content-Type '\(contentType)': send application/json or application/ld+json")
        }
        let limit = configuration.limits.maxBodyBytes
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: limit) } catch {
            throw NGSIProblem(.requestEntityTooLarge, "the body is larger than this hub's limit of \(limit) bytes")
        }
        do { return (try JSONValue(parsing: body.readableBytesView), contentType == "application/ld+json") } catch {
            throw NGSIProblem(.invalidRequest, "the body is not valid JSON: \(error.reason)")
        }
    }

    /// An entity or fragment without its `@context`. A JSON body carries none (its context comes
    /// by `Link`); a JSON-LD one may give a URL, an array or an object. Terms are read as given,
    /// in the core context's default vocabulary.
    static func withoutContext(_ json: JSONValue, jsonLD: Bool, field: String, attributes: Bool = true) throws(NGSIProblem) -> JSONValue {
        guard case .object(var members) = json else {
            throw NGSIProblem(.badRequestData, "\(field) must be a JSON object, not \(json.typeName)")
        }
        if let context = members.removeValue(forKey: "@context") {
            guard jsonLD else {
                throw NGSIProblem(
                    .badRequestData,
                    "\(field) has an @context but came as application/json: send it as application/ld+json, or the context in a Link header"
                )
            }
            switch context {
            case .string, .array, .object: break
            default: throw NGSIProblem(.badRequestData, "\(field).@context must be a URL, an array or an object, not \(context.typeName)")
            }
        }
        // Normalized or concise: the types concise leaves out are put back (in an entity or a
        // fragment, whose members are attributes; one attribute's body is expanded by its caller).
        return attributes ? NGSIConcise.expandEntity(.object(members)) : .object(members)
    }

    /// Decodes an entity body of `tenant`.
    static func decodeEntity(_ json: JSONValue, jsonLD: Bool, tenant: Tenant, field: String = "the entity") throws(NGSIProblem) -> NGSIEntity {
        let plain = try withoutContext(json, jsonLD: jsonLD, field: field)
        do { return try NGSIEntity(json: plain, form: .normalized, tenant: tenant) } catch {
            throw NGSIProblem(.badRequestData, error.description)
        }
    }

    /// Decodes a fragment of `existing` (attributes; an `id` or `type` must be the entity's own).
    static func decodeFragment(_ json: JSONValue, jsonLD: Bool, of existing: NGSIEntity) throws(NGSIProblem) -> NGSIEntity {
        guard case .object(var members) = try withoutContext(json, jsonLD: jsonLD, field: "the body") else {
            throw NGSIProblem(.badRequestData, "the body must be a JSON object")
        }
        if let id = members["id"], id.stringValue != existing.id.rawValue {
            throw NGSIProblem(.badRequestData, "the body's id \(id.jsonText.prefix(120)) is not the entity's (\(existing.id))")
        }
        if let type = members["type"], type.stringValue != existing.type {
            throw NGSIProblem(
                .badRequestData,
                "the body's type \(type.jsonText.prefix(80)) is not the entity's (\(existing.type)): its type cannot change"
            )
        }
        members["id"] = .string(existing.id.rawValue)
        members["type"] = .string(existing.type)
        do { return try NGSIEntity(json: .object(members), form: .normalized, tenant: existing.id.tenant) } catch {
            throw NGSIProblem(.badRequestData, error.description)
        }
    }

    // MARK: Storage steps

    /// The tenant's own entity `id`, if it exists.
    func ownEntity(_ id: EntityID, tenant: Tenant) async throws(NGSIProblem) -> NGSIEntity? {
        try await stored { () async throws(StorageError) in try await store.entity(tenant: tenant, id: id) }
    }

    /// The tenant's own entity `id`, or 404.
    func requireEntity(_ id: EntityID, tenant: Tenant) async throws(NGSIProblem) -> NGSIEntity {
        guard let entity = try await ownEntity(id, tenant: tenant) else {
            throw NGSIProblem(.resourceNotFound, "entity \(id) was not found for tenant \(tenant)")
        }
        return entity
    }

    /// Stores `entities` through the ingest path (merged, or replacing their attributes). Readings
    /// outside the clock limits are refused one by one (each kept as a dead letter) and returned.
    func write(
        _ entities: [NGSIEntity],
        tenant: Tenant,
        replacing: Bool = false
    ) async throws(NGSIProblem) -> (result: IngestResult, refused: [(NGSIEntity, IngestRejection)]) {
        let screened = await ingestor.screen(entities, tenant: tenant)
        guard !screened.kept.isEmpty else { return (IngestResult(), screened.refused) }
        let outcome = try await stored { () async throws(StorageError) in
            try await ingestor.ingest(entities: screened.kept, tenant: tenant, replacing: replacing)
        }
        switch outcome {
        case .success(let result): return (result, screened.refused)
        case .failure(let rejection): throw NGSIProblem(.badRequestData, rejection.description)
        }
    }

    /// Stores one entity; a refused reading is the request's 400.
    func writeOne(_ entity: NGSIEntity, tenant: Tenant, replacing: Bool = false) async throws(NGSIProblem) {
        let (_, refused) = try await write([entity], tenant: tenant, replacing: replacing)
        if let (_, rejection) = refused.first { throw NGSIProblem(.badRequestData, rejection.description) }
    }

    /// Removes attributes of an entity, or the entity; subscriptions are told.
    func remove(_ id: EntityID, tenant: Tenant, attributes: Set<String>?) async throws(NGSIProblem) -> Bool {
        let now = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
        let before = notifier == nil || attributes != nil ? nil : try await ownEntity(id, tenant: tenant)
        let removed = try await stored { () async throws(StorageError) in
            try await store.remove(tenant: tenant, id: id, attributes: attributes, at: now)
        }
        if removed, let notifier {
            if let attributes {
                if let after = try await ownEntity(id, tenant: tenant) {
                    await notifier.deleted(tenant: tenant, entities: [after], attributes: attributes)
                }
            } else if let before {
                await notifier.deleted(tenant: tenant, entities: [before], attributes: nil)
            }
        }
        return removed
    }

    static func checkSameType(_ entity: NGSIEntity, as existing: NGSIEntity) throws(NGSIProblem) {
        guard entity.type == existing.type else {
            throw NGSIProblem(
                .badRequestData,
                "entity \(existing.id) is a \(existing.type), not a \(entity.type): an entity keeps its type (delete it and create it anew)"
            )
        }
    }

    // MARK: Entities

    /// `POST /ngsi-ld/v1/entities`: 201 with `Location`, or 409 AlreadyExists.
    func createEntity(_ request: Request) async throws -> Response {
        let tenant = try creatingTenant(of: request)
        try QueryString(request.uri.query).allow([])
        let (json, jsonLD) = try await writeBody(request)
        let entity = try Self.decodeEntity(json, jsonLD: jsonLD, tenant: tenant)
        if try await ownEntity(entity.id, tenant: tenant) != nil {
            throw NGSIProblem(.alreadyExists, "entity \(entity.id) already exists for tenant \(tenant)")
        }
        try await writeOne(entity, tenant: tenant)
        var headers = HTTPFields()
        headers[.location] = "/ngsi-ld/v1/entities/\(Self.pathEncoded(entity.id.rawValue))"
        return Response(status: .created, headers: headers)
    }

    /// `DELETE /ngsi-ld/v1/entities/{id}`: 204, or 404.
    func deleteEntity(_ request: Request, id text: String) async throws -> Response {
        let tenant = try tenant(of: request)
        try QueryString(request.uri.query).allow([])
        let id = try Self.entityID(text, parameter: "id", tenant: tenant)
        guard try await remove(id, tenant: tenant, attributes: nil) else {
            throw NGSIProblem(.resourceNotFound, "entity \(id) was not found for tenant \(tenant)")
        }
        return Response(status: .noContent)
    }

    /// `PATCH /ngsi-ld/v1/entities/{id}` (merge) and `PUT` (replace): 204, or 404.
    func changeEntity(_ request: Request, id text: String, replacing: Bool) async throws -> Response {
        let tenant = try tenant(of: request)
        try QueryString(request.uri.query).allow([])
        let id = try Self.entityID(text, parameter: "id", tenant: tenant)
        let (json, jsonLD) = try await writeBody(request)
        let existing = try await requireEntity(id, tenant: tenant)
        let fragment = try Self.decodeFragment(json, jsonLD: jsonLD, of: existing)
        try await writeOne(fragment, tenant: tenant, replacing: replacing)
        return Response(status: .noContent)
    }

    // MARK: Attributes

    /// `POST /ngsi-ld/v1/entities/{id}/attrs` (append; `options=noOverwrite` keeps those there)
    /// and `PATCH` (update: only attributes already there). 204, or 207 with what was not updated.
    func writeAttributes(_ request: Request, id text: String, append: Bool) async throws -> Response {
        let tenant = try tenant(of: request)
        let query = try QueryString(request.uri.query)
        try query.allow(append ? ["options"] : [])
        let options = try query.options
        if let other = options.subtracting(["noOverwrite"]).sorted().first {
            throw NGSIProblem(.badRequestData, "options: \(other) does not apply to appending attributes (noOverwrite)")
        }
        let noOverwrite = options.contains("noOverwrite")
        let id = try Self.entityID(text, parameter: "id", tenant: tenant)
        let (json, jsonLD) = try await writeBody(request)
        let existing = try await requireEntity(id, tenant: tenant)
        var fragment = try Self.decodeFragment(json, jsonLD: jsonLD, of: existing)
        var notUpdated = [JSONValue]()
        for name in fragment.attributes.keys.sorted() {
            let present = existing.attributes[name] != nil
            if append ? (noOverwrite && present) : !present {
                fragment.attributes[name] = nil
                let reason = present ? "the attribute exists and options=noOverwrite was given" : "the entity has no such attribute"
                notUpdated.append(["attributeName": .string(name), "reason": .string(reason)])
            }
        }
        if !fragment.attributes.isEmpty { try await writeOne(fragment, tenant: tenant) }
        guard notUpdated.isEmpty else {
            let updated = JSONValue.array(fragment.attributes.keys.sorted().map { .string($0) })
            return Self.json(["updated": updated, "notUpdated": .array(notUpdated)], status: Self.multiStatus, jsonLD: false)
        }
        return Response(status: .noContent)
    }

    /// `PATCH /ngsi-ld/v1/entities/{id}/attrs/{attrId}` (partial: the members given replace
    /// those of the attribute) and `PUT` (the attribute replaced): 204, or 404.
    func writeAttribute(_ request: Request, id text: String, attribute name: String, partial: Bool) async throws -> Response {
        let tenant = try tenant(of: request)
        try QueryString(request.uri.query).allow([])
        let id = try Self.entityID(text, parameter: "id", tenant: tenant)
        let (json, jsonLD) = try await writeBody(request)
        let existing = try await requireEntity(id, tenant: tenant)
        guard case .object(var members) = try Self.withoutContext(json, jsonLD: jsonLD, field: "the attribute", attributes: false) else {
            throw NGSIProblem(.badRequestData, "the attribute must be a JSON object")
        }
        // The instance the body's datasetId names (the default one without).
        let dataset: String?
        do { dataset = try NGSIEntity.datasetId(of: .object(members), field: name) } catch { throw NGSIProblem(.badRequestData, error.description) }
        let kept = NGSIEntity.keptName(name, datasetId: dataset)
        guard let known = existing.attributes[kept] else {
            throw NGSIProblem(
                .resourceNotFound,
                "entity \(id) has no attribute \(name)" + (dataset.map { " with datasetId \($0.prefix(120))" } ?? "")
            )
        }
        if partial, case .object(let known) = NGSIEntity.normalizedJSON(known) {
            // The value's members replace together: a new `value` does not keep the old `object`.
            var merged = known
            if members["value"] != nil || members["object"] != nil {
                merged["value"] = nil
                merged["object"] = nil
            }
            for (key, value) in members { merged[key] = value }
            members = merged
        }
        let fragment = try Self.decodeFragment(.object([kept: NGSIConcise.expand(.object(members))]), jsonLD: false, of: existing)
        try await writeOne(fragment, tenant: tenant)
        return Response(status: .noContent)
    }

    /// `DELETE /ngsi-ld/v1/entities/{id}/attrs/{attrId}`: 204, or 404. Deletes the default
    /// instance, the one `datasetId` names, or with `deleteAll=true` every instance.
    func deleteAttribute(_ request: Request, id text: String, attribute name: String) async throws -> Response {
        let tenant = try tenant(of: request)
        let query = try QueryString(request.uri.query)
        try query.allow(["datasetId", "deleteAll"])
        if let all = query["deleteAll"], all != "true" && all != "false" {
            throw NGSIProblem(.badRequestData, "deleteAll: '\(all.prefix(20))' is not true or false")
        }
        let id = try Self.entityID(text, parameter: "id", tenant: tenant)
        var names = [NGSIEntity.keptName(name, datasetId: query["datasetId"])]
        if query["deleteAll"] == "true" { names = try await requireEntity(id, tenant: tenant).instanceNames(of: name) }
        guard !names.isEmpty, try await remove(id, tenant: tenant, attributes: Set(names)) else {
            _ = try await requireEntity(id, tenant: tenant)
            throw NGSIProblem(
                .resourceNotFound,
                "entity \(id) has no attribute \(name)" + (query["datasetId"].map { " with datasetId \($0.prefix(120))" } ?? "")
            )
        }
        return Response(status: .noContent)
    }

    // MARK: Helpers

    static let multiStatus = HTTPResponse.Status(code: 207, reasonPhrase: "Multi-Status")

    /// `text` for a path segment (an id holds `/`, `?`, `#` only percent-encoded).
    public static func pathEncoded(_ text: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
