import Foundation
import KakehashiHubCore
import KakehashiHubPostgres
import KakehashiHubSQLite
import KakehashiHubTestSupport
import KakehashiModel
import KakehashiTestSupport
import Logging
import Testing

/// Tenants, gateways, keys and grants behave alike in the SQLite file and in PostgreSQL; and
/// over PostgreSQL, what one hub writes counts on another within a second or two.
@Suite("Access records conformance")
struct AccessRecordsConformanceTests {
    enum Kind: String, CaseIterable, Sendable { case sqlite, postgres }

    static func withRecords(_ kind: Kind, _ body: (any AccessRecords) async throws -> Void) async throws {
        switch kind {
        case .sqlite:
            try await body(try AccessStore(path: Readings.temporaryDatabase()))
        case .postgres:
            let url = try TestPostgres.shared().createDatabase(prefix: "access")
            let settings = PostgresStore.Settings(url: url)
            let store = try await PostgresStore.open(settings, logger: Logger(label: "test"))
            let records = try PostgresAccessStore(settings, logger: Logger(label: "test"))
            defer { records.close() }
            try await body(records)
            await store.close()
        }
    }

    static func refused(_ expected: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("accepted; expected a refusal saying \(expected)")
        } catch {
            #expect("\(error)".contains(expected), "\(error) does not say \(expected)")
        }
    }

    @Test(arguments: Kind.allCases) func recordsBehaveAlike(_ kind: Kind) async throws {
        try await Self.withRecords(kind) { records in
            let now = Readings.t0
            let start = try records.version()
            try records.addTenant(try Tenant("saga"), display: "佐賀市", now: now)
            Self.refused("tenant saga exists already") { try records.addTenant(try Tenant("saga"), display: nil, now: now) }
            try records.addGateway(try GatewayID("gw-saga-1"), tenant: try Tenant("saga"), now: now)
            Self.refused("gateway gw-saga-1 is registered already, for tenant saga") {
                try records.addGateway(try GatewayID("gw-saga-1"), tenant: try Tenant("saga"), now: now)
            }
            Self.refused("tenant nowhere does not exist") { try records.addGateway(try GatewayID("gw-x"), tenant: try Tenant("nowhere"), now: now) }
            #expect(try records.tenants().map(\.display) == ["佐賀市"])
            #expect(try records.tenants().first?.gateways == [try GatewayID("gw-saga-1")])
            #expect(try records.gateways().map(\.gateway.rawValue) == ["gw-saga-1"])

            let (secret, record) = try records.createKey(
                tenant: try Tenant("saga"),
                role: .operator,
                label: "duty desk",
                expires: nil,
                knownTenants: [],
                now: now
            )
            _ = try records.createKey(
                tenant: Readings.kurume,
                role: .reader,
                label: nil,
                expires: nil,
                knownTenants: [Readings.kurume],
                now: now.advanced(byMilliseconds: 1000)
            )
            Self.refused("tenant omuta does not exist") {
                _ = try records.createKey(tenant: Readings.omuta, role: .reader, label: nil, expires: nil, knownTenants: [], now: now)
            }
            Self.refused("is not in the future") {
                _ = try records.createKey(tenant: Readings.kurume, role: .reader, label: nil, expires: now, knownTenants: [Readings.kurume], now: now)
            }
            #expect(try records.keys(tenant: nil).map(\.tenant.name) == ["kurume", "saga"])
            #expect(try records.keys(tenant: try Tenant("saga")).map(\.label) == ["duty desk"])
            // Only the salted hash is kept, and it checks the secret.
            let snapshot = try records.snapshot()
            #expect(snapshot.keys[secret.id]?.hash == record.hash && snapshot.keys[secret.id]?.role == .operator)
            #expect(snapshot.tenants[try Tenant("saga")] == [try GatewayID("gw-saga-1")])

            let area = [
                try GeoPoint(latitude: 33.2, longitude: 130.2), try GeoPoint(latitude: 33.3, longitude: 130.2),
                try GeoPoint(latitude: 33.3, longitude: 130.3), try GeoPoint(latitude: 33.2, longitude: 130.2),
            ]
            let grant = try records.grant(
                owner: try Tenant("saga"),
                grantee: Readings.kurume,
                type: "WaterObserved",
                area: area,
                precision: .hourly,
                knownTenants: [Readings.kurume],
                now: now
            )
            Self.refused("a tenant sees its own data already") {
                _ = try records.grant(
                    owner: Readings.kurume,
                    grantee: Readings.kurume,
                    type: "X",
                    area: nil,
                    precision: .full,
                    knownTenants: [Readings.kurume],
                    now: now
                )
            }
            #expect(try records.grants(involving: Readings.kurume).map(\.area) == [area])
            #expect(try records.grants(involving: Readings.omuta).isEmpty)
            #expect(try records.snapshot().grants[Readings.kurume]?.map(\.id) == [grant.id])

            try records.revokeKey(id: record.id, now: now.advanced(byMilliseconds: 5000))
            Self.refused("key \(record.id) is revoked already") { try records.revokeKey(id: record.id, now: now) }
            Self.refused("no key has the id 000000000000") { try records.revokeKey(id: "000000000000", now: now) }
            try records.revokeGrant(id: grant.id, now: now)
            Self.refused("no active grant has the id \(grant.id)") { try records.revokeGrant(id: grant.id, now: now) }
            let after = try records.snapshot()
            #expect(after.keys[record.id]?.revoked == now.advanced(byMilliseconds: 5000))
            #expect(after.grants[Readings.kurume] == nil)
            #expect(try records.version() > start)
        }
    }

    /// Two hubs over one database: a key made through one is known to the other within two
    /// refresh intervals, and its revocation too.
    @Test func hubsSeeEachOthersKeys() async throws {
        let url = try TestPostgres.shared().createDatabase(prefix: "access_hubs")
        let settings = PostgresStore.Settings(url: url)
        let store = try await PostgresStore.open(settings, logger: Logger(label: "test"))
        let (a, b) = (try PostgresAccessStore(settings, logger: Logger(label: "a")), try PostgresAccessStore(settings, logger: Logger(label: "b")))
        let (_, record) = try a.createKey(
            tenant: Readings.kurume,
            role: .reader,
            label: "shared",
            expires: nil,
            knownTenants: [Readings.kurume],
            now: Readings.t0
        )
        #expect(try a.snapshot().keys[record.id] != nil)
        try await waitUntil("hub b knows the key", timeout: .seconds(30)) { try b.snapshot().keys[record.id] != nil }
        try a.revokeKey(id: record.id, now: Readings.t0)
        try await waitUntil("hub b knows the key is revoked", timeout: .seconds(30)) { try b.snapshot().keys[record.id]?.revoked != nil }
        a.close()
        b.close()
        await store.close()
    }
}
