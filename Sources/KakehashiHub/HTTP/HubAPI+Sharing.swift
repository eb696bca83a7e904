import KakehashiModel

/// What another tenant shared with the caller's (see ``ShareGrant``).
extension HubAPI {
    /// The attribute that marks a shared entity with its owner.
    static let sharedByAttribute = "sharedBy"

    /// An owner's entity as a grantee sees it: marked with its owner; at hourly precision
    /// without the attributes that carry observations (values and their times).
    static func sharedView(_ entity: NGSIEntity, _ grant: ShareGrant) -> NGSIEntity {
        var shown = entity
        if grant.precision == .hourly {
            shown.attributes = shown.attributes.filter { $0.value.observedAt == nil }
        }
        shown.attributes[sharedByAttribute] = .property(NGSIProperty(.text(grant.owner.name)))
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
    func sharedEntities(for grantee: Tenant, types: Set<String>?, ids: Set<EntityID>?) async throws(NGSIProblem) -> [(entity: NGSIEntity, grant: ShareGrant)] {
        var shown = [EntityID: (entity: NGSIEntity, grant: ShareGrant)]()
        var order = [EntityID]()
        let grants = directory.grants(to: grantee).sorted { ($0.precision == .full ? 0 : 1, $0.id) < ($1.precision == .full ? 0 : 1, $1.id) }
        for grant in grants where types?.contains(grant.type) ?? true {
            var wanted: Set<EntityID>?
            if let ids {
                wanted = ids.filter { $0.tenant == grant.owner && $0.type == grant.type }
                if wanted!.isEmpty { continue }
            }
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
    func sharedEntity(_ id: EntityID, for grantee: Tenant) async throws(NGSIProblem) -> (NGSIEntity, ShareGrant)? {
        guard id.tenant != grantee, directory.grants(to: grantee).contains(where: { $0.owner == id.tenant && $0.type == id.type }) else { return nil }
        guard let entity = try await stored({ () async throws(StorageError) in try await store.entity(tenant: id.tenant, id: id) }),
              let grant = grant(covering: entity, for: grantee) else { return nil }
        return (Self.sharedView(entity, grant), grant)
    }
}
