import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A Server-Sent Events client on a plain TCP socket, read on its own thread: what a browser's
/// EventSource does, without a browser. Used by tests and the latency benchmark.
///
/// ```swift
/// let client = try SSEClient(port: port, path: "/feeds/alerts", headers: ["NGSILD-Tenant": "kurume"])
/// try await waitUntil("two events", timeout: .seconds(5)) { client.events.count >= 2 }
/// client.close()
/// ```
public final class SSEClient: Sendable {
    /// One event as received.
    public struct Event: Sendable, Hashable {
        /// The `id:` field.
        public let id: String?
        /// The `event:` field.
        public let name: String?
        /// The joined `data:` lines.
        public let data: String
        /// When its last byte arrived (monotonic clock, nanoseconds).
        public let receivedAt: UInt64
    }

    private struct State {
        var events: [Event] = []
        var status: Int?
        var ended = false
        var headers: [String: String] = [:]
    }

    private let state = Mutex(State())
    private let socket: Int32
    private let closed = Atomic<Bool>(false)
    /// Called on the reading thread for each event as it arrives.
    private let onEvent: (@Sendable (Event) -> Void)?

    /// Connects to `127.0.0.1:port` and sends `GET path`.
    public init(
        host: String = "127.0.0.1",
        port: Int,
        path: String,
        headers: [String: String] = [:],
        onEvent: (@Sendable (Event) -> Void)? = nil
    ) throws {
        self.onEvent = onEvent
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw TestSupportError("connecting to \(host):\(port) failed: errno \(errno)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        socket = fd
        var request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nAccept: text/event-stream\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else {
            Glibc.close(fd)
            throw TestSupportError("sending the request to \(host):\(port) failed")
        }
        let thread = Thread { [self] in readLoop() }
        thread.start()
    }

    deinit { close() }

    /// Events received so far.
    public var events: [Event] { state.withLock { $0.events } }
    /// The HTTP status, once the head arrived.
    public var status: Int? { state.withLock { $0.status } }
    /// Response headers (lower-cased names).
    public var headers: [String: String] { state.withLock { $0.headers } }
    /// Whether the server ended the stream (or the connection failed).
    public var ended: Bool { state.withLock { $0.ended } }

    /// Closes the connection (a client going away mid-stream).
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(socket, Int32(SHUT_RDWR))
    }

    private func readLoop() {
        var pending = [UInt8]()
        var headDone = false
        var chunked = false
        var body = [UInt8]()  // de-chunked stream bytes not yet parsed into events
        var buffer = [UInt8](repeating: 0, count: 65536)
        defer {
            Glibc.close(socket)
            state.withLock { $0.ended = true }
        }
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return }
            pending += buffer[0..<count]
            if !headDone {
                guard let end = Self.find(pending, [13, 10, 13, 10]) else { continue }
                let head = String(decoding: pending[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
                pending.removeFirst(end + 4)
                headDone = true
                let status = head.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") }
                var fields = [String: String]()
                for line in head.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                chunked = fields["transfer-encoding"]?.lowercased().contains("chunked") ?? false
                state.withLock {
                    $0.status = status
                    $0.headers = fields
                }
            }
            if chunked {
                // Chunk size line, data, CRLF.
                while let lineEnd = Self.find(pending, [13, 10]) {
                    let sizeText = String(decoding: pending[0..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
                    guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return }
                    if size == 0 { parse(&body); return }
                    guard pending.count >= lineEnd + 2 + size + 2 else { break }
                    body += pending[(lineEnd + 2)..<(lineEnd + 2 + size)]
                    pending.removeFirst(lineEnd + 2 + size + 2)
                }
            } else {
                body += pending
                pending.removeAll(keepingCapacity: true)
            }
            parse(&body)
        }
    }

    /// Takes complete events (ended by a blank line) out of `body`.
    private func parse(_ body: inout [UInt8]) {
        while let end = Self.find(body, [10, 10]) {
            let block = String(decoding: body[0..<end], as: UTF8.self)
            body.removeFirst(end + 2)
            var id: String?, name: String?, data = [String]()
            for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix(":") { continue }
                let field = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                var value = field.count > 1 ? String(field[1]) : ""
                if value.hasPrefix(" ") { value.removeFirst() }
                switch field[0] {
                case "id": id = value
                case "event": name = value
                case "data": data.append(value)
                default: break
                }
            }
            guard !data.isEmpty else { continue }
            let event = Event(id: id, name: name, data: data.joined(separator: "\n"), receivedAt: DispatchTime.now().uptimeNanoseconds)
            state.withLock { $0.events.append(event) }
            onEvent?(event)
        }
    }

    private static func find(_ bytes: [UInt8], _ pattern: [UInt8]) -> Int? {
        guard bytes.count >= pattern.count else { return nil }
        var i = 0
        while i <= bytes.count - pattern.count {
            if bytes[i] == pattern[0] && Array(bytes[i..<(i + pattern.count)]) == pattern { return i }
            i += 1
        }
        return nil
    }
}
