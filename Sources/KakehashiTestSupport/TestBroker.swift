import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A real `mosquitto` for integration tests: its own directory, a generated configuration on a
/// free loopback port, optional TLS (certificates made by `openssl` at test time), password file
/// and ACL, and persistence so that restarts keep sessions.
///
/// ```swift
/// let broker = try TestBroker(.init(users: ["gw-01": "secret"]))
/// try broker.start()            // returns once it accepts TCP connections
/// … broker.port …
/// broker.stop()                 // SIGTERM by pid, waits for the exit
/// ```
public final class TestBroker: @unchecked Sendable {
    /// How the listener is secured.
    public enum TLSMode: Sendable {
        case none
        /// TLS with a server certificate; clients verify it with the test CA.
        case serverCertificate
        /// TLS and clients must present a certificate signed by the test CA.
        case clientCertificateRequired
    }

    /// What to generate.
    public struct Options: Sendable {
        public var tls: TLSMode
        /// Users of the password file; when not empty, anonymous clients are refused.
        public var users: [String: String]
        /// ACL file text (mosquitto syntax), if any.
        public var acl: String?
        /// Extra configuration lines.
        public var extraConfiguration: [String]
        /// An existing password file and ACL file to use (as `kakehashi-hub gateway add` keeps
        /// them) instead of `users` and `acl`; anonymous clients are refused.
        public var accessFiles: (passwordFile: String, aclFile: String)?

        public init(
            tls: TLSMode = .none,
            users: [String: String] = [:],
            acl: String? = nil,
            extraConfiguration: [String] = [],
            accessFiles: (passwordFile: String, aclFile: String)? = nil
        ) {
            self.tls = tls
            self.users = users
            self.acl = acl
            self.extraConfiguration = extraConfiguration
            self.accessFiles = accessFiles
        }
    }

    /// PEM files of the test PKI.
    public struct Certificates: Sendable {
        public let caFile: String
        public let clientCertificateFile: String
        public let clientKeyFile: String
        /// A CA that signed nothing here, for "wrong CA" tests.
        public let otherCAFile: String
    }

    public let host = "127.0.0.1"
    public let port: Int
    public let directory: URL
    public let options: Options
    public private(set) var certificates: Certificates?
    private var process: ChildProcess?

    /// Prepares the directory, configuration, password file, ACL and certificates.
    public init(_ options: Options = Options()) throws {
        self.options = options
        port = try Self.reusablePort()  // restarts come back on it
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kakehashi-broker-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if options.tls != .none { certificates = try makeCertificates() }
        try writeConfiguration()
    }

    deinit {
        stop(signal: SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }

    /// The broker's log so far (for failure messages).
    public var log: String { (try? String(contentsOf: directory.appendingPathComponent("mosquitto.log"), encoding: .utf8)) ?? "" }

    /// Starts mosquitto and waits (up to `timeout`) until it accepts TCP connections.
    public func start(timeout: Duration = .seconds(10)) throws {
        guard process == nil else { return }
        let process = try ChildProcess(
            executable: try Self.which("mosquitto").path,
            arguments: ["-c", directory.appendingPathComponent("mosquitto.conf").path],
            logFile: directory.appendingPathComponent("stderr.log").path
        )
        self.process = process
        let deadline = ContinuousClock.now + timeout
        while !acceptsConnections() {
            guard process.isRunning else {
                self.process = nil
                throw TestSupportError("mosquitto exited with status \(process.wait()) on start: \(log)")
            }
            guard ContinuousClock.now < deadline else {
                throw TestSupportError("mosquitto did not accept connections on port \(port) within \(timeout): \(log)")
            }
            usleep(20_000)
        }
    }

    /// Makes mosquitto read its password file and ACL again (SIGHUP, as `systemctl reload` does).
    public func reload() {
        process?.signal(SIGHUP)
    }

    /// Stops mosquitto by its pid with `signal` (SIGTERM saves its persistence file first) and
    /// waits for it to exit.
    public func stop(signal: Int32 = SIGTERM) {
        guard let process else { return }
        process.signal(signal)
        process.wait()
        self.process = nil
    }

    /// Whether a TCP connection to the port succeeds now.
    public func acceptsConnections() -> Bool { Self.accepts(port: port) }

    /// Whether a TCP connection to `127.0.0.1:port` succeeds now.
    public static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    // MARK: - Files

    private func writeConfiguration() throws {
        var lines = [
            "per_listener_settings false",
            "listener \(port) \(host)",
            "persistence true",
            "persistence_location \(directory.path)/",
            "log_dest file \(directory.appendingPathComponent("mosquitto.log").path)",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "max_queued_messages 200000",
            "max_inflight_messages 0",
        ]
        if getuid() == 0 { lines.append("user root") }
        if let files = options.accessFiles {
            lines += ["allow_anonymous false", "password_file \(files.passwordFile)", "acl_file \(files.aclFile)"]
        } else if options.users.isEmpty {
            lines.append("allow_anonymous true")
        } else {
            let passwords = directory.appendingPathComponent("passwords")
            _ = FileManager.default.createFile(atPath: passwords.path, contents: nil)
            for (user, password) in options.users.sorted(by: { $0.key < $1.key }) {
                try Self.run("mosquitto_passwd", ["-b", passwords.path, user, password])
            }
            lines += ["allow_anonymous false", "password_file \(passwords.path)"]
        }
        if let acl = options.acl {
            let url = directory.appendingPathComponent("acl")
            try acl.write(to: url, atomically: true, encoding: .utf8)
            lines.append("acl_file \(url.path)")
        }
        if options.tls != .none {
            let d = directory.path
            lines += ["cafile \(d)/ca.crt", "certfile \(d)/server.crt", "keyfile \(d)/server.key", "tls_version tlsv1.2"]
            lines.append("require_certificate \(options.tls == .clientCertificateRequired)")
        }
        lines += options.extraConfiguration
        try (lines.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent("mosquitto.conf"), atomically: true, encoding: .utf8)
    }

    private func makeCertificates() throws -> Certificates {
        let d = directory.path
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try Self.run(
            "openssl",
            ["req", "-x509"] + ec + ["-keyout", "\(d)/ca.key", "-out", "\(d)/ca.crt", "-days", "2", "-subj", "/CN=Kakehashi Test CA"]
        )
        try Self.run(
            "openssl",
            ["req", "-x509"] + ec + ["-keyout", "\(d)/other-ca.key", "-out", "\(d)/other-ca.crt", "-days", "2", "-subj", "/CN=Other CA"]
        )
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: "\(d)/server.ext", atomically: true, encoding: .utf8)
        for (name, subject, extensions) in [
            ("server", "/CN=localhost", ["-extfile", "\(d)/server.ext"]), ("client", "/CN=kakehashi-test-client", []),
        ] {
            try Self.run("openssl", ["req"] + ec + ["-keyout", "\(d)/\(name).key", "-out", "\(d)/\(name).csr", "-subj", subject])
            try Self.run(
                "openssl",
                [
                    "x509", "-req", "-in", "\(d)/\(name).csr", "-CA", "\(d)/ca.crt", "-CAkey", "\(d)/ca.key",
                    "-CAcreateserial", "-out", "\(d)/\(name).crt", "-days", "2",
                ] + extensions
            )
        }
        return Certificates(
            caFile: "\(d)/ca.crt",
            clientCertificateFile: "\(d)/client.crt",
            clientKeyFile: "\(d)/client.key",
            otherCAFile: "\(d)/other-ca.crt"
        )
    }

    // MARK: - Helpers

    /// Where `program` is installed.
    public static func which(_ program: String) throws -> URL {
        for directory in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin"] {
            let url = URL(fileURLWithPath: directory).appendingPathComponent(program)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw TestSupportError("\(program) is not installed (deploy/test installs it)")
    }

    /// Runs a helper program to its end (posix_spawn and waitpid: Foundation's `Process` can
    /// spin forever in `waitUntilExit` when several run at once on worker threads).
    public static func run(_ program: String, _ arguments: [String]) throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("kk-\(program)-\(UUID().uuidString.prefix(8)).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let child = try ChildProcess(executable: try which(program).path, arguments: arguments, logFile: log)
        let status = child.wait()
        guard status == 0 else {
            throw TestSupportError(
                "\(program) \(arguments.joined(separator: " ")) failed (wait status \(status)): "
                    + "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")"
            )
        }
    }

    /// Ports ``reusablePort()`` gave in this process.
    static let handedOut = Mutex<Set<Int>>([])

    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// A free port below the kernel's ephemeral range, for a server that must come back on the
    /// same port: no `freePort()` and no outgoing connection can be given it in between.
    public static func reusablePort() throws -> Int {
        let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? "32768 60999"
        let low = Int(range.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first ?? "") ?? 32768
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let port = Int.random(in: 10_000..<max(10_001, low), using: &generator)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { continue }
            var address = loopback(port: port)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            // Never the same port twice in one run: a server given it earlier may be down now.
            if bound == 0, handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        throw TestSupportError("no free port found under the ephemeral range (from \(low))")
    }

    /// A port free on 127.0.0.1 for a server this test starts: one of ``reusablePort()``, below
    /// the kernel's ephemeral range, so that neither an outgoing connection nor a server bound to
    /// port 0 elsewhere in the run can take it between this call and the server's bind.
    public static func freePort() throws -> Int { try reusablePort() }
}

/// An error of the test-support code itself.
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
