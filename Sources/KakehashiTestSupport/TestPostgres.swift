import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A real, throwaway PostgreSQL for tests: `initdb` in a temporary directory, `postgres` on a
/// free loopback port (its socket in that directory too), stopped by its pid and deleted after.
/// Debian's server binaries are found in `KAKEHASHI_PG_BIN`, `/usr/lib/postgresql/<newest>/bin`
/// or from `pg_config --bindir`; PostgreSQL refuses to run as root, so under root the cluster is
/// owned by and run as the `postgres` user (`setpriv`, which replaces itself with the server, so
/// the pid is the server's).
///
/// ```swift
/// let postgres = try TestPostgres()      // initdb, start, wait until it accepts connections
/// let url = try postgres.createDatabase()  // a fresh database per test
/// postgres.stop()
/// ```
///
/// Tests share one server per test process: ``shared()``, which is the one `deploy/test` started
/// (`KAKEHASHI_TEST_POSTGRES`, a superuser URL) or else one started on first use and stopped
/// when the process exits.
public final class TestPostgres: @unchecked Sendable {
    public let host = "127.0.0.1"
    public let port: Int
    /// The superuser made by `initdb` (trust authentication on loopback).
    public let user = "kakehashi"
    public let directory: URL
    private let binaries: URL
    private let runAs: [String]
    private var process: ChildProcess?
    /// The superuser URL of a server this process did not start (``shared()``).
    private let given: (host: String, port: Int, user: String)?
    private static let databases = Atomic<Int>(0)
    private static let sharedServer = Mutex<TestPostgres?>(nil)

    /// The server the tests of this process share (see the type's description).
    public static func shared() throws -> TestPostgres {
        try sharedServer.withLock { server in
            if let server { return server }
            let made: TestPostgres
            if let url = ProcessInfo.processInfo.environment["KAKEHASHI_TEST_POSTGRES"], !url.isEmpty {
                made = try TestPostgres(existing: url)
            } else {
                made = try TestPostgres()
                atexit {
                    TestPostgres.sharedServer.withLock { server in
                        server?.stop(signal: SIGINT)
                        if let directory = server?.directory { try? FileManager.default.removeItem(at: directory) }
                    }
                }
            }
            server = made
            return made
        }
    }

    /// A server already running at `url` (`postgres://user@host:port/…`, trust or a password in
    /// the URL): databases are made there; it is not stopped.
    init(existing url: String) throws {
        guard let components = URLComponents(string: url), let host = components.host, let port = components.port else {
            throw TestSupportError("KAKEHASHI_TEST_POSTGRES is not postgres://user@host:port/database: \(url)")
        }
        given = (host, port, components.user ?? "postgres")
        durable = false
        self.port = port
        binaries = (try? Self.binDirectory()) ?? URL(fileURLWithPath: "/usr/bin")
        runAs = []
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kakehashi-postgres-\(UUID().uuidString)")
    }

    /// Whether PostgreSQL's server binaries are installed here (`deploy/test` installs them).
    public static var isInstalled: Bool { (try? binDirectory()) != nil }

    /// Whether the server syncs its writes (a benchmark's; tests run without).
    private let durable: Bool

    /// Makes the cluster and starts it; `durable` keeps PostgreSQL's own syncing (`fsync`,
    /// full page writes) for measurements, which tests turn off.
    public init(timeout: Duration = .seconds(30), durable: Bool = false) throws {
        self.durable = durable
        given = nil
        binaries = try Self.binDirectory()
        port = try TestBroker.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kakehashi-postgres-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if getuid() == 0 {
            runAs = [try TestBroker.which("setpriv").path, "--reuid=postgres", "--regid=postgres", "--clear-groups", "--"]
            try TestBroker.run("chown", ["postgres:postgres", directory.path])
        } else {
            runAs = []
        }
        try runChecked(
            "initdb",
            ["-D", dataDirectory, "-U", user, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"]
        )
        try start(timeout: timeout)
    }

    deinit {
        stop(signal: SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }

    var dataDirectory: String { directory.appendingPathComponent("data").path }
    var logFile: String { directory.appendingPathComponent("postgres.log").path }

    /// The server's log so far (for failure messages).
    public var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    /// A `postgres://` URL of `database`.
    public func url(database: String = "postgres") -> String {
        "postgres://\(given?.user ?? user)@\(given?.host ?? host):\(port)/\(database)"
    }

    /// Starts the server (again, after ``stop(signal:)``) and waits until it accepts connections.
    public func start(timeout: Duration = .seconds(30)) throws {
        guard process == nil else { return }
        let server = binaries.appendingPathComponent("postgres").path
        let arguments =
            [
                "-D", dataDirectory, "-p", "\(port)", "-k", directory.path, "-c", "listen_addresses=\(host)",
                "-c", "max_connections=200", "-c", "shared_buffers=64MB",
            ] + (durable ? [] : ["-c", "fsync=off", "-c", "full_page_writes=off"])
        let process = try ChildProcess(
            executable: runAs.first ?? server,
            arguments: runAs.isEmpty ? arguments : Array(runAs.dropFirst()) + [server] + arguments,
            logFile: logFile
        )
        self.process = process
        let deadline = ContinuousClock.now + timeout
        while !ready() {
            guard process.isRunning else {
                self.process = nil
                throw TestSupportError("postgres exited with status \(process.wait()) on start: \(log)")
            }
            guard ContinuousClock.now < deadline else { throw TestSupportError("postgres did not start within \(timeout): \(log)") }
            usleep(50_000)
        }
    }

    /// Stops the server by its pid (SIGINT: a fast shutdown; SIGKILL: a crash) and waits.
    public func stop(signal: Int32 = SIGINT) {
        guard let process else { return }
        process.signal(signal)
        process.wait()
        self.process = nil
    }

    /// Creates a new, empty database and returns its URL.
    public func createDatabase(prefix: String = "test") throws -> String {
        let name = "\(prefix)_\(Self.databases.add(1, ordering: .relaxed).newValue)_\(getpid())"
        try sql("CREATE DATABASE \(name)")
        return url(database: name)
    }

    /// Runs `statement` with `psql` as the superuser (in `database`).
    public func sql(_ statement: String, database: String = "postgres") throws {
        try runChecked("psql", ["-d", url(database: database), "-v", "ON_ERROR_STOP=1", "-q", "-c", statement], asServer: false)
    }

    /// The first column of the first row `query` gives in `url`'s database (`psql -At`).
    public func value(_ query: String, url: String) throws -> String {
        var path = binaries.appendingPathComponent("psql").path
        if !FileManager.default.isExecutableFile(atPath: path) { path = try TestBroker.which("psql").path }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("kk-psql-\(UUID().uuidString.prefix(8)).out").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let child = try ChildProcess(executable: path, arguments: ["-d", url, "-At", "-v", "ON_ERROR_STOP=1", "-c", query], logFile: output)
        let status = child.wait()
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        guard status == 0 else { throw TestSupportError("psql \(query) failed (wait status \(status)): \(text)") }
        return String(text.split(separator: "\n").first ?? "")
    }

    /// Whether the server answers (`pg_isready`).
    private func ready() -> Bool {
        let child = try? ChildProcess(
            executable: binaries.appendingPathComponent("pg_isready").path,
            arguments: ["-h", host, "-p", "\(port)", "-U", user, "-q"],
            logFile: "/dev/null"
        )
        return child?.wait() == 0
    }

    private func runChecked(_ program: String, _ arguments: [String], asServer: Bool = true) throws {
        var path = binaries.appendingPathComponent(program).path
        if !FileManager.default.isExecutableFile(atPath: path) { path = try TestBroker.which(program).path }
        let runAs = asServer ? self.runAs : []
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("kk-\(program)-\(UUID().uuidString.prefix(8)).log").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let child = try ChildProcess(
            executable: runAs.first ?? path,
            arguments: runAs.isEmpty ? arguments : Array(runAs.dropFirst()) + [path] + arguments,
            logFile: output
        )
        let status = child.wait()
        guard status == 0 else {
            throw TestSupportError(
                "\(program) \(arguments.joined(separator: " ")) failed (wait status \(status)): "
                    + ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
            )
        }
    }

    /// Where the server binaries are.
    static func binDirectory() throws -> URL {
        let fileManager = FileManager.default
        func hasServer(_ directory: String) -> Bool { fileManager.isExecutableFile(atPath: directory + "/postgres") }
        if let given = ProcessInfo.processInfo.environment["KAKEHASHI_PG_BIN"], hasServer(given) { return URL(fileURLWithPath: given) }
        let versions = ((try? fileManager.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).compactMap(Int.init).sorted()
        for version in versions.reversed() where hasServer("/usr/lib/postgresql/\(version)/bin") {
            return URL(fileURLWithPath: "/usr/lib/postgresql/\(version)/bin")
        }
        throw TestSupportError(
            "PostgreSQL's server is not installed (no /usr/lib/postgresql/*/bin/postgres; set KAKEHASHI_PG_BIN or run deploy/test, which installs Debian's postgresql)"
        )
    }
}
