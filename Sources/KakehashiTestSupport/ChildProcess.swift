import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, with an empty signal mask and default signal
/// handlers. (Processes started from Swift concurrency's worker threads inherit their blocked
/// signals, so a child started with Foundation's `Process` there ignores SIGTERM.)
public final class ChildProcess: @unchecked Sendable {
    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later; not in Swift's Glibc
    /// module), looked up once.
    private static let closeFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// The child's pid.
    public let pid: pid_t
    private let exitStatus = Mutex<Int32?>(nil)

    /// Whether the child leads its own process group (see ``signalGroup(_:)``).
    public let leadsGroup: Bool

    /// Starts `executable` with `arguments`; standard output and error go to `logFile` (standard
    /// error to `errorFile` when given). With
    /// `ownGroup` the child leads a new process group, so a shell pipeline can be stopped whole.
    /// `environment` replaces the inherited environment when given.
    public init(
        executable: String,
        arguments: [String],
        logFile: String,
        errorFile: String? = nil,
        ownGroup: Bool = false,
        environment: [String: String]? = nil
    ) throws {
        leadsGroup = ownGroup
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logFile, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        if let errorFile {
            posix_spawn_file_actions_addopen(&actions, 2, errorFile, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        // Nothing else of this process: SwiftNIO opens its sockets without close-on-exec, so a
        // child would hold a test server's listening socket, and its port, after the server stops.
        if let closeFrom = Self.closeFrom { _ = closeFrom(&actions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if ownGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child = pid_t()
        let rc: Int32
        if let environment {
            var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer { for pointer in envp { free(pointer) } }
            rc = posix_spawn(&child, executable, &actions, &attributes, argv, &envp)
        } else {
            rc = posix_spawn(&child, executable, &actions, &attributes, argv, environ)
        }
        guard rc == 0 else { throw TestSupportError("posix_spawn \(executable) failed: \(String(cString: strerror(rc)))") }
        pid = child
    }

    deinit {
        if leadsGroup { kill(-pid, SIGKILL) }
        if isRunning {
            kill(pid, SIGKILL)
            _ = wait()
        }
    }

    /// Whether the child has not exited yet (reaps it if it has).
    public var isRunning: Bool {
        if exitStatus.withLock({ $0 }) != nil { return false }
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        if rc == pid { exitStatus.withLock { $0 = status }; return false }
        return rc == 0
    }

    /// Sends `signal`.
    public func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Sends `signal` to every process of the child's group (started with `ownGroup`), e.g.
    /// both ends of a shell pipeline, even after the shell itself exited.
    public func signalGroup(_ signal: Int32) {
        guard leadsGroup else { return self.signal(signal) }
        kill(-pid, signal)
    }

    /// Waits for the child to exit on a thread of its own, so that the waiting does not take one
    /// of concurrency's few worker threads (two on a two-core machine) from every other test.
    @discardableResult
    public func exit() async -> Int32 {
        await offThePool { self.wait() }
    }

    /// Waits for the child to exit and returns its raw wait status.
    @discardableResult
    public func wait() -> Int32 {
        if let known = exitStatus.withLock({ $0 }) { return known }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            // Reaped meanwhile by `isRunning` on another thread.
            if errno != EINTR { return exitStatus.withLock { $0 } ?? status }
        }
        exitStatus.withLock { $0 = status }
        return status
    }
}

/// Runs blocking `body` (waiting for a process, a long synchronous tool) on a thread of its own
/// and resumes with its result: concurrency's worker threads are as many as cores, and a test
/// blocking one stalls every other test of the run.
public func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    let result: Result<T, any Error> = await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: Result { try body() }) }.start()
    }
    return try result.get()
}

/// ``offThePool(_:)`` for a body that cannot fail.
public func offThePool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}
