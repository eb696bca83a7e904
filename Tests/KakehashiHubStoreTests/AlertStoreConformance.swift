import Foundation
import KakehashiAlerts
import KakehashiHubCore
import KakehashiHubPostgres
import KakehashiHubSQLite
import KakehashiHubTestSupport
import KakehashiModel
import KakehashiTestSupport
import Logging
import Testing

/// The behaviour every ``AlertStore`` must have, on SQLite and PostgreSQL; and on PostgreSQL,
/// several hubs writing events of one tenant at once.
@Suite("Alert store conformance")
struct AlertStoreConformanceTests {
    static func event(_ kind: AlertEvent.Kind, _ local: String, stage: Int, minutes: Int64, tenant: Tenant = Readings.kurume) -> AlertEvent {
        AlertEvent(
            kind: kind,
            rule: "river-level",
            entity: Readings.gauge(local, tenant: tenant),
            stage: stage,
            stageName: stage > 0 ? "stage \(stage)" : nil,
            severity: stage > 1 ? .high : (stage == 1 ? .medium : nil),
            value: 3 + Double(stage) / 10,
            level: 3,
            at: Readings.t0.advanced(byMilliseconds: minutes * 60_000),
            location: try? GeoPoint(latitude: 33.3, longitude: 130.5)
        )
    }

    /// Runs `body` with a fresh store of `kind` that keeps alerts.
    static func with(_ kind: ConformingStore, _ body: (any AlertStore) async throws -> Void) async throws {
        try await kind.with { stores in
            guard let store = stores[0] as? any AlertStore else {
                Issue.record("\(kind) keeps no alerts")
                return
            }
            try await body(store)
        }
    }

    @Test(arguments: ConformingStore.allCases) func lifeOfAnAlert(_ kind: ConformingStore) async throws {
        try await Self.with(kind) { store in
            let first = try await store.recordAlertEvents([
                Self.event(.raised, "a1", stage: 1, minutes: 0),
                Self.event(.raised, "a1", stage: 1, minutes: 0, tenant: Readings.omuta),
                Self.event(.escalated, "a1", stage: 2, minutes: 10),
            ])
            // Ids per tenant, from 1, without gaps; an alert is named by its raise.
            #expect(first.map(\.id) == [1, 1, 2])
            #expect(first.map(\.alert) == [1, 1, 1])
            let ack = try await store.acknowledgeAlert(
                tenant: Readings.kurume,
                id: 1,
                by: "duty-officer",
                at: Readings.t0.advanced(byMilliseconds: 900_000)
            )
            #expect(ack?.id == 3 && ack?.actor == "duty-officer")
            #expect(try await store.acknowledgeAlert(tenant: Readings.kurume, id: 99, by: "x", at: Readings.t0) == nil)
            let cleared = try await store.recordAlertEvents([Self.event(.cleared, "a1", stage: 0, minutes: 30)])
            #expect(cleared.map(\.id) == [4] && cleared.map(\.alert) == [1])
            let again = try await store.recordAlertEvents([Self.event(.raised, "a1", stage: 1, minutes: 40)])
            #expect(again.map(\.id) == [5] && again.map(\.alert) == [5])

            let alert = try await store.alert(tenant: Readings.kurume, id: 1)
            #expect(alert?.stage == 0 && alert?.clearedAt == Readings.t0.advanced(byMilliseconds: 30 * 60_000))
            #expect(alert?.acknowledgedBy == "duty-officer" && alert?.severity == .high && alert?.stageName == "stage 2")
            #expect(alert?.lastChange == 4 && alert?.lastChangeKind == .cleared && alert?.entity == Readings.gauge("a1"))
            #expect(try await store.alerts(tenant: Readings.kurume, activeOnly: true, limit: 10).map(\.id) == [5])
            #expect(try await store.alerts(tenant: Readings.kurume, activeOnly: false, limit: 10).map(\.id) == [5, 1])
            #expect(
                try await store.alertHistory(tenant: Readings.kurume, alert: 1).map(\.event.kind) == [.raised, .escalated, .acknowledged, .cleared]
            )
            let after2 = try await store.alertEvents(tenant: Readings.kurume, after: 2, limit: 10)
            #expect(after2.map(\.id) == [3, 4, 5])
            #expect(after2.first?.event.location == (try? GeoPoint(latitude: 33.3, longitude: 130.5)))
            #expect(try await store.latestAlertEventID(tenant: Readings.kurume) == 5)
            #expect(try await store.latestAlertEventID(tenant: Readings.omuta) == 1)
            #expect(try await store.latestAlertEventID(tenant: try Tenant("nobody")) == 0)
            #expect(try await store.activeAlerts().map { "\($0.tenant.name)/\($0.id)" }.sorted() == ["kurume/5", "omuta/1"])
            // An event whose raise is not there opens an alert, so it is not lost.
            let orphan = try await store.recordAlertEvents([Self.event(.escalated, "a2", stage: 2, minutes: 50)])
            #expect(orphan.map(\.alert) == orphan.map(\.id))
            #expect(try await store.alert(tenant: Readings.kurume, id: orphan[0].id)?.stage == 2)
        }
    }

    /// Three hubs over one PostgreSQL database record events of one tenant at once while a feed
    /// reads them: ids 1…N without gap or repeat, and the reader, resuming from the last id it
    /// saw, meets every event exactly once (ids never become visible out of order).
    @Test func hubsShareGaplessEventIDs() async throws {
        let url = try TestPostgres.shared().createDatabase(prefix: "alerts")
        var hubs = [PostgresStore]()
        for _ in 0..<3 { hubs.append(try await PostgresStore.open(.init(url: url, poolSize: 4), logger: Logger(label: "test"))) }
        let reader = hubs[0]
        let perHub = 40
        let written = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for (h, hub) in hubs.enumerated() {
                group.addTask {
                    var ids = [Int64]()
                    for n in 0..<perHub {
                        let kind: AlertEvent.Kind = n % 2 == 0 ? .raised : .cleared
                        let records = try await hub.recordAlertEvents([
                            Self.event(kind, "h\(h)-\(n / 2)", stage: kind == .raised ? 1 : 0, minutes: Int64(n))
                        ])
                        ids += records.map(\.id)
                    }
                    return ids
                }
            }
            group.addTask {
                var seen = [Int64]()
                var last: Int64 = 0
                // A skipped id would never be read again: give up after a deadline (a bound for
                // failure only: 120 transactions take a while on a loaded machine).
                let deadline = ContinuousClock.now + .seconds(300)
                while seen.count < 3 * perHub && ContinuousClock.now < deadline {
                    let events = try await reader.alertEvents(tenant: Readings.kurume, after: last, limit: 1000)
                    seen += events.map(\.id)
                    last = events.last?.id ?? last
                }
                return seen
            }
            var all = [[Int64]]()
            for try await ids in group { all.append(ids) }
            return all
        }
        // The reader's list is the one that is not a hub's (a hub's has perHub ids).
        let feed = written.first { $0.count != perHub } ?? []
        #expect(feed == (1...Int64(3 * perHub)).map { $0 })
        #expect(written.filter { $0.count == perHub }.flatMap { $0 }.sorted() == (1...Int64(3 * perHub)).map { $0 })
        #expect(try await reader.activeAlerts().isEmpty)
        for hub in hubs { await hub.close() }
    }
}
