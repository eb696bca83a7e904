import Hummingbird
import KakehashiHubCore
import KakehashiModel

/// What another tenant shared with the caller's (see ``ShareGrant``).
extension HubAPI {
    /// The attribute that marks a shared entity with its owner.

    /// An owner's entity as a grantee sees it: marked with its owner; at hourly precision
    /// without the attributes that carry observations (values and their times).
    static func sharedView(_ entity: NGSIEntity, _ grant: ShareGrant) -> NGSIEntity {
        var shown = entity
        if grant.precision == .hourly {
            shown.attributes = shown.attributes.filter { $0.value.observedAt == nil }
        }
        shown.attributes[ShareGrant.sharedByAttribute] = .property(NGSIProperty(.text(grant.owner.name)))
        return shown
    }

    /// The grant (full precision first) that covers `entity` for `grantee`, if any.
    func grant(covering entity: NGSIEntity, for grantee: Tenant) -> ShareGrant? {
        let location = try? entity.location()
        return directory.grants(to: grantee)
            .filter { $0.owner == entity.id.tenant && $0.covers(type: entity.type, location: location) }
            .min { ($0.precision == .full ? 0 : 1, $0.id) < ($1.precision == .full ? 0 : 1, $1.id) }
    }

    /// The entities of other tenants shared with `grantee`, of `types` and `ids` when given, each
    /// with the grant that shows it.
    func sharedEntities(
        for grantee: Tenant,
        types: Set<String>?,
        ids: Set<EntityID>?
    ) async throws(NGSIProblem) -> [(entity: NGSIEntity, grant: ShareGrant)] {
        var shown = [EntityID: (entity: NGSIEntity, grant: ShareGrant)]()
        var order = [EntityID]()
        let grants = directory.grants(to: grantee).sorted { ($0.precision == .full ? 0 : 1, $0.id) < ($1.precision == .full ? 0 : 1, $1.id) }
        for grant in grants where types?.contains(grant.type) ?? true {
            // The same URIs among the owner's entities (two tenants may use one id).
            let wanted = ids.map { Set($0.map { $0.inTenant(grant.owner) }) }
            let owner = grant.owner, type = grant.type, asked = wanted
            let found = try await stored { () async throws(StorageError) in try await store.entities(tenant: owner, types: [type], ids: asked) }
            for entity in found where shown[entity.id] == nil && grant.covers(type: entity.type, location: try? entity.location()) {
                shown[entity.id] = (Self.sharedView(entity, grant), grant)
                order.append(entity.id)
            }
        }
        return order.compactMap { shown[$0] }
    }

    /// Another tenant's entity by id, as `grantee` may see it, with the grant that lets it.
    /// With the same id among several owners, the first owner by grant (full precision first,
    /// then the oldest grant) that has it.
    func sharedEntity(_ id: EntityID, for grantee: Tenant) async throws(NGSIProblem) -> (NGSIEntity, ShareGrant)? {
        let grants = directory.grants(to: grantee).sorted { ($0.precision == .full ? 0 : 1, $0.id) < ($1.precision == .full ? 0 : 1, $1.id) }
        var owners = [Tenant]()
        for grant in grants where grant.owner != grantee && !owners.contains(grant.owner) { owners.append(grant.owner) }
        for owner in owners {
            let theirs = id.inTenant(owner)
            guard let entity = try await stored({ () async throws(StorageError) in try await store.entity(tenant: owner, id: theirs) }),
                let grant = grant(covering: entity, for: grantee)
            else { continue }
            return (Self.sharedView(entity, grant), grant)
        }
        return nil
    }

    // MARK: The tenant's own sharing, by its admin key

    static func grantJSON(_ grant: ShareGrant) -> JSONValue {
        var members: [String: JSONValue] = [
            "id": .number(Double(grant.id)), "owner": .string(grant.owner.name), "grantee": .string(grant.grantee.name),
            "type": .string(grant.type), "precision": .string(grant.precision.rawValue), "created": .string(grant.created.iso8601),
            "revoked": grant.revoked.map { .string($0.iso8601) } ?? .null,
        ]
        members["area"] =
            grant.area.map { ring in
                .object(["type": "Polygon", "coordinates": .array([.array(ring.map { .array([.number($0.longitude), .number($0.latitude)]) })])])
            } ?? .null
        return .object(members)
    }

    func accessStore() throws(NGSIProblem) -> any AccessRecords {
        guard let store = directory.store else { throw NGSIProblem(.operationNotSupported, "this hub keeps no grants") }
        return store
    }

    /// `GET /access/grants`: the grants from and to the caller's tenant.
    func listGrants(_ request: Request) async throws(NGSIProblem) -> Response {
        let tenant = try tenant(of: request)
        let store = try accessStore()
        let grants: [ShareGrant]
        do { grants = try store.grants(involving: tenant) } catch { throw NGSIProblem(.internalError, "reading grants failed: \(error.operation)") }
        return Self.json(.array(grants.map(Self.grantJSON)), jsonLD: false)
    }

    /// `POST /access/grants` with `{"to", "type", "area"?, "precision"?}`: the caller's tenant
    /// shares its entities of `type` with `to`.
    func createGrant(_ request: Request) async throws(NGSIProblem) -> Response {
        let owner = try tenant(of: request)
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: 256 * 1024) } catch {
            throw NGSIProblem(.requestEntityTooLarge, "a grant is a small JSON object (an area up to 256 KiB)")
        }
        let json: JSONValue
        do { json = try JSONValue(parsing: body.readableBytesView) } catch {
            throw NGSIProblem(.invalidRequest, "the body is not valid JSON: \(error.reason)")
        }
        guard let name = json["to"]?.stringValue, let grantee = try? Tenant(name), directory.settings(of: grantee) != nil else {
            throw NGSIProblem(.badRequestData, "\"to\" names a tenant of this hub")
        }
        guard let type = json["type"]?.stringValue, !type.isEmpty, type.count <= 256 else {
            throw NGSIProblem(.badRequestData, "\"type\" is the entity type shared")
        }
        let precisionText = json["precision"]?.stringValue ?? "full"
        guard let precision = ShareGrant.Precision(rawValue: precisionText) else {
            throw NGSIProblem(.badRequestData, "\"precision\" is full or hourly")
        }
        var area: [GeoPoint]?
        if let given = json["area"], given != .null {
            do { area = try ShareGrant.area(parsing: given.jsonText) } catch { throw NGSIProblem(error) }
        }
        let store = try accessStore()
        let grant: ShareGrant
        do {
            grant = try store.grant(
                owner: owner,
                grantee: grantee,
                type: type,
                area: area,
                precision: precision,
                knownTenants: Set(directory.tenants.keys)
            )
        } catch { throw NGSIProblem(.badRequestData, error.cause) }
        return Self.json(Self.grantJSON(grant), status: .created, jsonLD: false)
    }

    /// `DELETE /access/grants/{id}`: the owner ends one of its grants, at once.
    func revokeGrant(_ request: Request, id text: String) async throws(NGSIProblem) -> Response {
        let owner = try tenant(of: request)
        guard let id = Int64(text) else { throw NGSIProblem(.badRequestData, "'\(text.prefix(40))' is not a grant id") }
        let store = try accessStore()
        let mine: [ShareGrant]
        do { mine = try store.grants(involving: owner) } catch { throw NGSIProblem(.internalError, "reading grants failed: \(error.operation)") }
        guard let grant = mine.first(where: { $0.id == id }) else { throw NGSIProblem(.resourceNotFound, "\(owner) has no grant \(id)") }
        guard grant.owner == owner else { throw NGSIProblem(.forbidden, "grant \(id) is \(grant.owner)'s to revoke, not \(owner)'s") }
        guard grant.revoked == nil else { throw NGSIProblem(.resourceNotFound, "grant \(id) is revoked already") }
        do { try store.revokeGrant(id: id) } catch { throw NGSIProblem(.internalError, "revoking failed: \(error.cause)") }
        return Response(status: .noContent)
    }
}
