import Foundation
import KakehashiHubTestSupport
import KakehashiModel
import KakehashiTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Two `kakehashi-hub run` processes on one PostgreSQL database, as an operator runs them: a
/// key made once with `kakehashi-hub key create` works on both, an entity written through one
/// is read through the other, a revocation counts on both, and a hub killed with SIGKILL leaves
/// the other serving.
@Suite("Hubs over PostgreSQL, as processes")
struct PostgresHubsLiveTests {
    @Test func twoHubProcessesShareKeysAndData() async throws {
        let url = try TestPostgres.shared().createDatabase(prefix: "hub_processes")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-pghubs-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let binary = RepositoryPaths.root.appendingPathComponent(".build/debug/kakehashi-hub").path
        var files = [String]()
        var ports = [Int]()
        for instance in ["a", "b"] {
            let port = try TestBroker.freePort()
            ports.append(port)
            let file = directory.appendingPathComponent("hub-\(instance).yaml").path
            try """
            instance: \(instance)
            http: { host: 127.0.0.1, port: \(port) }
            storage:
              kind: postgres
              url: \(url)
              pool_size: 4
              path: \(directory.appendingPathComponent("local-\(instance).sqlite").path)
            tenants:
              kurume:
                gateways: [gw-01]
            """.write(toFile: file, atomically: true, encoding: .utf8)
            files.append(file)
        }
        func cli(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            let log = directory.appendingPathComponent("cli-\(UUID().uuidString.prefix(6)).log").path
            let status = await (try ChildProcess(executable: binary, arguments: arguments, logFile: log)).exit()
            return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }
        let created = try await cli(["key", "create", "--config", files[0], "--tenant", "kurume", "--role", "operator"])
        #expect(created.status == 0, "\(created.output)")
        let key = try #require(created.output.split(whereSeparator: \.isWhitespace).map(String.init).first { $0.hasPrefix("kk_") })

        let hubs = try files.enumerated().map { index, file in
            try ChildProcess(
                executable: binary,
                arguments: ["run", "--config", file],
                logFile: directory.appendingPathComponent("hub-\(index).log").path
            )
        }
        defer { for hub in hubs where hub.isRunning { hub.signal(SIGKILL) } }
        func log(_ index: Int) -> String {
            (try? String(contentsOfFile: directory.appendingPathComponent("hub-\(index).log").path, encoding: .utf8)) ?? ""
        }
        for (index, port) in ports.enumerated() {
            try await waitUntil("hub \(index) listens", timeout: .seconds(120)) {
                guard hubs[index].isRunning else { throw TestSupportError("hub \(index) exited: \(log(index))") }
                return TestBroker.accepts(port: port)
            }
        }
        func get(_ port: Int, _ path: String, key: String) async throws -> (status: Int, body: String) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
        }

        // Written through hub a, read through hub b with the same key.
        try await postEntities([Readings.level("p1", 2.34, minutes: 0)], port: ports[0], key: key)
        let path = "/ngsi-ld/v1/entities/\(Readings.gauge("p1").rawValue)"
        let read = try await get(ports[1], path, key: key)
        #expect(read.status == 200 && read.body.contains("2.34"), "\(read.status) \(read.body)")

        // Revoked with the command line: refused by both hubs within a few seconds.
        let id = try #require(Self.APIKeyID(key))
        let revoked = try await cli(["key", "revoke", "--config", files[1], id])
        #expect(revoked.status == 0, "\(revoked.output)")
        for port in ports {
            var status = 0
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                status = try await get(port, path, key: key).status
                if status == 401 { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(status == 401, "hub on \(port) still takes the revoked key")
        }

        // Hub a dies; hub b goes on serving what is in the database with a new key.
        hubs[0].signal(SIGKILL)
        _ = await hubs[0].exit()
        let second = try await cli(["key", "create", "--config", files[1], "--tenant", "kurume", "--role", "reader"])
        let readerKey = try #require(second.output.split(whereSeparator: \.isWhitespace).map(String.init).first { $0.hasPrefix("kk_") })
        var after = (status: 0, body: "")
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            after = try await get(ports[1], path, key: readerKey)
            if after.status == 200 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(after.status == 200 && after.body.contains("2.34"), "\(after.status) \(after.body)")
        hubs[1].signal(SIGTERM)
        #expect(await hubs[1].exit() == 0, "\(log(1))")
    }

    /// The id part of `kk_<id>_<secret>`.
    static func APIKeyID(_ key: String) -> String? {
        let parts = key.split(separator: "_")
        return parts.count == 3 ? String(parts[1]) : nil
    }
}
