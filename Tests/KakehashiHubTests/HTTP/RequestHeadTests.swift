import Foundation
import KakehashiHubTestSupport
import KakehashiTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A request head over the limits, or not HTTP at all, is answered and the connection closed,
/// over a real socket to the running server (it used to hang with no answer).
@Suite struct RequestHeadTests {
    /// Sends `request` on a new connection and reads until the server closes it (`wait` seconds
    /// at most); with the time it took.
    static func timedExchange(_ request: [UInt8], port: Int, wait: Int = 5) throws -> (reply: String, seconds: Double, closed: Bool) {
        let began = ContinuousClock.now
        let (reply, closed) = try exchange(request, port: port, wait: wait, closed: ())
        let elapsed = ContinuousClock.now - began
        return (reply, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, closed)
    }

    /// Sends `request` on a new connection and reads until the server closes it (5 s at most).
    static func exchange(_ request: [UInt8], port: Int) throws -> String { try exchange(request, port: port, wait: 5, closed: ()).0 }

    /// Whether the server closed the connection (rather than the wait running out).
    static func exchange(_ request: [UInt8], port: Int, wait: Int, closed: Void) throws -> (String, Bool) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestFailure("connect: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: wait, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var reply = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        var closedByServer = false
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            // A close with unread bytes in the server's socket arrives as a reset: closed too.
            if count == 0 || (count < 0 && errno == ECONNRESET) { closedByServer = true }
            if count <= 0 { break }
            reply += buffer[0..<count]
        }
        return (String(decoding: reply, as: UTF8.self), closedByServer)
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    @Test func oversizedAndMalformedHeadsAreAnsweredAndClosed() async throws {
        let live = try await LiveHub(HubHarness.configuration())
        let port = live.port
        let header =
            Array("GET /ngsi-ld/v1/entities?type=WaterObserved HTTP/1.1\r\nHost: x\r\nX-Big: ".utf8)
            + [UInt8](repeating: UInt8(ascii: "a"), count: 90_000) + Array("\r\n\r\n".utf8)
        // Blocking socket calls, off the concurrency pool.
        let big = try await offThePool { try Self.exchange(header, port: port) }
        #expect(big.hasPrefix("HTTP/1.1 431 "), "\(big.prefix(200))")
        #expect(big.contains(#""status":431"#))
        let line = Array("GET /ngsi-ld/v1/entities?type=\(String(repeating: "A", count: 90_000)) HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        let long = try await offThePool { try Self.exchange(line, port: port) }
        #expect(long.hasPrefix("HTTP/1.1 414 ") && long.contains(#""status":414"#), "\(long.prefix(200))")
        // A long URL under the line limit, within the head's, is read as usual.
        let query = Array("GET /healthz?\(String(repeating: "a", count: 12_000)) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)
        #expect(try await offThePool { try Self.exchange(query, port: port) }.hasPrefix("HTTP/1.1 "))
        let garbage = try await offThePool { try Self.exchange(Array("BLAH\r\n\r\n".utf8), port: port) }
        #expect(garbage.hasPrefix("HTTP/1.1 400 "), "\(garbage.prefix(200))")
        #expect(garbage.contains("https://uri.etsi.org/ngsi-ld/errors/InvalidRequest"))
        // An ordinary request on the same server still works.
        let ordinary = try await offThePool {
            try Self.exchange(Array("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8), port: port)
        }
        #expect(ordinary.hasPrefix("HTTP/1.1 200 "), "\(ordinary.prefix(200))")
        await live.stop()
    }

    /// A connection that sends half a request and falls silent, or stays open idle after its
    /// answer, is closed after `http.idle_timeout` (here 1 s) instead of holding a slot forever.
    /// Each is given 60 s to be closed: a whole suite on two cores delays timers by seconds, and
    /// without the timeout nothing would close them at all.
    @Test func halfSentAndIdleConnectionsAreClosed() async throws {
        var configuration = HubHarness.configuration()
        configuration.http.idleTimeout = .seconds(1)
        let live = try await LiveHub(configuration)
        let port = live.port
        let half = try await offThePool { try Self.timedExchange(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n".utf8), port: port, wait: 60) }
        #expect(half.closed, "closed \(half.closed) after \(half.seconds) s")
        let body = try await offThePool {
            try Self.timedExchange(
                Array("POST /ngsi-ld/v1/entities HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\"".utf8),
                port: port,
                wait: 60
            )
        }
        #expect(body.closed, "closed \(body.closed) after \(body.seconds) s")
        let idle = try await offThePool { try Self.timedExchange(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8), port: port, wait: 60) }
        #expect(
            idle.reply.hasPrefix("HTTP/1.1 200 ") && idle.closed,
            "\(idle.reply.prefix(100)) closed \(idle.closed) after \(idle.seconds) s"
        )
        await live.stop()
    }
}
