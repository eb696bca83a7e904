import Foundation
import KakehashiConfig
import KakehashiModel
import KakehashiTestSupport
import Testing

@testable import KakehashiGateway

@Suite struct ConfigurationTests {
    static let environment = ["KAKEHASHI_TAG_SECRET": "a-secret-of-sixteen-bytes"]

    /// README's install step: the sample and its registry copied into a folder of their own.
    static func copyOfTheSample() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-sample-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for name in ["gateway.yaml", "devices.yaml"] {
            try FileManager.default.copyItem(
                at: RepositoryPaths.root.appendingPathComponent("deploy/gateway/\(name)"),
                to: directory.appendingPathComponent(name)
            )
        }
        return directory
    }

    @Test func theSampleCopiedAnywhereLoadsWithoutSecrets() throws {
        let directory = try Self.copyOfTheSample()
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = try GatewayConfiguration.load(file: directory.appendingPathComponent("gateway.yaml").path, environment: [:])
        #expect(configuration.tenant.name == "kurume")
        #expect(configuration.gateway.rawValue == "gw-kurume-01")
        #expect(configuration.uplink.mqtt.session == .persistent)
        #expect(configuration.outbox.quotaBytes == 256 << 20)
        #expect(configuration.outbox.path == directory.appendingPathComponent("outbox.sqlite").path)
        #expect(configuration.outbox.priority(of: "WaterObserved") > configuration.outbox.priority(of: "Device"))
        #expect(configuration.registry.count == 3)
        // No replay or adapter is active in the sample: only the edge broker.
        #expect(configuration.sources.map(\.name) == ["edge"])
        guard case .mqtt(let edge) = configuration.sources[0].kind else { Issue.record("the source is MQTT"); return }
        #expect(edge.routes.map(\.decoder.format) == [.json, .csv, .binary])
        #expect(edge.routes.map(\.pattern.filter) == ["flood/+/level", "counters/+", "lpwa/+/up"])
        // Under systemd, files the gateway writes go to its state directory.
        let state = FileManager.default.temporaryDirectory.path
        let underSystemd = try GatewayConfiguration.load(
            file: directory.appendingPathComponent("gateway.yaml").path,
            environment: ["STATE_DIRECTORY": state]
        )
        #expect(underSystemd.outbox.path == state + "/outbox.sqlite")
        #expect(underSystemd.metrics?.textfile == state + "/kakehashi-gateway.prom")
    }

    /// The sample's range takes the levels of every gauge of the recorded storm and calm day,
    /// whose T.P. datums reach 1,023 m (the range was once -10 m to 50 m).
    @Test func theSamplesRangeTakesRealGaugeLevels() throws {
        let directory = try Self.copyOfTheSample()
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = try GatewayConfiguration.load(file: directory.appendingPathComponent("gateway.yaml").path, environment: [:])
        guard case .mqtt(let edge) = configuration.sources[0].kind else { Issue.record("the source is MQTT"); return }
        let route = try #require(edge.routes.first { $0.pattern.filter == "flood/+/level" })
        var levels = [Double]()
        for trace in ["storm-2026-06-02.csv", "calm-2025-10-15.csv"] {
            let text = try String(contentsOf: RepositoryPaths.root.appendingPathComponent("simulators/traces/river-jp/\(trace)"), encoding: .utf8)
            levels += text.split(separator: "\n").dropFirst().compactMap { Double($0.split(separator: ",").last ?? "") }
        }
        #expect(levels.count > 10_000)
        #expect((levels.max() ?? 0) > 1000)
        for level in [levels.min()!, levels.max()!] {
            let payload = Array("{\"level\": \(level * 100), \"ts\": \"2026-06-02T09:10:00+09:00\"}".utf8)
            let reading = try route.decoder.decode(payload, topicLevels: ["sensor": "s1"], receivedAt: Timestamp(millisecondsSinceEpoch: 0))
            #expect(reading.values.first?.number == level * 100)
        }
    }

    /// The sources the sample shows commented out load once uncommented (a capture given).
    @Test func theSamplesCommentedSourcesLoad() throws {
        let directory = try Self.copyOfTheSample()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("gateway.yaml")
        var lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var inSource = false
        for index in lines.indices {
            if lines[index].hasPrefix("  # - name: ") { inSource = true }
            if lines[index].isEmpty { inSource = false }
            if inSource, lines[index].hasPrefix("  # ") { lines[index] = "  " + lines[index].dropFirst(4) }
        }
        let capture = RepositoryPaths.root.appendingPathComponent("simulators/traces/ble/horizon-74.btsnoop").path
        let text = lines.joined(separator: "\n").replacingOccurrences(of: "/usr/local/share/kakehashi/horizon-74.btsnoop", with: capture)
        try text.write(to: file, atomically: true, encoding: .utf8)
        let configuration = try GatewayConfiguration.load(file: file.path, environment: Self.environment)
        #expect(configuration.sources.map(\.name) == ["edge", "tags", "tags-pipe", "tags-replay"])
        guard case .ble(let replay) = configuration.sources[3].kind, case .btsnoop(let path, _) = replay.input else {
            Issue.record("the last source replays a capture"); return
        }
        #expect(path == capture)
        #expect(replay.secret == Array("a-secret-of-sixteen-bytes".utf8))
        #expect(replay.location == (try GeoPoint(latitude: 33.3193, longitude: 130.5083)))
    }

    /// Files named that are missing or not writable, every other problem and the unset secrets
    /// (as warnings, apart) in one pass, from the command a city engineer runs.
    @Test func checkConfigReportsEverythingInOnePass() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-check-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "devices:\n  - { id: a, type: Bogus, location: { lat: 33, lon: 130 } }\n"
            .write(to: directory.appendingPathComponent("devices.yaml"), atomically: true, encoding: .utf8)
        let yaml = """
            tenant: kurume
            gateway: gw-1
            central:
              host: 127.0.0.1
              prot: 1883
              username: gw-1
              password_env: KK_TEST_UNSET_PASSWORD
              tls: { ca_file: /etc/kakehashi-test-missing/ca.pem }
            outbox:
              path: /nonexistent-kakehashi/outbox.sqlite
            devices: devices.yaml
            metrics: { textfile: /nonexistent-kakehashi/gateway.prom }
            sources:
              - name: edge
                kind: mqtt
                broker: { host: 127.0.0.1 }
                topics:
                  - pattern: flood/{sensor}/level
                    format: json
                    timestamp: { field: ts, format: iso8601 }
                    values:
                      - { attribute: waterLevel, field: level, unit: CMM }
              - name: tags-replay
                kind: btsnoop
                file: missing.btsnoop
                secret_env: KK_TEST_UNSET_SECRET
            """
        let file = directory.appendingPathComponent("gateway.yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("check.log").path
        var environment = ProcessInfo.processInfo.environment
        environment["KK_TEST_UNSET_PASSWORD"] = nil
        environment["KK_TEST_UNSET_SECRET"] = nil
        let child = try ChildProcess(
            executable: GatewayHarness.executable,
            arguments: ["check-config", file.path],
            logFile: log,
            environment: environment
        )
        let status = await child.exit()
        let output = try String(contentsOfFile: log, encoding: .utf8)
        #expect((status >> 8) & 0xff == 1, "\(output)")
        let problems = output.split(separator: "\n").filter { !$0.hasPrefix("warning: ") }
        let warnings = output.split(separator: "\n").filter { $0.hasPrefix("warning: ") }
        for words in [
            "central.prot: unknown key 'prot'",
            "central.tls.ca_file: the CA file /etc/kakehashi-test-missing/ca.pem does not exist",
            "outbox: the directory of the outbox /nonexistent-kakehashi/outbox.sqlite does not exist",
            "metrics.textfile: the directory of the metrics textfile /nonexistent-kakehashi/gateway.prom does not exist",
            "devices[0].type: unknown entity type 'Bogus'",
            "sources[0].topics[0].values[0].unit: unknown unit code 'CMM'",
            "sources[1].file: the capture \(directory.path)/missing.btsnoop does not exist",
        ] {
            #expect(problems.contains { $0.contains(words) }, "\(words)\n\(output)")
        }
        #expect(warnings.count == 2, "\(output)")
        #expect(warnings.contains { $0.contains("central.password_env: the environment variable KK_TEST_UNSET_PASSWORD is not set") })
        #expect(warnings.contains { $0.contains("sources[1].secret_env: the environment variable KK_TEST_UNSET_SECRET is not set") })
        #expect(!problems.contains { $0.contains("is not set") })
    }

    /// Reading dead letters needs the outbox, not the tag secret.
    @Test func deadLettersAreListedWithoutSecrets() async throws {
        let directory = try Self.copyOfTheSample()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("gateway.yaml")
        let capture = RepositoryPaths.root.appendingPathComponent("simulators/traces/ble/horizon-74.btsnoop").path
        try
            (try String(contentsOf: file, encoding: .utf8)
            + "\n  - { name: tags-replay, kind: btsnoop, file: \(capture), secret_env: KK_TEST_UNSET_SECRET }\n")
            .write(to: file, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["KK_TEST_UNSET_SECRET"] = nil
        let log = directory.appendingPathComponent("deadletters.log").path
        let child = try ChildProcess(
            executable: GatewayHarness.executable,
            arguments: ["deadletters", file.path],
            logFile: log,
            environment: environment
        )
        let status = await child.exit()
        let output = try String(contentsOfFile: log, encoding: .utf8)
        #expect(status == 0, "\(output)")
        #expect(output.contains("0 dead letters"), "\(output)")
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
