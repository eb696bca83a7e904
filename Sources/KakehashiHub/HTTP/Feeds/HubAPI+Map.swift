import Foundation
import HTTPTypes
import Hummingbird
import KakehashiAlerts
import KakehashiHubCore
import KakehashiModel

/// `GET /feeds/map.geojson?type=…&bbox=west,south,east,north`: the map.
extension HubAPI {
    func map(_ request: Request) async throws(NGSIProblem) -> Response {
        let query = try QueryString(request.uri.query)
        try query.allow(["tenant", "type", "bbox"])
        let tenant = try feedTenant(request, query)
        let types = query["type"].map { Set($0.split(separator: ",").map(String.init)) }
        var box: GeoBox?
        if let text = query["bbox"] {
            let numbers = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard numbers.count == 4, let west = numbers[0], let south = numbers[1], let east = numbers[2], let north = numbers[3],
                south <= north, west <= east, abs(south) <= 90, abs(north) <= 90, abs(west) <= 180, abs(east) <= 180
            else {
                throw NGSIProblem(.badRequestData, "bbox '\(text.prefix(80))' is west,south,east,north in degrees (RFC 7946 order)")
            }
            box = GeoBox(south: south, west: west, north: north, east: east)
        }
        var entities = try await stored { () throws(StorageError) in try await store.entities(tenant: tenant, types: types, ids: nil) }
        // What other tenants share, marked with `sharedBy`; their alerts where shared in full.
        let shared = try await sharedEntities(for: tenant, types: types, ids: nil)
        entities += shared.map(\.entity)
        // Alerts are drawn on their sensors; their own entities only when asked for by type.
        if types == nil { entities.removeAll { $0.type == Alert.entityType } }
        if let box {
            entities = entities.filter { entity in
                guard case .geoProperty(let point, _)? = entity.attributes["location"] else { return false }
                return box.contains(point)
            }
        }
        var active = try await withFreshness(
            try await stored { () throws(StorageError) in try await store.alerts(tenant: tenant, activeOnly: true, limit: 100_000) },
            tenant: tenant
        )
        let fully = Set(shared.filter { $0.grant.precision == .full }.map(\.entity.id))
        for owner in Set(fully.map(\.tenant)) {
            let theirs = try await stored { () throws(StorageError) in try await store.alerts(tenant: owner, activeOnly: true, limit: 100_000) }
            active += try await withFreshness(theirs.filter { fully.contains($0.entity) }, tenant: owner)
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/geo+json"
        let body = MapFeatures.collection(entities: entities, alerts: active).serialized()
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}
