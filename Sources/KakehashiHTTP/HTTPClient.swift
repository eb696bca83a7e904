import COpenSSL
import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP/1.1 client for one server (an NGSI-LD broker): POST requests over one kept-alive
/// connection, plain or TLS (OpenSSL, which the MQTT client already loads: no further library, so
/// the gateway stays small on a board). Certificates are checked against the system's roots (or a
/// CA file) and the host name. Requests are made one at a time on a thread of their own, never
/// blocking Swift's cooperative pool; each step (connect, send, every read) has the timeout.
/// With a `niceness` above 0 that thread is one of the client's own, at that lower priority (the
/// hub's notifications yield the CPU to ingest).
public final class HTTPClient: @unchecked Sendable {
    /// Where requests go.
    public struct Endpoint: Sendable, Hashable {
        public let tls: Bool
        public let host: String
        public let port: Int
        /// The path prefix (no trailing `/`).
        public let basePath: String

        /// `http://host[:port][/prefix]` or `https://…`.
        public init(url: String) throws(HTTPClientError) {
            guard let parsed = URLComponents(string: url), let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https",
                let host = parsed.host, !host.isEmpty
            else { throw HTTPClientError.invalidURL(url) }
            tls = scheme == "https"
            self.host = host
            port = parsed.port ?? (tls ? 443 : 80)
            basePath = parsed.path.hasSuffix("/") ? String(parsed.path.dropLast()) : parsed.path
        }

        var hostHeader: String {
            let name = host.contains(":") ? "[\(host)]" : host
            return (tls && port == 443) || (!tls && port == 80) ? name : "\(name):\(port)"
        }
    }

    public let endpoint: Endpoint
    let timeout: Duration
    let caFile: String?
    private let queue: SerialRunner
    /// Only touched on `queue`.
    private var connection: Connection?
    private var context: OpaquePointer?

    public init(endpoint: Endpoint, timeout: Duration, caFile: String? = nil, niceness: Int32 = 0) {
        queue = SerialRunner(label: "kakehashi.http", niceness: niceness)
        self.endpoint = endpoint
        self.timeout = timeout
        self.caFile = caFile
        // A peer that closes while a request is written must not end the process.
        signal(SIGPIPE, SIG_IGN)
    }

    deinit {
        queue.stop()
        connection?.close()
        if let context { SSL_CTX_free(context) }
    }

    /// Sends `POST <basePath><path>` with `headers` and `body`; the connection is kept for the
    /// next request unless the server closes it.
    public func post(_ path: String, headers: [(String, String)], body: [UInt8]) async throws(HTTPClientError) -> HTTPResponse {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<HTTPResponse, HTTPClientError>, Never>) in
            queue.async {
                do { continuation.resume(returning: .success(try self.exchange(path, headers: headers, body: body))) } catch let error
                    as HTTPClientError
                {
                    continuation.resume(returning: .failure(error))
                } catch {
                    continuation.resume(returning: .failure(.io("\(error)")))
                }
            }
        }
        return try result.get()
    }

    /// Sends the `requests` (path, headers, body) one after the other on the kept connection, in
    /// one turn of the client's thread (one hand-over, however many); stops at the first that
    /// fails or is answered outside 2xx when `stopUnless2xx`. The responses (or the failure) of
    /// those sent, in order.
    public func postAll(
        _ requests: [(path: String, headers: [(String, String)], body: [UInt8])],
        stopUnless2xx: Bool = true
    ) async -> [Result<HTTPResponse, HTTPClientError>] {
        await postGroups([requests], stopUnless2xx: stopUnless2xx)[0]
    }

    /// Sends groups of requests in one turn of the client's thread: each group's requests one
    /// after the other, a group stopping at its first answer outside 2xx (when `stopUnless2xx`)
    /// while the next group goes on; a request that fails (no answer: the server is away or
    /// timed out) ends the turn, and the groups after it are not sent (empty results). Per
    /// group, the responses (or the failure) of those sent, in order.
    public func postGroups(
        _ groups: [[(path: String, headers: [(String, String)], body: [UInt8])]],
        stopUnless2xx: Bool = true
    ) async -> [[Result<HTTPResponse, HTTPClientError>]] {
        await withCheckedContinuation { (continuation: CheckedContinuation<[[Result<HTTPResponse, HTTPClientError>]], Never>) in
            queue.async {
                var results = [[Result<HTTPResponse, HTTPClientError>]]()
                var failed = false
                for requests in groups {
                    var group = [Result<HTTPResponse, HTTPClientError>]()
                    for request in requests where !failed {
                        do {
                            let response = try self.exchange(request.path, headers: request.headers, body: request.body)
                            group.append(.success(response))
                            if stopUnless2xx && !(200..<300).contains(response.status) { break }
                        } catch let error as HTTPClientError {
                            group.append(.failure(error))
                            failed = true
                        } catch {
                            group.append(.failure(.io("\(error)")))
                            failed = true
                        }
                    }
                    results.append(group)
                }
                continuation.resume(returning: results)
            }
        }
    }

    /// Closes the kept connection (the next request opens another).
    public func close() {
        queue.sync {
            self.connection?.close()
            self.connection = nil
        }
    }

    // MARK: On the queue

    private func exchange(_ path: String, headers: [(String, String)], body: [UInt8]) throws(HTTPClientError) -> HTTPResponse {
        var request = "POST \(endpoint.basePath)\(path) HTTP/1.1\r\nHost: \(endpoint.hostHeader)\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8) + body
        // A kept connection the server closed meanwhile fails before any answer: once more, anew.
        let reused = connection != nil
        do {
            return try attempt(bytes)
        } catch let error where reused && error.beforeAnswer {
            return try attempt(bytes)
        }
    }

    private func attempt(_ bytes: [UInt8]) throws(HTTPClientError) -> HTTPResponse {
        do throws(HTTPClientError) {
            if connection == nil { connection = try connect() }
            guard let connection else { throw HTTPClientError.io("no connection") }
            try connection.write(bytes)
            let response = try HTTPResponse.read(from: connection)
            if response.header("connection")?.lowercased() == "close" {
                connection.close()
                self.connection = nil
            }
            return response
        } catch {
            connection?.close()
            connection = nil
            throw error
        }
    }

    private func connect() throws(HTTPClientError) -> Connection {
        let fd = try Connection.open(host: endpoint.host, port: endpoint.port, timeout: timeout)
        let connection = Connection(fd: fd, timeout: timeout)
        guard endpoint.tls else { return connection }
        do {
            try connection.startTLS(context: try tlsContext(), host: endpoint.host)
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    private func tlsContext() throws(HTTPClientError) -> OpaquePointer {
        if let context { return context }
        guard let made = SSL_CTX_new(TLS_client_method()) else { throw HTTPClientError.tls("SSL_CTX_new failed: \(Connection.sslErrors())") }
        _ = kk_ssl_ctx_set_min_tls12(made)
        SSL_CTX_set_verify(made, SSL_VERIFY_PEER, nil)
        if let caFile {
            guard SSL_CTX_load_verify_locations(made, caFile, nil) == 1 else {
                SSL_CTX_free(made)
                throw HTTPClientError.tls("the CA file \(caFile) cannot be read: \(Connection.sslErrors())")
            }
        } else {
            SSL_CTX_set_default_verify_paths(made)
        }
        context = made
        return made
    }
}

/// A response: status, headers (names lowercased) and body.
public struct HTTPResponse: Sendable {
    public let status: Int
    public let headers: [(name: String, value: String)]
    public let body: [UInt8]

    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name == wanted }?.value
    }

    /// Reads one response: the head, then a body by `Content-Length`, chunks, or until closed.
    static func read(from connection: Connection) throws(HTTPClientError) -> HTTPResponse {
        var reader = ResponseReader(connection: connection)
        let statusLine = try reader.line(first: true)
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw HTTPClientError.malformed("the status line '\(statusLine.prefix(80))'")
        }
        var headers = [(name: String, value: String)]()
        while true {
            let line = try reader.line()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { throw HTTPClientError.malformed("the header line '\(line.prefix(80))'") }
            headers.append((line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            guard headers.count <= 100 else { throw HTTPClientError.malformed("more than 100 headers") }
        }
        let find = { (name: String) in headers.first { $0.name == name }?.value }
        var body = [UInt8]()
        if status == 204 || status == 304 || (100..<200).contains(status) {
        } else if find("transfer-encoding")?.lowercased().contains("chunked") == true {
            while true {
                let sizeLine = try reader.line()
                guard let size = Int(sizeLine.split(separator: ";")[0].trimmingCharacters(in: .whitespaces), radix: 16), size >= 0 else {
                    throw HTTPClientError.malformed("the chunk size '\(sizeLine.prefix(20))'")
                }
                if size == 0 {
                    while try !reader.line().isEmpty {}
                    break
                }
                body += try reader.bytes(size)
                _ = try reader.line()
            }
        } else if let length = find("content-length").flatMap({ Int($0) }) {
            guard length <= 64 << 20 else { throw HTTPClientError.malformed("a body of \(length) bytes") }
            body = try reader.bytes(length)
        } else {
            body = try reader.rest()
        }
        return HTTPResponse(status: status, headers: headers, body: body)
    }
}

/// Buffered reading of a response.
struct ResponseReader {
    let connection: Connection
    var buffer: [UInt8] = []
    var start = 0

    init(connection: Connection) { self.connection = connection }

    private mutating func fill(first: Bool = false) throws(HTTPClientError) -> Bool {
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        let count = try connection.read(into: &chunk, firstOfAnswer: first && buffer.isEmpty)
        guard count > 0 else { return false }
        buffer += chunk[..<count]
        return true
    }

    mutating func line(first: Bool = false) throws(HTTPClientError) -> String {
        while true {
            if let end = buffer[start...].firstIndex(of: 10) {
                var line = buffer[start..<end]
                if line.last == 13 { line = line.dropLast() }
                start = end + 1
                return String(decoding: line, as: UTF8.self)
            }
            guard buffer.count - start < 16 * 1024 else { throw HTTPClientError.malformed("a header line over 16 KiB") }
            guard try fill(first: first) else { throw HTTPClientError.closed(beforeAnswer: first) }
        }
    }

    mutating func bytes(_ count: Int) throws(HTTPClientError) -> [UInt8] {
        while buffer.count - start < count {
            guard try fill() else { throw HTTPClientError.closed(beforeAnswer: false) }
        }
        defer { start += count }
        return Array(buffer[start..<(start + count)])
    }

    mutating func rest() throws(HTTPClientError) -> [UInt8] {
        while try fill() {}
        return Array(buffer[start...])
    }
}

/// Why a request failed.
public enum HTTPClientError: Error, Sendable, CustomStringConvertible {
    case invalidURL(String)
    case resolve(String)
    case connect(String)
    case tls(String)
    case io(String)
    case timeout(String)
    case closed(beforeAnswer: Bool)
    case malformed(String)

    /// Whether nothing of an answer came (a kept connection closed by the server: try anew).
    var beforeAnswer: Bool {
        switch self {
        case .closed(let before): before
        case .io: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .invalidURL(let url): "'\(url)' is not an http(s)://host[:port][/path] URL"
        case .resolve(let reason): "name resolution failed: \(reason)"
        case .connect(let reason): "connection failed: \(reason)"
        case .tls(let reason): "TLS failed: \(reason)"
        case .io(let reason): "the connection failed: \(reason)"
        case .timeout(let step): "timed out \(step)"
        case .closed(let before): before ? "the server closed the connection without an answer" : "the server closed the connection mid-answer"
        case .malformed(let what): "a malformed answer: \(what)"
        }
    }
}

/// Runs blocks one at a time, in order: on a dispatch queue, or with a `niceness` above 0 on a
/// thread of its own at that lower priority (on Linux `setpriority` applies to the calling thread
/// only, and an unprivileged process may not raise it back, so a shared worker thread must not be
/// lowered).
final class SerialRunner: @unchecked Sendable {
    private let queue: DispatchQueue?
    private let lock = NSCondition()
    /// Guarded by `lock`.
    private var jobs: [@Sendable () -> Void] = []
    private var stopped = false

    init(label: String, niceness: Int32) {
        guard niceness > 0 else {
            queue = DispatchQueue(label: label)
            return
        }
        queue = nil
        let thread = Thread { [self] in
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
            while let job = next() { job() }
        }
        thread.start()
    }

    private func next() -> (@Sendable () -> Void)? {
        lock.lock()
        defer { lock.unlock() }
        while jobs.isEmpty && !stopped { lock.wait() }
        return jobs.isEmpty ? nil : jobs.removeFirst()
    }

    func async(_ job: @escaping @Sendable () -> Void) {
        guard queue == nil else {
            queue?.async(execute: job)
            return
        }
        lock.lock()
        jobs.append(job)
        lock.signal()
        lock.unlock()
    }

    func sync(_ job: @escaping @Sendable () -> Void) {
        if let queue {
            queue.sync(execute: job)
            return
        }
        let done = DispatchSemaphore(value: 0)
        async {
            job()
            done.signal()
        }
        done.wait()
    }

    /// Ends the thread once the blocks given so far have run.
    func stop() {
        lock.lock()
        stopped = true
        lock.signal()
        lock.unlock()
    }
}
