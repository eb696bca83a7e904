import Foundation
import KakehashiConfig
import KakehashiModel
import KakehashiSQLite
import KakehashiTestSupport
import Testing

@testable import KakehashiGateway

/// The NGSI-LD uplink's configuration and how it reads a broker's answers (the whole path against
/// a running hub, across an outage and with refused readings, is in `TransportFaultTests`).
@Suite struct NGSILDUplinkTests {
    static func parse(_ central: String, environment: [String: String] = [:]) throws -> GatewayConfiguration {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-ngsild-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.copyItem(
            at: RepositoryPaths.root.appendingPathComponent("deploy/gateway/devices.yaml"),
            to: directory.appendingPathComponent("devices.yaml")
        )
        let yaml = """
            tenant: kurume
            gateway: gw-01
            central: \(central)
            devices: devices.yaml
            sources:
              - name: edge
                kind: mqtt
                broker: { host: 127.0.0.1 }
                topics:
                  - pattern: flood/{sensor}/level
                    format: json
                    timestamp: { field: ts, format: iso8601 }
                    values: [ { attribute: waterLevel, field: level, unit: MTR } ]
            """
        return try GatewayConfiguration.parse(yaml: yaml, file: "gw.yaml", baseDirectory: directory.path, environment: environment)
    }

    @Test func anNGSILDBrokerIsConfiguredWithItsURLTenantTokenAndHeaders() throws {
        let configuration = try Self.parse(
            """
            { kind: ngsi-ld, url: "https://fiware.pref.example.lg.jp/api/", tenant: fukuoka, token_env: NGSI_TOKEN,
              headers: { X-Api-Key: abc }, timeout: 5s, retry_max: 2m, batch_size: 50 }
            """,
            environment: ["NGSI_TOKEN": "t0ken"]
        )
        let ngsiLD = try #require(configuration.uplink.ngsiLD)
        #expect(ngsiLD.upsertURL == "https://fiware.pref.example.lg.jp/api/ngsi-ld/v1/entityOperations/upsert?options=update")
        #expect(ngsiLD.tenant == "fukuoka" && ngsiLD.token == "t0ken" && ngsiLD.headers == ["X-Api-Key": "abc"])
        #expect(ngsiLD.timeout == .seconds(5) && ngsiLD.retryMax == .seconds(120) && configuration.uplink.batchSize == 50)
        // The tenant defaults to the gateway's; an empty one sends no NGSILD-Tenant.
        #expect(try Self.parse("{ kind: ngsi-ld, url: http://127.0.0.1:8080 }").uplink.ngsiLD?.tenant == "kurume")
        #expect(try Self.parse(#"{ kind: ngsi-ld, url: http://127.0.0.1:8080, tenant: "" }"#).uplink.ngsiLD?.tenant == nil)
        // Without kind, the central MQTT broker as before.
        #expect(try Self.parse("{ host: 127.0.0.1 }").uplink.ngsiLD == nil)
    }

    @Test(arguments: [
        ("{ kind: ngsi-ld }", "url"),
        ("{ kind: ngsi-ld, url: ftp://x }", "is the NGSI-LD broker's base URL"),
        ("{ kind: ngsi-ld, url: \"http://x/?a=b\" }", "is the NGSI-LD broker's base URL"),
        ("{ kind: ngsi-ld, url: http://x, host: y }", "unknown key 'host'"),
        ("{ kind: ngsi-ld, url: http://x, headers: { Content-Type: text/plain } }", "Content-Type is set by the gateway"),
        ("{ kind: ngsi-ld, url: http://x, timeout: 10ms }", "a timeout under 1s"),
        ("{ kind: http, url: http://x }", "central.kind is mqtt"),
        ("{ kind: ngsi-ld, url: http://127.0.0.1, token_env: MISSING }", "MISSING is not set"),
    ])
    func badSettingsAreNamed(_ central: String, _ words: String) {
        do {
            _ = try Self.parse(central)
            Issue.record("accepted: \(central)")
        } catch {
            #expect("\(error)".contains(words), "\(error)")
        }
    }

    /// How each answer is read, on bodies as this hub and NGSI-LD brokers write them.
    @Test func answersAreReadAsTheSpecWritesThem() {
        #expect(NGSILDUplink.outcome(status: 201, body: Array(#"["urn:a"]"#.utf8), retryAfter: nil) == .answered(refused: [:]))
        #expect(NGSILDUplink.outcome(status: 204, body: [], retryAfter: nil) == .answered(refused: [:]))
        let partial = """
            {"success":["urn:ngsi-ld:WaterObserved:kurume:s1"],"errors":[{"entityId":"urn:ngsi-ld:WaterObserved:kurume:s2",
             "error":{"type":"https://uri.etsi.org/ngsi-ld/errors/BadRequestData","title":"BadRequestData","status":400,
             "detail":"too_old: observed 2026-06-02T00:00:00Z, more than 30d ago (limits.max_reading_age)"}}]}
            """
        #expect(
            NGSILDUplink.outcome(status: 207, body: Array(partial.utf8), retryAfter: nil)
                == .answered(refused: [
                    "urn:ngsi-ld:WaterObserved:kurume:s2":
                        "BadRequestData: too_old: observed 2026-06-02T00:00:00Z, more than 30d ago (limits.max_reading_age)"
                ])
        )
        let invalid = #"{"type":"https://uri.etsi.org/ngsi-ld/errors/InvalidRequest","title":"InvalidRequest","detail":"the body is not valid JSON"}"#
        #expect(
            NGSILDUplink.outcome(status: 400, body: Array(invalid.utf8), retryAfter: nil)
                == .refusedWhole(status: 400, reason: "InvalidRequest: the body is not valid JSON")
        )
        #expect(NGSILDUplink.outcome(status: 413, body: [], retryAfter: nil) == .refusedWhole(status: 413, reason: ""))
        guard case .retry(let reason, let after) = NGSILDUplink.outcome(status: 503, body: Array("busy".utf8), retryAfter: "7") else {
            Issue.record("a 503 is tried again")
            return
        }
        #expect(reason.contains("HTTP 503: busy") && after == .seconds(7))
        guard case .retry(let unauthorized, nil) = NGSILDUplink.outcome(status: 401, body: [], retryAfter: nil) else {
            Issue.record("a 401 keeps the readings")
            return
        }
        #expect(unauthorized.contains("check central.token"))
        guard case .retry(let notFound, nil) = NGSILDUplink.outcome(status: 404, body: [], retryAfter: nil) else {
            Issue.record("a 404 keeps the readings")
            return
        }
        #expect(notFound.contains("check central.url"))
        #expect(NGSILDUplink.entityID(Array(#"{"id":"urn:x:1","type":"T"}"#.utf8)) == "urn:x:1")
    }
}

/// The NGSI-LD uplink against a broker that refuses whole batches for one bad reading: the
/// gateway splits them until the bad readings are alone, dead-letters those with the broker's
/// reason and delivers every other reading once.
@Suite(.serialized) struct NGSILDStrictBrokerTests {
    @Test(.timeLimit(.minutes(3)))
    func aWholeBatchRefusedForOneReadingIsSplitUntilOnlyThatReadingIsLeft() async throws {
        let port = try TestBroker.freePort()
        let harness = try GatewayHarness(central: "{ kind: ngsi-ld, url: http://127.0.0.1:\(port), batch_size: 50, retry_max: 1s }")
        let accepted = harness.directory.appendingPathComponent("accepted.jsonl").path
        let broker = try ChildProcess(
            executable: "/usr/bin/env",
            arguments: ["python3", RepositoryPaths.root.appendingPathComponent("Tests/Tools/strict_ngsild_broker.py").path, String(port), accepted],
            logFile: harness.directory.appendingPathComponent("broker.log").path
        )
        defer { broker.signal(SIGKILL); _ = broker.wait() }
        try await waitUntil("the broker listens", timeout: .seconds(30)) { TestBroker.accepts(port: port) }
        try await harness.prepareEdgeSession()
        try harness.start()
        defer { harness.kill() }

        // 200 readings; every 37th is negative (valid at the gateway, refused by this broker).
        let sensors = try await harness.sensorClient()
        let bad = Set(stride(from: 5, to: 200, by: 37))
        for second in 0..<200 {
            let level = bad.contains(second) ? -250.0 : Double(100 + second)
            try await sensors.publish(
                "flood/s\(second % 20)/level",
                payload: GatewayHarness.floodPayload(level: level, second: second),
                qos: .atLeastOnce
            )
        }
        await sensors.disconnect()

        func lines() -> [String] { ((try? String(contentsOfFile: accepted, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        func deadLetters() throws -> [(reason: String, detail: String)] {
            let db = try SQLiteConnection(path: harness.outboxFile, readOnly: true)
            try db.execute("PRAGMA busy_timeout=5000")
            let rows = try db.prepare("SELECT reason, detail FROM deadletters")
            var letters = [(reason: String, detail: String)]()
            while try rows.step() { letters.append((rows.string(0) ?? "", rows.string(1) ?? "")) }
            return letters
        }
        var letters = [(reason: String, detail: String)]()
        try await waitUntil("every reading was delivered or dead-lettered", timeout: .seconds(60)) {
            letters = (try? deadLetters()) ?? []
            return lines().count + letters.count >= 200
        }
        #expect(lines().count == 200 - bad.count, "\(harness.log.suffix(2000))")
        #expect(Set(lines()).count == lines().count, "no reading delivered twice")
        #expect(letters.count == bad.count)
        #expect(
            letters.allSatisfy { $0.reason == "refused_by_broker" && $0.detail.contains("HTTP 400: BadRequestData: waterLevel must not be negative") }
        )
        #expect(!lines().contains { $0.contains("\"value\": -") })
        try await waitUntil("the outbox is empty", timeout: .seconds(30)) { harness.metric("kakehashi_gateway_outbox_depth") == 0 }
    }
}
