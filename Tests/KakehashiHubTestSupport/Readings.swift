import Foundation
import KakehashiHubCore
import KakehashiModel

/// Small builders for entities and batches in the hub's tests.
public enum Readings {
    public static let kurume = try! Tenant("kurume")
    public static let omuta = try! Tenant("omuta")
    public static let t0 = try! Timestamp(iso8601: "2026-06-02T00:00:00Z")

    public static func gauge(_ local: String, tenant: Tenant = kurume) -> EntityID {
        try! EntityID(type: "WaterObserved", tenant: tenant, localID: local)
    }

    /// A WaterObserved fragment with a level observed at `t0 + minutes`.
    public static func level(
        _ local: String,
        _ metres: Double,
        minutes: Int64,
        tenant: Tenant = kurume,
        latitude: Double = 33.3,
        longitude: Double = 130.5,
        extra: [String: NGSIAttribute] = [:]
    ) -> NGSIEntity {
        let at = t0.advanced(byMilliseconds: minutes * 60_000)
        var attributes: [String: NGSIAttribute] = [
            "waterLevel": .property(NGSIProperty(try! Quantity(metres, .metre), observedAt: at)),
            "location": .geoProperty(try! GeoPoint(latitude: latitude, longitude: longitude), observedAt: nil),
            "name": .property(NGSIProperty(.text("gauge \(local)"))),
        ]
        for (key, value) in extra { attributes[key] = value }
        return try! NGSIEntity(id: gauge(local, tenant: tenant), attributes: attributes)
    }

    public static func batch(
        _ entities: [NGSIEntity],
        tenant: Tenant = kurume,
        gateway: String? = "gw-01",
        receivedAt: Timestamp? = nil
    ) -> IngestBatch {
        IngestBatch(
            tenant: tenant,
            gateway: gateway.map { try! GatewayID($0) },
            entities: entities,
            receivedAt: receivedAt ?? t0.advanced(byMilliseconds: 86_400_000)
        )
    }

    public static func temporaryDatabase() -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kakehashi-hub-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("hub.sqlite").path
    }
}
