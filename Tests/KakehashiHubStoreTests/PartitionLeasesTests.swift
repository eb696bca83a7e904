import Foundation
import KakehashiAlerts
import KakehashiHubPostgres
import KakehashiHubTestSupport
import KakehashiModel
import KakehashiTestSupport
import Logging
import Testing

/// The 64 partitions of entities shared by hubs through lease rows, against a real PostgreSQL:
/// split fairly, taken over when a hub stops, a former owner fenced out.
@Suite("Partition leases")
struct PartitionLeasesTests {
    @Test func partitionsAreStableAndEven() throws {
        // The same entity is in the same partition on every hub and in every version.
        #expect(
            PartitionLeases.partition(tenant: Readings.kurume, entity: "urn:ngsi-ld:WaterObserved:kurume:g1")
                == PartitionLeases.partition(tenant: Readings.kurume, entity: "urn:ngsi-ld:WaterObserved:kurume:g1")
        )
        #expect(
            PartitionLeases.partition(tenant: Readings.kurume, entity: "urn:ngsi-ld:WaterObserved:kurume:g1")
                != PartitionLeases.partition(tenant: Readings.omuta, entity: "urn:ngsi-ld:WaterObserved:kurume:g1")
                || PartitionLeases.partition(tenant: Readings.kurume, entity: "urn:ngsi-ld:WaterObserved:kurume:g2")
                    != PartitionLeases.partition(tenant: Readings.kurume, entity: "urn:ngsi-ld:WaterObserved:kurume:g1")
        )
        var counts = [Int](repeating: 0, count: PartitionLeases.count)
        for i in 0..<12_800 { counts[PartitionLeases.partition(tenant: Readings.kurume, entity: "urn:ngsi-ld:WaterObserved:kurume:\(i)")] += 1 }
        // 200 each on average.
        #expect(counts.min()! > 130 && counts.max()! < 270, "\(counts)")
    }

    @Test func hubsSplitThePartitionsAndTakeOverAStoppedOne() async throws {
        let url = try TestPostgres.shared().createDatabase(prefix: "leases")
        let store = try await PostgresStore.open(.init(url: url), logger: Logger(label: "test"))
        // Leases long enough that no round, however slow on a loaded machine, outlives them:
        // then no two hubs ever hold one partition.
        let a = PartitionLeases(store: store, instance: "a", ttl: .seconds(60))
        let b = PartitionLeases(store: store, instance: "b", ttl: .seconds(60))
        // Alone, a takes everything; when b comes, a gives half back and b takes it.
        #expect(try await a.round().count == 64)
        #expect(try await b.round().isEmpty)
        let aHalf = try await a.round()
        let bHalf = try await b.round()
        #expect(aHalf.count == 32 && bHalf.count == 32)
        #expect(Set(aHalf.keys).isDisjoint(with: bHalf.keys))
        // Rounds at once never take one partition twice.
        let c = PartitionLeases(store: store, instance: "c", ttl: .seconds(60))
        for _ in 0..<3 {
            async let x = a.round()
            async let y = b.round()
            async let z = c.round()
            let (hx, hy, hz) = try await (x, y, z)
            #expect(Set(hx.keys).isDisjoint(with: hy.keys) && Set(hx.keys).isDisjoint(with: hz.keys) && Set(hy.keys).isDisjoint(with: hz.keys))
        }
        try await c.releaseAll()

        // b stops (dies): once its leases expire, a takes them with a new epoch, and b's old
        // epoch no longer holds (fenced out). Short leases from here on.
        let shortA = PartitionLeases(store: store, instance: "a", ttl: .seconds(5))
        let shortB = PartitionLeases(store: store, instance: "b", ttl: .seconds(5))
        let beforeB = try await shortB.round()
        let victim = try #require(beforeB.keys.min())
        #expect(try await shortB.stillHolds(victim, epoch: beforeB[victim]!))
        var held = try await shortA.round()
        let deadline = ContinuousClock.now + .seconds(60)
        while held.count < 64 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            held = try await shortA.round()
        }
        #expect(held.count == 64)
        #expect(held[victim]! > beforeB[victim]!)
        #expect(try await shortB.stillHolds(victim, epoch: beforeB[victim]!) == false)
        #expect(try await shortA.stillHolds(victim, epoch: held[victim]!))

        // Two hubs that both believe they evaluate the victim partition (b paused past its
        // lease): only the holder's events are stored; b's are refused, not stored twice.
        let raise = AlertStoreConformanceTests.event(.raised, "fenced", stage: 1, minutes: 0)
        let stale = try await store.recordAlertEvents([raise], fence: LeaseFence(instance: "b", partition: victim, epoch: beforeB[victim]!))
        #expect(stale == nil)
        let current = try await store.recordAlertEvents([raise], fence: LeaseFence(instance: "a", partition: victim, epoch: held[victim]!))
        #expect(current?.count == 1)
        #expect(try await store.activeAlerts().count == 1)
        #expect(try await store.alertEvents(tenant: Readings.kurume, after: 0, limit: 10).map(\.id) == [1])
        await store.close()
    }
}
