import Foundation
import KakehashiHTTP
import KakehashiModel
import KakehashiTestSupport
import Testing

/// The gateway's HTTP client against a real server (Python's), plain and TLS: bodies by length
/// and by chunks, kept and closed connections, untrusted certificates, silence and refusal.
@Suite struct HTTPClientTests {
    /// A server in `mode` (see `Tests/Tools/http_test_server.py`), TLS with the test PKI when `tls`.
    final class Server: @unchecked Sendable {
        let port: Int
        let directory: URL
        let process: ChildProcess

        init(_ mode: String, tls: Bool = false) async throws {
            port = try TestBroker.freePort()
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-http-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            var arguments = [RepositoryPaths.root.appendingPathComponent("Tests/Tools/http_test_server.py").path, String(port), mode]
            if tls {
                try Self.makePKI(directory.path)
                arguments += ["\(directory.path)/server.crt", "\(directory.path)/server.key"]
            }
            process = try ChildProcess(
                executable: "/usr/bin/env",
                arguments: ["python3"] + arguments,
                logFile: directory.appendingPathComponent("server.log").path
            )
            let port = self.port
            try await waitUntil("the test server listens", timeout: .seconds(30)) { TestBroker.accepts(port: port) }
        }

        deinit {
            process.signal(SIGKILL)
            _ = process.wait()
            try? FileManager.default.removeItem(at: directory)
        }

        var caFile: String { "\(directory.path)/ca.crt" }
        var otherCAFile: String { "\(directory.path)/other.crt" }

        static func makePKI(_ d: String) throws {
            let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
            try TestBroker.run(
                "openssl",
                ["req", "-x509"] + ec + ["-keyout", "\(d)/ca.key", "-out", "\(d)/ca.crt", "-days", "2", "-subj", "/CN=Test CA"]
            )
            try TestBroker.run(
                "openssl",
                ["req", "-x509"] + ec + ["-keyout", "\(d)/other.key", "-out", "\(d)/other.crt", "-days", "2", "-subj", "/CN=Other"]
            )
            try "subjectAltName=IP:127.0.0.1\n".write(toFile: "\(d)/server.ext", atomically: true, encoding: .utf8)
            try TestBroker.run(
                "openssl",
                ["req"] + ec + ["-keyout", "\(d)/server.key", "-out", "\(d)/server.csr", "-subj", "/CN=kakehashi-test-server"]
            )
            try TestBroker.run(
                "openssl",
                [
                    "x509", "-req", "-in", "\(d)/server.csr", "-CA", "\(d)/ca.crt", "-CAkey", "\(d)/ca.key", "-CAcreateserial",
                    "-out", "\(d)/server.crt", "-days", "2", "-extfile", "\(d)/server.ext",
                ]
            )
        }
    }

    static func client(
        _ server: Server,
        tls: Bool = false,
        host: String = "127.0.0.1",
        caFile: String? = nil,
        timeout: Duration = .seconds(5)
    )
        throws -> HTTPClient
    {
        HTTPClient(
            endpoint: try HTTPClient.Endpoint(url: "\(tls ? "https" : "http")://\(host):\(server.port)/base"),
            timeout: timeout,
            caFile: caFile
        )
    }

    static func answer(_ response: HTTPResponse) -> JSONValue { (try? JSONValue(parsing: response.body)) ?? .null }

    @Test(arguments: [("length", false), ("chunked", false), ("length", true), ("chunked", true)])
    func keptConnectionsCarryManyRequests(_ mode: String, _ tls: Bool) async throws {
        let server = try await Server(mode, tls: tls)
        let client = try Self.client(server, tls: tls, caFile: tls ? server.caFile : nil)
        for n in 1...5 {
            let body = [UInt8](repeating: UInt8(ascii: "x"), count: n * 10_000)
            let response = try await client.post("/ngsi-ld/v1/x?options=update", headers: [("NGSILD-Tenant", "kurume")], body: body)
            #expect(response.status == 201)
            let answer = Self.answer(response)
            #expect(answer["n"] == .number(Double(n)) && answer["length"] == .number(Double(body.count)))
            #expect(answer["path"] == "/base/ngsi-ld/v1/x?options=update" && answer["tenant"] == "kurume")
        }
    }

    /// Several requests in one turn go in order on the kept connection, and stop at the first
    /// answered outside 2xx: those after it are not sent.
    @Test func requestsSentTogetherGoInOrderAndStopAtTheFirstRefused() async throws {
        let server = try await Server("length")
        let client = try Self.client(server)
        let ok = (0..<3).map { n in (path: "/p\(n)", headers: [("NGSILD-Tenant", "kurume")], body: [UInt8](repeating: 120, count: n + 1)) }
        let all = await client.postAll(ok)
        #expect(all.compactMap { try? Self.answer($0.get())["n"] } == [1, 2, 3])
        #expect(all.compactMap { try? Self.answer($0.get())["path"] } == ["/base/p0", "/base/p1", "/base/p2"])

        let stopped = await client.postAll([ok[0], (path: "/fail", headers: [], body: []), ok[1]])
        #expect(stopped.count == 2)
        #expect(stopped.compactMap { try? $0.get().status } == [201, 500])
        // The third was not sent: the server's next request is its sixth.
        let next = try await client.post("/p", headers: [], body: [])
        #expect(Self.answer(next)["n"] == 6)
    }

    /// Groups (the notifications of several subscriptions in one turn): a refusal stops only its
    /// group; a request with no answer stops the turn, and the groups after it are not sent.
    @Test func groupsStopAtTheirOwnRefusalAndAllStopWhenTheServerDoesNotAnswer() async throws {
        let server = try await Server("length")
        let client = try Self.client(server)
        func request(_ path: String) -> (path: String, headers: [(String, String)], body: [UInt8]) { (path, [], [UInt8](repeating: 120, count: 2)) }
        let groups = await client.postGroups([
            [request("/a0"), request("/fail"), request("/a1")],
            [request("/b0"), request("/b1")],
        ])
        #expect(groups.map { $0.compactMap { try? $0.get().status } } == [[201, 500], [201, 201]])
        #expect(groups[1].compactMap { try? Self.answer($0.get())["path"] } == ["/base/b0", "/base/b1"])
        // Server requests so far: a0, fail, b0, b1.
        let away = await client.postGroups([[request("/c0")], [request("/vanish"), request("/d1")], [request("/e0")]])
        #expect(away[0].compactMap { try? $0.get().status } == [201])
        #expect(away[1].count == 1)
        #expect(throws: HTTPClientError.self) { try away[1][0].get() }
        #expect(away[2].isEmpty)
        // c0 (5), /vanish tried twice (6, 7: once more on a new connection); d1 and e0 never.
        let next = try await client.post("/p", headers: [], body: [])
        #expect(Self.answer(next)["n"] == 8)
    }

    /// A client with a niceness makes its requests on a thread of its own at that priority (the
    /// hub's notifications), and closes without waiting on it.
    @Test func aNiceClientPostsFromItsOwnLowerPriorityThread() async throws {
        let server = try await Server("length")
        let client = HTTPClient(endpoint: try HTTPClient.Endpoint(url: "http://127.0.0.1:\(server.port)/base"), timeout: .seconds(5), niceness: 7)
        let response = try await client.post("/p", headers: [], body: [])
        #expect(response.status == 201)
        // /proc/self/task/<tid>/stat: field 19 is the thread's nice value (nothing else in the
        // test process runs at 7).
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
        let nices = tasks.compactMap { tid -> Int? in
            guard let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return Int(fields[16])
        }
        #expect(nices.filter { $0 == 7 }.count == 1, "the threads' nice values: \(nices)")
        client.close()
        #expect(try await client.post("/q", headers: [], body: []).status == 201)
    }

    /// A server that closes (saying so, or not) is reconnected to for the next request.
    @Test(arguments: ["close", "drop"])
    func closedConnectionsAreOpenedAgain(_ mode: String) async throws {
        let server = try await Server(mode)
        let client = try Self.client(server)
        for n in 1...3 {
            let response = try await client.post("/p", headers: [], body: Array("{}".utf8))
            #expect(response.status == 201 && Self.answer(response)["n"] == .number(Double(n)))
        }
    }

    @Test func anUntrustedOrMisnamedCertificateIsRefused() async throws {
        let server = try await Server("length", tls: true)
        await #expect {
            _ = try await Self.client(server, tls: true, caFile: server.otherCAFile).post("/p", headers: [], body: [])
        } throws: { error in
            "\(error)".contains("not trusted")
        }
        // The system's roots do not know the test CA either.
        await #expect(throws: HTTPClientError.self) { _ = try await Self.client(server, tls: true).post("/p", headers: [], body: []) }
        // A name the certificate does not carry (it names 127.0.0.1 only).
        let misnamed = HTTPClient(
            endpoint: try HTTPClient.Endpoint(url: "https://localhost:\(server.port)"),
            timeout: .seconds(5),
            caFile: server.caFile
        )
        await #expect {
            _ = try await misnamed.post("/p", headers: [], body: [])
        } throws: { error in
            "\(error)".contains("mismatch")
        }
        // And the right CA works.
        #expect(try await Self.client(server, tls: true, caFile: server.caFile).post("/p", headers: [], body: []).status == 201)
    }

    @Test func aSilentServerTimesOutAndARefusedPortFailsAtOnce() async throws {
        let server = try await Server("silent")
        let started = ContinuousClock.now
        await #expect {
            _ = try await Self.client(server, timeout: .seconds(1)).post("/p", headers: [], body: [])
        } throws: { error in
            "\(error)".contains("timed out")
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        let nobody = HTTPClient(endpoint: try HTTPClient.Endpoint(url: "http://127.0.0.1:\(try TestBroker.freePort())"), timeout: .seconds(5))
        await #expect {
            _ = try await nobody.post("/p", headers: [], body: [])
        } throws: { error in
            "\(error)".contains("connection failed") && "\(error)".contains("refused")
        }
        #expect(throws: HTTPClientError.self) { try HTTPClient.Endpoint(url: "ftp://x") }
    }
}
