import Foundation
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiHubTestSupport
import KakehashiMQTT
import KakehashiModel
import KakehashiTestSupport
import Logging
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// README's "a new city joins in five commands", as written: the central broker started from
/// `deploy/mosquitto/central.conf` (TLS for gateways), the hub and its command line as processes,
/// a gateway publishing over TLS with the password `gateway add` printed.
@Suite(.serialized) struct OperatorGuideTests {
    static let hubBinary = RepositoryPaths.root.appendingPathComponent(".build/debug/kakehashi-hub").path

    /// Runs `kakehashi-hub ARGS` to its end; its standard output and error. The admin commands
    /// run as an operator would in a shell: without the hub's secrets in the environment.
    static func hub(_ arguments: [String], in directory: URL, environment: [String: String] = [:]) async throws -> String {
        let log = directory.appendingPathComponent("cli-\(UUID().uuidString.prefix(6)).log").path
        var inherited = ProcessInfo.processInfo.environment
        inherited["GUIDE_HUB_PASSWORD"] = nil
        inherited.merge(environment) { $1 }
        let child = try ChildProcess(executable: hubBinary, arguments: arguments, logFile: log, environment: inherited)
        let status = await child.exit()
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        guard status == 0 else { throw TestSupportError("kakehashi-hub \(arguments.joined(separator: " ")) failed (\(status)): \(output)") }
        return output
    }

    @Test func aNewCityJoinsInFiveCommands() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-guide-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let d = directory.path

        // The central broker from deploy/mosquitto/central.conf, with this test's paths and ports.
        let pki = try TestBroker(.init(tls: .serverCertificate))  // only for its certificates
        let certificates = try #require(pki.certificates)
        let tlsPort = try TestBroker.freePort(), plainPort = try TestBroker.freePort()
        var conf = try String(contentsOf: RepositoryPaths.root.appendingPathComponent("deploy/mosquitto/central.conf"), encoding: .utf8)
        for (from, to) in [
            ("/etc/mosquitto/certs/server.crt", pki.directory.appendingPathComponent("server.crt").path),
            ("/etc/mosquitto/certs/server.key", pki.directory.appendingPathComponent("server.key").path),
            ("/etc/mosquitto/certs/ca.crt", certificates.caFile),
            ("/etc/mosquitto/kakehashi/", "\(d)/"),
            ("/var/lib/mosquitto/", "\(d)/"),
            ("listener 8883", "listener \(tlsPort) 127.0.0.1"),
            ("listener 1883 127.0.0.1", "listener \(plainPort) 127.0.0.1"),
        ] {
            #expect(conf.contains(from), "central.conf names \(from)")
            conf = conf.replacingOccurrences(of: from, with: to)
        }
        conf += "\nlog_dest file \(d)/mosquitto.log\n" + (getuid() == 0 ? "user root\n" : "")
        try conf.write(toFile: "\(d)/central.conf", atomically: true, encoding: .utf8)
        let files = BrokerAccessFiles(passwordFile: "\(d)/passwd", aclFile: "\(d)/acl", hubUser: "kakehashi-hub")
        try files.setPassword(user: "kakehashi-hub", password: "hub-broker-secret")  // the install step's mosquitto_passwd -c
        try files.writeACL(gateways: [])
        let broker = try ChildProcess(
            executable: try TestBroker.which("mosquitto").path,
            arguments: ["-c", "\(d)/central.conf"],
            logFile: "\(d)/mosquitto.out"
        )
        defer { broker.signal(SIGTERM); _ = broker.wait() }
        try await waitUntil("the central broker listens", timeout: .seconds(10)) {
            TestBroker.accepts(port: tlsPort) && TestBroker.accepts(port: plainPort)
        }

        // hub.yaml as the guide says: the hub's broker user, and the two files.
        let httpPort = try TestBroker.freePort()
        try """
        http: { host: 127.0.0.1, port: \(httpPort) }
        storage: { path: hub.sqlite, sync: normal }
        broker: { host: 127.0.0.1, port: \(plainPort), client_id: kakehashi-hub, username: kakehashi-hub, password_env: GUIDE_HUB_PASSWORD }
        access: { broker_password_file: \(d)/passwd, broker_acl_file: \(d)/acl }
        """.write(toFile: "\(d)/hub.yaml", atomically: true, encoding: .utf8)
        let config = "\(d)/hub.yaml"
        // Only `run` is given the hub's broker password; check-config warns that it is unset.
        let checked = try await Self.hub(["check-config", "--config", config], in: directory)
        #expect(checked.contains("OK"), "\(checked)")
        #expect(checked.contains("warning: \(config):"), "\(checked)")
        #expect(checked.contains("GUIDE_HUB_PASSWORD is not set"), "\(checked)")
        // The file as the only argument, as older scripts give it, is the same check.
        #expect(try await Self.hub(["check-config", config], in: directory) == checked)
        var runEnvironment = ProcessInfo.processInfo.environment
        runEnvironment["GUIDE_HUB_PASSWORD"] = "hub-broker-secret"
        let hubProcess = try ChildProcess(
            executable: Self.hubBinary,
            arguments: ["run", "--config", config],
            logFile: "\(d)/hub.log",
            environment: runEnvironment
        )
        defer { hubProcess.signal(SIGTERM); _ = hubProcess.wait() }

        // The five commands (the fifth, on the board, is the gateway below).
        _ = try await Self.hub(["tenant", "add", "--config", config, "yame", "--display", "八女市"], in: directory)
        let added = try await Self.hub(["gateway", "add", "--config", config, "--tenant", "yame", "gw-yame-01"], in: directory)
        let password = try #require(
            added.split(separator: "\n").first { $0.contains("KAKEHASHI_CENTRAL_PASSWORD=") }?
                .split(separator: "=").last.map { String($0).trimmingCharacters(in: .whitespaces) }
        )
        #expect(added.contains("username: gw-yame-01") && added.contains("tenant: yame"))
        broker.signal(SIGHUP)  // systemctl reload mosquitto
        let created = try await Self.hub(
            ["key", "create", "--config", config, "--tenant", "yame", "--role", "operator", "--label", "八女市 防災", "--expires", "365d"],
            in: directory
        )
        let key = try #require(created.split(separator: "\n").first { $0.hasPrefix("kk_") }.map(String.init))
        // Another city, to show the first one's data is not its.
        _ = try await Self.hub(["tenant", "add", "--config", config, "chikugo"], in: directory)
        let otherKey = try #require(
            try await Self.hub(["key", "create", "--config", config, "--tenant", "chikugo", "--role", "reader"], in: directory)
                .split(separator: "\n").first { $0.hasPrefix("kk_") }.map(String.init)
        )
        let listed = try await Self.hub(["key", "list", "--config", config, "--tenant", "yame"], in: directory)
        // The other commands that only read, without the secrets as well.
        #expect(try await Self.hub(["tenant", "list", "--config", config], in: directory).contains("yame"))
        #expect(try await Self.hub(["gateway", "list", "--config", config], in: directory).contains("gw-yame-01"))
        #expect(try await Self.hub(["deadletters", "--config", config], in: directory).contains("0 dead letters"))
        #expect(listed.contains("yame\toperator\tactive") && !listed.contains(String(key.suffix(48))), "keys are listed without their secrets")

        // The gateway on the board: TLS on the gateway port, its own user.
        var settings = MQTTConfiguration(host: "127.0.0.1", port: tlsPort, clientID: "gw-yame-01")
        settings.credentials = .init(username: "gw-yame-01", password: password)
        settings.tls = .init(caFile: certificates.caFile)
        var gateway: MQTTClient?
        let deadline = ContinuousClock.now + .seconds(15)
        while gateway == nil {  // until the broker has re-read its files
            let attempt = try MQTTClient(configuration: settings, logger: Logger(label: "test"))
            do { try await attempt.connect(); gateway = attempt } catch {
                guard ContinuousClock.now < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        let client = try #require(gateway)
        defer { Task { await client.disconnect() } }
        let yame = try Tenant("yame"), id = try GatewayID("gw-yame-01")
        let reading = Readings.level("y1", 1.25, minutes: 0, tenant: yame)
        let batch = try WireBatch(tenant: yame, gateway: id, entries: [.init(sequence: 1, entity: reading)]).payload()
        try await client.publish(WireTopic(tenant: yame, gateway: id, kind: .observations).name, payload: batch, qos: .atLeastOnce)
        await #expect(throws: MQTTError.self, "the broker refuses another tenant's topic") {
            try await client.publish("kakehashi/v1/chikugo/gw-yame-01/obs", payload: batch, qos: .atLeastOnce)
        }

        // The city's key sees the reading; the other city's does not.
        func entities(_ key: String) async throws -> [String] {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(httpPort)/ngsi-ld/v1/entities?type=WaterObserved")!)
            request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
            guard let (data, response) = try? await URLSession.shared.data(for: request), (response as? HTTPURLResponse)?.statusCode == 200 else {
                return []
            }
            return (try? JSONValue(parsing: Array(data)))?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        }
        let storedBy = ContinuousClock.now + .seconds(30)
        while try await entities(key).isEmpty {
            guard ContinuousClock.now < storedBy else {
                Issue.record("the reading did not reach the hub: \((try? String(contentsOfFile: "\(d)/hub.log", encoding: .utf8)) ?? "")")
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await entities(key) == ["urn:ngsi-ld:WaterObserved:yame:y1"])
        #expect(try await entities(otherKey) == [])

        // The city leaves: its data, keys and broker login go.
        let exported = "\(d)/yame.sqlite"
        _ = try await Self.hub(["tenant", "export", "--config", config, "yame", "--to", exported], in: directory)
        #expect(FileManager.default.fileExists(atPath: exported))
        let deleted = try await Self.hub(["tenant", "delete", "--config", config, "yame", "--yes"], in: directory)
        #expect(deleted.contains("gw-yame-01 removed"), "\(deleted)")
        broker.signal(SIGHUP)
        #expect(try await entities(key) == [], "the city's key is refused")
        let refusedBy = ContinuousClock.now + .seconds(15)
        while true {  // until the broker has re-read its files
            let attempt = try MQTTClient(configuration: settings, logger: Logger(label: "test"))
            do {
                try await attempt.connect()
                await attempt.disconnect()
            } catch { break }
            guard ContinuousClock.now < refusedBy else { Issue.record("the deleted city's gateway can still log in"); break }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}
