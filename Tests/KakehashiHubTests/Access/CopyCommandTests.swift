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

/// `kakehashi-hub copy` moves a SQLite hub into PostgreSQL: everything arrives once, a copy
/// killed half-way goes on when run again, and the result serves as the old hub did.
@Suite("kakehashi-hub copy")
struct CopyCommandTests {
    @Test func aSQLiteHubMovesIntoPostgresResumingAfterAKill() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-copy-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let sqlitePath = directory.appendingPathComponent("hub.sqlite").path

        // The city's hub: 3 gauges with a reading every 10 minutes for 60 days (25,920 readings
        // over three month partitions), a text series, an alert with its events, keys, a grant,
        // a dead letter.
        let source = try SQLiteStore(path: sqlitePath)
        for day in 0..<60 {
            let readings = (0..<144).flatMap { slot in
                (0..<3).map { g in
                    Readings.level("c\(g)", Double((day * 144 + slot + g) % 400) / 100, minutes: Int64(-86_400 + day * 1440 + slot * 10))
                }
            }
            _ = try await source.ingest(Readings.batch(readings))
        }
        _ = try await source.ingest(
            Readings.batch([Readings.level("c0", 1, minutes: 5, extra: ["status": .property(NGSIProperty(.text("ok"), observedAt: Readings.t0))])])
        )
        let raise = AlertEvent(
            kind: .raised,
            rule: "river-level",
            entity: Readings.gauge("c0"),
            stage: 1,
            stageName: "high",
            severity: .high,
            value: 3.1,
            level: 3,
            at: Readings.t0,
            location: nil
        )
        var clear = raise
        clear.kind = .cleared
        clear.stage = 0
        _ = try await source.recordAlertEvents([raise, clear])
        try await source.recordDeadLetter(
            HubDeadLetter(
                receivedAt: Readings.t0,
                source: "mqtt",
                tenant: "kurume",
                reason: "invalid_batch",
                detail: "not JSON",
                payload: Array("{x".utf8),
                size: 2
            )
        )
        let access = try AccessStore(path: sqlitePath)
        try access.addTenant(try Tenant("saga"))
        let (secret, _) = try access.createKey(tenant: Readings.kurume, role: .operator, label: "desk", expires: nil, knownTenants: [Readings.kurume])
        _ = try access.grant(
            owner: Readings.kurume,
            grantee: try Tenant("saga"),
            type: "WaterObserved",
            area: nil,
            precision: .hourly,
            knownTenants: [Readings.kurume]
        )
        let sourceStatistics = try await source.statistics()

        let url = try TestPostgres.shared().createDatabase(prefix: "copy")
        let from = directory.appendingPathComponent("old.yaml").path, to = directory.appendingPathComponent("new.yaml").path
        try "storage: { path: \(sqlitePath) }\ntenants: { kurume: { gateways: [gw-01] } }\n".write(toFile: from, atomically: true, encoding: .utf8)
        try """
        storage: { kind: postgres, url: "\(url)", path: \(directory.appendingPathComponent("local.sqlite").path) }
        tenants: { kurume: { gateways: [gw-01] } }
        """.write(toFile: to, atomically: true, encoding: .utf8)
        let binary = RepositoryPaths.root.appendingPathComponent(".build/debug/kakehashi-hub").path
        let target = try await PostgresStore.open(.init(url: url), logger: Logger(label: "test"))

        // Killed once readings are on their way (small inserts: many transactions).
        let first = try ChildProcess(
            executable: binary,
            arguments: ["copy", "--from", from, "--to", to, "--chunk", "20", "--progress", "none"],
            logFile: directory.appendingPathComponent("first.log").path
        )
        try await waitUntil("readings are being copied", timeout: .seconds(120)) {
            guard first.isRunning else { return true }
            return (try awaitSync { try await target.statistics() }.observations) > 2000
        }
        let killedEarly = first.isRunning
        first.signal(SIGKILL)
        _ = await first.exit()
        let partial = try await target.statistics().observations
        #expect(!killedEarly || partial < sourceStatistics.observations, "killed after \(partial) readings")

        // Again: it goes on, and verifies.
        let log = directory.appendingPathComponent("second.log").path
        let second = try ChildProcess(executable: binary, arguments: ["copy", "--from", from, "--to", to, "--progress", "lines"], logFile: log)
        let status = await second.exit()
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(output)")
        #expect(output.contains("copied and verified") && output.contains("readings: \(sourceStatistics.observations) in the source"), "\(output)")

        let copied = try await target.statistics()
        #expect(copied.observations == sourceStatistics.observations && copied.entities == sourceStatistics.entities)
        #expect(copied.series == sourceStatistics.series && copied.deadLetters == 1)
        for resolution in RollupResolution.allCases {
            let old = try await source.rollups(
                tenant: Readings.kurume,
                entity: Readings.gauge("c1"),
                attribute: "waterLevel",
                resolution: resolution,
                range: .all
            )
            let new = try await target.rollups(
                tenant: Readings.kurume,
                entity: Readings.gauge("c1"),
                attribute: "waterLevel",
                resolution: resolution,
                range: .all
            )
            #expect(old == new, "\(resolution) rollups differ")
        }
        #expect(
            try await target.entity(tenant: Readings.kurume, id: Readings.gauge("c0"))
                == (try await source.entity(tenant: Readings.kurume, id: Readings.gauge("c0")))
        )
        #expect(
            try await target.observations(
                tenant: Readings.kurume,
                entity: Readings.gauge("c0"),
                attribute: "status",
                range: .all,
                lastN: nil,
                limit: 10
            ).count == 1
        )
        // The alert's history, and the next event id follows it.
        #expect(try await target.alertHistory(tenant: Readings.kurume, alert: 1).map(\.event.kind) == [.raised, .cleared])
        var again = raise
        again.at = Readings.t0.advanced(byMilliseconds: 60_000)
        #expect(try await target.recordAlertEvents([again]).map(\.id) == [3])
        // Keys, tenants and grants: the operator's key works on the new hub.
        let records = try PostgresAccessStore(.init(url: url), logger: Logger(label: "test"))
        #expect(try records.snapshot().keys[secret.id]?.label == "desk")
        #expect(try records.tenants().map(\.tenant.name) == ["saga"])
        #expect(try records.grants(involving: nil).count == 1)

        // A third run copies nothing twice.
        let third = try ChildProcess(
            executable: binary,
            arguments: ["copy", "--from", from, "--to", to, "--progress", "none"],
            logFile: directory.appendingPathComponent("third.log").path
        )
        #expect(await third.exit() == 0)
        let after = try await target.statistics()
        #expect(after.observations == copied.observations && after.deadLetters == 1)
        #expect(try records.grants(involving: nil).count == 1)
        records.close()
        await target.close()
    }
}
