import Foundation
import KakehashiConfig
import KakehashiModel
import KakehashiTestSupport
import Testing

@testable import KakehashiGateway

@Suite struct ConfigurationTests {
    static let environment = ["KAKEHASHI_TAG_SECRET": "a-secret-of-sixteen-bytes"]

    @Test func theSampleInDeployLoadsWithEverySourceKind() throws {
        let file = RepositoryPaths.root.appendingPathComponent("deploy/gateway/gateway.yaml").path
        let configuration = try GatewayConfiguration.load(file: file, environment: Self.environment)
        #expect(configuration.tenant.name == "kurume")
        #expect(configuration.gateway.rawValue == "gw-kurume-01")
        #expect(configuration.uplink.mqtt.session == .persistent)
        #expect(configuration.outbox.quotaBytes == 256 << 20)
        #expect(configuration.outbox.priority(of: "WaterObserved") > configuration.outbox.priority(of: "Device"))
        #expect(configuration.registry.count == 3)
        guard case .mqtt(let edge) = configuration.sources[0].kind else { Issue.record("the first source is MQTT"); return }
        #expect(edge.routes.map(\.decoder.format) == [.json, .csv, .binary])
        #expect(edge.routes.map(\.pattern.filter) == ["flood/+/level", "counters/+", "lpwa/+/up"])
        guard case .ble(let replay) = configuration.sources[1].kind, case .btsnoop(let path, _) = replay.input else {
            Issue.record("the second source replays a capture"); return
        }
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(replay.secret == Array("a-secret-of-sixteen-bytes".utf8))
        #expect(replay.location == (try GeoPoint(latitude: 33.3193, longitude: 130.5083)))
    }

    @Test func theCSVRegistryEqualsTheYAMLOne() throws {
        let yaml = try DeviceRegistry.load(file: RepositoryPaths.root.appendingPathComponent("deploy/gateway/devices.yaml").path)
        let csv = try DeviceRegistry.load(file: RepositoryPaths.root.appendingPathComponent("deploy/gateway/devices.csv").path)
        #expect(yaml == csv)
        #expect(yaml["kurume-01"]?.thresholds?.alertLevel == 2.1)
        #expect(yaml["kurume-01"]?.localID == "3100000017")
    }

    /// A spreadsheet's export: a name with a comma and quotes inside a quoted cell, CRLF, a comment,
    /// a cell left unclosed reported with its line.
    @Test func theCSVRegistryReadsQuotedCells() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-csv-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("devices.csv")
        try
            ("id,type,name,latitude,longitude\r\n# the river gauges\r\n"
            + "g1,WaterObserved,\"筑後川, 瀬ノ下 \"\"A\"\"\",33.3193,130.5083\r\ng2,WaterObserved,plain,33.3,130.5\r\n")
            .write(to: file, atomically: true, encoding: .utf8)
        let registry = try DeviceRegistry.load(file: file.path)
        #expect(registry["g1"]?.name == "筑後川, 瀬ノ下 \"A\"")
        #expect(registry["g2"]?.name == "plain")
        try "id,type,name,latitude,longitude\ng1,WaterObserved,\"never closed,33.3,130.5\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.self) { try DeviceRegistry.load(file: file.path) }
        do { _ = try DeviceRegistry.load(file: file.path) } catch { #expect("\(error)".contains("devices.csv:2"), "\(error)") }
    }

    @Test func everyProblemIsReportedWithItsLineAndKey() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "devices:\n  - { id: a, type: WaterObserved, location: { lat: 33, lon: 130 } }\n"
            .write(to: directory.appendingPathComponent("devices.yaml"), atomically: true, encoding: .utf8)
        let yaml = """
            tenant: Kurume City
            gateway: gw-1
            central:
              host: 127.0.0.1
              prot: 1883
            outbox:
              quota: 12 parsecs
            devices: devices.yaml
            sources:
              - name: edge
                kind: mqtt
                broker: { host: 127.0.0.1, password_env: NOT_SET }
                topics:
                  - pattern: flood/{sensor}/level
                    format: json
                    timestamp: { field: ts, format: iso8601 }
                    values:
                      - { attribute: waterLevel, field: level, unit: CMM }
              - name: tags
                kind: ble
            """
        let expected: [(Int, String, String)] = [
            (1, "tenant", "may only hold lowercase"),
            (5, "central.prot", "did you mean 'port'?"),
            (7, "outbox.quota", "not a size"),
            (12, "sources[0].broker.username", "a password needs a username"),
            (18, "sources[0].topics[0].values[0].unit", "unknown unit code 'CMM'"),
            (19, "sources[1].secret_env", "a pseudonym secret is required"),
        ]
        do {
            _ = try GatewayConfiguration.parse(yaml: yaml, file: "gw.yaml", baseDirectory: directory.path, environment: [:])
            Issue.record("the configuration was accepted")
        } catch {
            for (line, key, words) in expected {
                #expect(
                    error.issues.contains { $0.line == line && $0.key == key && $0.problem.contains(words) },
                    "line \(line) \(key): \(words)\n\(error)"
                )
            }
            #expect(error.description.contains("gw.yaml:5:3: central.prot: unknown key 'prot'"))
        }
    }

    @Test func malformedYAMLNamesTheLine() {
        #expect {
            _ = try GatewayConfiguration.parse(yaml: "tenant: a\n  gateway: [b\n", file: "x.yaml", baseDirectory: ".", environment: [:])
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.issues.count == 1 && error.issues[0].line != nil && error.description.contains("not valid YAML")
        }
    }
}
