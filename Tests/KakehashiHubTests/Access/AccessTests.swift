import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiHubTestSupport
import KakehashiModel
import KakehashiTestSupport
import Logging
import Testing

/// Who may see and do what: keys, roles and tenants on every route and feed, with real keys in
/// a real hub database.
@Suite(.serialized) struct AccessTests {
    /// Two tenants, each with a gauge rule, so each has alerts of its own.
    /// The two ways of keeping tenants apart; the isolation tests run in both.
    static let separations = ["shared", "per_tenant"]

    static func configuration(
        path: String = Readings.temporaryDatabase(),
        limits: String = "",
        separation: String = "shared"
    ) throws -> HubConfiguration {
        let yaml = """
            storage: { path: \(path), sync: normal, separation: \(separation) }
            tenants: { kurume: { gateways: [gw-01] }, omuta: { gateways: [gw-om] } }
            \(limits)
            alerts:
              rules:
                - { id: stage-k, tenant: kurume, type: WaterObserved, attribute: waterLevel, threshold: { stages: [ { name: high, level: 2.0, \
                severity: high } ] } }
                - { id: stage-o, tenant: omuta, type: WaterObserved, attribute: waterLevel, threshold: { stages: [ { name: high, level: 2.0, \
                severity: high } ] } }
            """
        return try HubConfiguration.parse(yaml: yaml, file: "hub.yaml", baseDirectory: "/")
    }

    /// The keys of one test: made through the same store the command line uses.
    struct Keys {
        let store: AccessStore
        let kurumeReader: String, kurumeOperator: String, kurumeGateway: String, kurumeAdmin: String
        let omutaReader: String, omutaOperator: String, omutaAdmin: String

        init(path: String) throws {
            let store = try AccessStore(path: path)
            self.store = store
            let known: Set<Tenant> = [Readings.kurume, Readings.omuta]
            func make(_ tenant: Tenant, _ role: AccessRole) throws -> String {
                try store.createKey(tenant: tenant, role: role, label: "\(tenant) \(role)", expires: nil, knownTenants: known).secret.description
            }
            kurumeReader = try make(Readings.kurume, .reader)
            kurumeOperator = try make(Readings.kurume, .operator)
            kurumeGateway = try make(Readings.kurume, .gateway)
            kurumeAdmin = try make(Readings.kurume, .admin)
            omutaReader = try make(Readings.omuta, .reader)
            omutaOperator = try make(Readings.omuta, .operator)
            omutaAdmin = try make(Readings.omuta, .admin)
        }
    }

    /// Stores a gauge of each tenant and raises one alert in omuta (its alert 1); kurume has none.
    static func seed(_ client: any TestClientProtocol, _ keys: Keys) async throws {
        let k = try await client.keyed(
            keys.kurumeOperator,
            .post,
            "/ngsi-ld/v1/entityOperations/upsert",
            body: JSONValue.array([Readings.level("k1", 1.0, minutes: 0).json(.normalized)]).jsonText
        )
        #expect(k.status == .created)
        let o = try await client.keyed(
            keys.omutaOperator,
            .post,
            "/ngsi-ld/v1/entityOperations/upsert",
            body: JSONValue.array([Readings.level("o1", 3.0, minutes: 0, tenant: Readings.omuta).json(.normalized)]).jsonText
        )
        #expect(o.status == .created)
    }

    /// Every data route, as a reader of kurume would call it.
    static let readRoutes = [
        "/ngsi-ld/v1/entities?type=WaterObserved",
        "/ngsi-ld/v1/entities/urn:ngsi-ld:WaterObserved:kurume:k1",
        "/ngsi-ld/v1/temporal/entities?type=WaterObserved&timerel=after&timeAt=2026-01-01T00:00:00Z",
        "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:WaterObserved:kurume:k1",
        "/alerts", "/alerts/1", "/feeds/alerts.atom", "/feeds/map.geojson", "/feeds/alerts/1.xml", "/dashboard/session",
    ]

    @Test func everyRouteButHealthAndThePageNeedsAKey() async throws {
        let configuration = try Self.configuration()
        try await HubHarness.withHub(configuration, access: true) { _, client in
            for route in Self.readRoutes + ["/metrics", "/feeds/alerts", "/feeds/alerts/ws"] {
                let reply = try await client.call(.get, route, tenant: nil)
                #expect(reply.status == .unauthorized, "\(route) without a key")
                #expect(reply.problemType == "urn:kakehashi:problem:Unauthorized", "\(route)")
                #expect(reply.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true, "\(route)")
            }
            for (method, route) in [(HTTPRequest.Method.post, "/ngsi-ld/v1/entityOperations/upsert"), (.post, "/alerts/1/acknowledge")] {
                #expect(try await client.call(method, route, tenant: nil, body: "[]").status == .unauthorized, "\(route)")
            }
            // Open: health, and the dashboard's own files (the login page: no data in them).
            for route in ["/healthz", "/", "/dashboard/app.js", "/dashboard/outlines.geojson"] {
                #expect(try await client.call(.get, route, tenant: nil).status == .ok, "\(route)")
            }
            // A made-up key, and a key-shaped one that is not stored.
            let fake = "kk_0123456789ab_" + String(repeating: "0", count: 48)
            for key in ["letmein", fake] {
                let reply = try await client.keyed(key, .get, "/alerts")
                #expect(reply.status == .unauthorized)
            }
        }
    }

    @Test(arguments: separations) func aReaderSeesItsOwnTenantOnlyOnEveryRoute(separation: String) async throws {
        let configuration = try Self.configuration(separation: separation)
        let keys = try Keys(path: configuration.storagePath)
        try await HubHarness.withHub(configuration, access: true) { _, client in
            try await Self.seed(client, keys)
            for route in Self.readRoutes {
                // Naming the other tenant is refused, by header or by parameter.
                let byHeader = try await client.keyed(keys.kurumeReader, .get, route, tenant: Readings.omuta)
                #expect(byHeader.status == .forbidden, "\(route) with NGSILD-Tenant: omuta")
                let separator = route.contains("?") ? "&" : "?"
                let byParameter = try await client.keyed(keys.kurumeReader, .get, route + separator + "tenant=omuta")
                #expect(byParameter.status == .forbidden, "\(route)?tenant=omuta")
                // Its own tenant's answer never holds omuta's data.
                let own = try await client.keyed(keys.kurumeReader, .get, route)
                #expect(own.status != .internalServerError, "\(route)")
                #expect(!own.text.contains("omuta"), "\(route) shows omuta's data to kurume: \(own.text.prefix(200))")
            }
            // Omuta's entity and alert by id: not found for kurume, found for omuta.
            #expect(try await client.keyed(keys.kurumeReader, .get, "/ngsi-ld/v1/entities/urn:ngsi-ld:WaterObserved:omuta:o1").status == .notFound)
            #expect(try await client.keyed(keys.omutaReader, .get, "/ngsi-ld/v1/entities/urn:ngsi-ld:WaterObserved:omuta:o1").status == .ok)
            #expect(try await client.keyed(keys.kurumeReader, .get, "/alerts/1").status == .notFound)
            #expect(try await client.keyed(keys.omutaReader, .get, "/alerts/1").status == .ok)
            let listed = try await client.keyed(keys.kurumeReader, .get, "/ngsi-ld/v1/entities?type=WaterObserved").json.arrayValue ?? []
            #expect(listed.compactMap { $0["id"]?.stringValue } == ["urn:ngsi-ld:WaterObserved:kurume:k1"])
            // The dashboard's session names only the key's tenant.
            let session = try await client.keyed(keys.kurumeReader, .get, "/dashboard/session").json
            #expect(session["tenant"] == "kurume" && session["tenants"] == .array(["kurume"]) && session["role"] == "reader")
        }
    }

    @Test(arguments: separations) func rolesDecideWhatAKeyMayDo(separation: String) async throws {
        let configuration = try Self.configuration(separation: separation)
        let keys = try Keys(path: configuration.storagePath)
        try await HubHarness.withHub(configuration, access: true) { _, client in
            try await Self.seed(client, keys)
            let body = JSONValue.array([Readings.level("k2", 1.0, minutes: 5).json(.normalized)]).jsonText
            // A gateway key sends readings and reads nothing.
            #expect(try await client.keyed(keys.kurumeGateway, .post, "/ngsi-ld/v1/entityOperations/upsert", body: body).status == .created)
            for route in Self.readRoutes + ["/metrics"] {
                let reply = try await client.keyed(keys.kurumeGateway, .get, route)
                #expect(reply.status == .forbidden, "a gateway key on \(route)")
                #expect(reply.problemType == "urn:kakehashi:problem:Forbidden")
            }
            // A reader neither writes nor acknowledges nor reads the metrics.
            #expect(try await client.keyed(keys.kurumeReader, .post, "/ngsi-ld/v1/entityOperations/upsert", body: body).status == .forbidden)
            #expect(try await client.keyed(keys.omutaReader, .post, "/alerts/1/acknowledge", body: #"{"by":"x"}"#).status == .forbidden)
            #expect(try await client.keyed(keys.kurumeReader, .get, "/metrics").status == .forbidden)
            #expect(try await client.keyed(keys.kurumeAdmin, .get, "/metrics").status == .ok)
            // An operator acknowledges its own tenant's alerts only: kurume's operator cannot
            // reach omuta's alert 1 (kurume has no alert 1), omuta's can.
            #expect(try await client.keyed(keys.kurumeOperator, .post, "/alerts/1/acknowledge", body: #"{"by":"kurume duty"}"#).status == .notFound)
            #expect(try await client.keyed(keys.omutaReader, .get, "/alerts/1").json["acknowledgedBy"] == nil)
            let ack = try await client.keyed(keys.omutaOperator, .post, "/alerts/1/acknowledge", body: #"{"by":"omuta duty"}"#)
            #expect(ack.status == .ok && ack.json["by"] == "omuta duty")
            // An operator's readings go to its own tenant only: an id naming omuta is still kurume's
            // (the key decides the tenant, never the id).
            let foreign = JSONValue.array([Readings.level("x", 1.0, minutes: 5, tenant: Readings.omuta).json(.normalized)]).jsonText
            let written = try await client.keyed(keys.kurumeOperator, .post, "/ngsi-ld/v1/entityOperations/upsert", body: foreign)
            #expect(written.status == .created, "\(written.status): \(written.text)")
            #expect(try await client.keyed(keys.omutaReader, .get, "/ngsi-ld/v1/entities/urn:ngsi-ld:WaterObserved:omuta:x").status == .notFound)
            #expect(try await client.keyed(keys.kurumeReader, .get, "/ngsi-ld/v1/entities/urn:ngsi-ld:WaterObserved:omuta:x").status == .ok)
        }
    }

    @Test func revokedExpiredAndNewKeysTakeEffectWithoutARestart() async throws {
        let configuration = try Self.configuration()
        let keys = try Keys(path: configuration.storagePath)
        try await HubHarness.withHub(configuration, access: true) { _, client in
            #expect(try await client.keyed(keys.kurumeReader, .get, "/alerts").status == .ok)
            try keys.store.revokeKey(id: try #require(APIKeySecret(keys.kurumeReader)).id)
            let revoked = try await client.keyed(keys.kurumeReader, .get, "/alerts")
            #expect(revoked.status == .unauthorized && revoked.json["detail"]?.stringValue?.contains("revoked") == true)

            // A key that expires in a moment works, then does not.
            let soon = Timestamp(Date()).advanced(byMilliseconds: 5000)
            let short = try keys.store.createKey(
                tenant: Readings.kurume,
                role: .reader,
                label: nil,
                expires: soon,
                knownTenants: [Readings.kurume]
            ).secret.description
            #expect(try await client.keyed(short, .get, "/alerts").status == .ok)
            try await waitUntil("the key expires", timeout: .seconds(20)) { Timestamp(Date()) > soon }
            let expired = try await client.keyed(short, .get, "/alerts")
            #expect(expired.status == .unauthorized && expired.json["detail"]?.stringValue?.contains("expired") == true)

            // A tenant added while the hub runs, with its key: served at once.
            let yame = try Tenant("yame")
            try keys.store.addTenant(yame)
            let yameKey = try keys.store.createKey(tenant: yame, role: .operator, label: nil, expires: nil).secret.description
            let body = JSONValue.array([Readings.level("y1", 1.0, minutes: 0, tenant: yame).json(.normalized)]).jsonText
            #expect(try await client.keyed(yameKey, .post, "/ngsi-ld/v1/entityOperations/upsert", body: body).status == .created)
            let seen = try await client.keyed(yameKey, .get, "/ngsi-ld/v1/entities?type=WaterObserved").json.arrayValue ?? []
            #expect(seen.compactMap { $0["id"]?.stringValue } == ["urn:ngsi-ld:WaterObserved:yame:y1"])
        }
    }

    @Test func aKeyOverItsRateIsToldWhenToComeBack() async throws {
        let configuration = try Self.configuration(limits: "limits: { requests_per_second: 1, request_burst: 5 }")
        let keys = try AccessTests.Keys(path: configuration.storagePath)
        try await HubHarness.withHub(configuration, access: true) { _, client in
            // The burst goes through; then, however slow this machine, the refill (one a second)
            // cannot keep up with requests sent back to back: a 429 comes.
            let began = ContinuousClock.now
            var allowed = 0
            var limited: Reply?
            while limited == nil, allowed < 100 {
                let reply = try await client.keyed(keys.kurumeReader, .get, "/alerts")
                if reply.status == .tooManyRequests { limited = reply } else { #expect(reply.status == .ok); allowed += 1 }
            }
            let seconds = Double((ContinuousClock.now - began).components.seconds) + 1
            #expect(allowed >= 5 && Double(allowed) <= 5 + seconds, "\(allowed) allowed before the first 429")
            let refused = try #require(limited)
            #expect(refused.problemType == "urn:kakehashi:problem:TooManyRequests")
            #expect(Int(refused.headers[.retryAfter] ?? "") ?? 0 >= 1)
            // Another key has its own budget.
            #expect(try await client.keyed(keys.kurumeOperator, .get, "/alerts").status == .ok)
        }
    }

    @Test func bodiesAndPagesAreBounded() async throws {
        var configuration = try Self.configuration()
        configuration.limits.maxBodyBytes = 4096
        configuration.limits.maxPageSize = 50
        let keys = try Keys(path: configuration.storagePath)
        try await HubHarness.withHub(configuration, access: true) { _, client in
            let big = JSONValue.array((0..<100).map { Readings.level("k\($0)", 1.0, minutes: 0).json(.normalized) }).jsonText
            let tooBig = try await client.keyed(keys.kurumeOperator, .post, "/ngsi-ld/v1/entityOperations/upsert", body: big)
            #expect(tooBig.status == .contentTooLarge && tooBig.problemType == "RequestEntityTooLarge")
            let tooMany = try await client.keyed(keys.kurumeReader, .get, "/ngsi-ld/v1/entities?type=WaterObserved&limit=51")
            #expect(tooMany.status == .badRequest || tooMany.status == .forbidden)
            #expect(tooMany.problemType != nil)
        }
    }

    /// Injection attempts in every query parameter: a ProblemDetails or an empty answer, never
    /// a 500 and never another tenant's rows.
    @Test(arguments: [
        "/ngsi-ld/v1/entities?type=WaterObserved&q=waterLevel>0;id==\"urn:ngsi-ld:WaterObserved:omuta:o1\"",
        "/ngsi-ld/v1/entities?type=WaterObserved&q=waterLevel==1' OR '1'='1",
        "/ngsi-ld/v1/entities?type=WaterObserved&q=waterLevel==1) OR (1==1",
        "/ngsi-ld/v1/entities?type=WaterObserved&q=name==\"x\"%3B DROP TABLE entities%3B--",
        "/ngsi-ld/v1/entities?type=WaterObserved' OR tenant='omuta",
        "/ngsi-ld/v1/entities?type=WaterObserved&ids=urn:ngsi-ld:WaterObserved:omuta:o1",
        "/ngsi-ld/v1/entities?id=urn:ngsi-ld:WaterObserved:omuta:o1",
        "/ngsi-ld/v1/entities?id=urn:ngsi-ld:WaterObserved:kurume:k1,urn:ngsi-ld:WaterObserved:omuta:o1",
        "/ngsi-ld/v1/entities?id=urn:ngsi-ld:WaterObserved:kurume:k1' OR '1'='1",
        "/ngsi-ld/v1/entities?type=WaterObserved&q=waterLevel~=\".*\"",
        "/ngsi-ld/v1/entities?type=WaterObserved&attrs=waterLevel,tenant&q=tenant==\"omuta\"",
        "/ngsi-ld/v1/entities?type=WaterObserved&ids=urn:ngsi-ld:WaterObserved:kurume:k1',(SELECT id FROM entities)--",
        "/ngsi-ld/v1/entities?idPattern=.*omuta.*",
        "/ngsi-ld/v1/entities?type=WaterObserved&georel=near;maxDistance==100000' OR '1'='1&geometry=Point&coordinates=[130.5,33.3]",
        "/ngsi-ld/v1/entities?type=WaterObserved&georel=within&geometry=Polygon&coordinates=[[[0,0],[0,90],[180,90],[180,0],[0,0]]]",
        "/ngsi-ld/v1/entities?type=WaterObserved&georel=intersects&geometry=Point&coordinates=[1e999,33]",
        "/ngsi-ld/v1/temporal/entities?type=WaterObserved&timerel=after&timeAt=2026-01-01T00:00:00Z' OR '1'='1",
        "/ngsi-ld/v1/temporal/entities?type=WaterObserved&ids=urn:ngsi-ld:WaterObserved:omuta:o1&timerel=after&timeAt=2026-01-01T00:00:00Z",
        "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:WaterObserved:omuta:o1",
        "/ngsi-ld/v1/entities/urn:ngsi-ld:WaterObserved:kurume:k1%27%20OR%20%271%27=%271",
        "/alerts?tenant=kurume' OR '1'='1",
        "/alerts/1 OR 1=1",
        "/feeds/map.geojson?severity=high' OR '1'='1",
    ])
    func injectionAttemptsNeverLeakOrFail(route: String) async throws {
        for separation in Self.separations { try await injection(route: route, separation: separation) }
    }

    func injection(route: String, separation: String) async throws {
        let configuration = try Self.configuration(separation: separation)
        let keys = try Keys(path: configuration.storagePath)
        try await HubHarness.withHub(configuration, access: true) { _, client in
            try await Self.seed(client, keys)
            let encoded =
                route.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "'\" ")))?
                .replacingOccurrences(of: "%25", with: "%") ?? route
            let reply = try await client.keyed(keys.kurumeReader, .get, encoded)
            #expect(reply.status != .internalServerError, "\(route): \(reply.text.prefix(200))")
            // Omuta's gauge is named "gauge o1" and is at 3.0 m: neither may appear (an error
            // may repeat the id it was asked for).
            #expect(!reply.text.contains("gauge o1") && !reply.text.contains("3.0"), "\(route) leaked omuta's entity: \(reply.text.prefix(200))")
            if reply.status == .ok { #expect(!reply.text.contains("omuta"), "\(route): \(reply.text.prefix(200))") }
            if reply.status.code >= 400 {
                #expect(reply.problemType != nil, "\(route) answered \(reply.status) without ProblemDetails: \(reply.text.prefix(200))")
            }
        }
    }
}

extension TestClientProtocol {
    /// A call with `key` as its bearer token (and no tenant header unless given).
    func keyed(_ key: String, _ method: HTTPRequest.Method, _ uri: String, tenant: Tenant? = nil, body: String? = nil) async throws -> Reply {
        try await call(method, uri, tenant: tenant, headers: [.authorization: "Bearer \(key)"], body: body)
    }
}
