import Foundation
import KakehashiHubCore
import KakehashiHubTestSupport
import KakehashiModel
import KakehashiSQLite
import Testing

@testable import KakehashiHubSQLite

/// The store's decoded entities (``EntityCache``) always answer what the file holds: after its
/// own writes, and after another program's (a second store on the same file, as
/// `kakehashi-hub deadletters retry` opens one, or a tenant deleted from the command line).
struct EntityCacheTests {
    static func levels(_ store: SQLiteStore) async throws -> [String: Double] {
        var result = [String: Double]()
        for entity in try await store.entities(tenant: Readings.kurume, types: ["WaterObserved"], ids: nil) {
            if case .property(let p) = entity.attributes["waterLevel"], case .number(let n) = p.value { result[entity.id.localID] = n }
        }
        return result
    }

    @Test func anotherWriterOnTheFileIsSeenAtOnce() async throws {
        let path = Readings.temporaryDatabase()
        let hub = try SQLiteStore(path: path)
        _ = try await hub.ingest(Readings.batch([Readings.level("a", 1.0, minutes: 0), Readings.level("b", 2.0, minutes: 0)]))
        #expect(try await Self.levels(hub) == ["a": 1.0, "b": 2.0])  // the tenant is now held decoded
        #expect(hub.cache.entities(of: Readings.kurume, at: hub.writer.withLock { $0.lastMark }) != nil)

        // Another program writes: a newer level for a, a new gauge c, a name for b.
        let other = try SQLiteStore(path: path)
        let named = try NGSIEntity(id: Readings.gauge("b"), attributes: ["name": .property(NGSIProperty(.text("renamed")))])
        _ = try await other.ingest(Readings.batch([Readings.level("a", 1.5, minutes: 5), Readings.level("c", 3.0, minutes: 0), named]))
        #expect(try await Self.levels(hub) == ["a": 1.5, "b": 2.0, "c": 3.0])
        #expect(
            try await hub.entity(tenant: Readings.kurume, id: Readings.gauge("b"))?.attributes["name"] == .property(NGSIProperty(.text("renamed")))
        )

        // The hub writes again: its own merge starts from what the other program wrote (b keeps
        // its new name), and its reads are served decoded again.
        _ = try await hub.ingest(
            Readings.batch([try NGSIEntity(id: Readings.gauge("b"), attributes: ["status": .property(NGSIProperty(.text("ok")))])])
        )
        let b = try await hub.entity(tenant: Readings.kurume, id: Readings.gauge("b"))
        #expect(b?.attributes["name"] == .property(NGSIProperty(.text("renamed"))) && b?.attributes["status"] != nil, "\(String(describing: b))")
        #expect(try await Self.levels(hub) == ["a": 1.5, "b": 2.0, "c": 3.0])
        #expect(try await hub.remove(tenant: Readings.kurume, id: Readings.gauge("c"), attributes: nil, at: Readings.t0))
        #expect(try await Self.levels(hub) == ["a": 1.5, "b": 2.0])
        #expect(try await other.entities(tenant: Readings.kurume, types: nil, ids: nil).map(\.id.localID) == ["a", "b"])
    }

    @Test func aTenantDeletedFromTheCommandLineIsGoneForTheRunningHub() async throws {
        let path = Readings.temporaryDatabase()
        let hub = try SQLiteStore(path: path)
        _ = try await hub.ingest(Readings.batch([Readings.level("a", 1.0, minutes: 0)]))
        #expect(try await Self.levels(hub) == ["a": 1.0])
        let configuration = HubConfiguration(storagePath: path, tenants: [Readings.kurume: .init(gateways: [])])
        _ = try TenantArchive.delete(Readings.kurume, configuration: configuration)
        #expect(try await Self.levels(hub).isEmpty)
        #expect(try await hub.entity(tenant: Readings.kurume, id: Readings.gauge("a")) == nil)
    }
}
