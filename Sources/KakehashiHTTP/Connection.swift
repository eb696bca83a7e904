import COpenSSL
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One TCP connection, optionally wrapped in TLS; blocking, with a timeout on every step.
final class Connection {
    let fd: Int32
    let timeout: Duration
    private var ssl: OpaquePointer?

    init(fd: Int32, timeout: Duration) {
        self.fd = fd
        self.timeout = timeout
        var value = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    func close() {
        if let ssl {
            SSL_shutdown(ssl)
            SSL_free(ssl)
            self.ssl = nil
        }
        Glibc.close(fd)
    }

    static func errno(_ code: Int32 = Glibc.errno) -> String { String(cString: strerror(code)) }

    /// A connected socket to `host:port` (each address in turn), within `timeout` each.
    static func open(host: String, port: Int, timeout: Duration) throws(HTTPClientError) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else { throw HTTPClientError.resolve("\(host): \(String(cString: gai_strerror(status)))") }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        let milliseconds = Int32(min(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000, 600_000))
        while let address = entry {
            entry = address.pointee.ai_next
            let fd = socket(address.pointee.ai_family, address.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), address.pointee.ai_protocol)
            guard fd >= 0 else {
                lastError = errno()
                continue
            }
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            var result = Glibc.connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen)
            if result != 0 && Glibc.errno == EINPROGRESS {
                var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let ready = poll(&poller, 1, milliseconds)
                if ready == 1 {
                    var error: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                    result = error == 0 ? 0 : -1
                    if error != 0 { lastError = "\(host):\(port): \(errno(error))" }
                } else {
                    lastError = ready == 0 ? "\(host):\(port): no answer in \(timeout)" : "\(host):\(port): \(errno())"
                    result = -1
                }
            } else if result != 0 {
                lastError = "\(host):\(port): \(errno())"
            }
            if result == 0 {
                _ = fcntl(fd, F_SETFL, flags)
                return fd
            }
            Glibc.close(fd)
        }
        throw HTTPClientError.connect(lastError)
    }

    /// The TLS handshake, checking the certificate chain and `host`.
    func startTLS(context: OpaquePointer, host: String) throws(HTTPClientError) {
        guard let made = SSL_new(context) else { throw HTTPClientError.tls("SSL_new failed: \(Self.sslErrors())") }
        ssl = made
        SSL_set_fd(made, fd)
        let isAddress = host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
        if !isAddress { _ = kk_ssl_set_server_name(made, host) }
        guard SSL_set1_host(made, host) == 1 else { throw HTTPClientError.tls("cannot check the certificate for \(host)") }
        ERR_clear_error()
        guard SSL_connect(made) == 1 else {
            let verify = SSL_get_verify_result(made)
            if verify != X509_V_OK {
                throw HTTPClientError.tls("the certificate of \(host) is not trusted: \(String(cString: X509_verify_cert_error_string(verify)))")
            }
            throw HTTPClientError.tls("the handshake with \(host) failed: \(Self.sslErrors())")
        }
    }

    /// OpenSSL's queued errors, as text.
    static func sslErrors() -> String {
        var messages = [String]()
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.isEmpty ? "unknown" : messages.joined(separator: "; ")
    }

    func write(_ bytes: [UInt8]) throws(HTTPClientError) {
        var offset = 0
        while offset < bytes.count {
            let written: Int = bytes.withUnsafeBytes { raw in
                let base = raw.baseAddress! + offset
                let count = bytes.count - offset
                if let ssl { return Int(SSL_write(ssl, base, Int32(min(count, Int(Int32.max))))) }
                return Glibc.send(fd, base, count, Int32(MSG_NOSIGNAL))
            }
            if written <= 0 {
                if ssl == nil && (Glibc.errno == EAGAIN || Glibc.errno == EWOULDBLOCK) { throw HTTPClientError.timeout("sending the request") }
                if ssl == nil && Glibc.errno == EINTR { continue }
                throw HTTPClientError.io(ssl == nil ? "sending: \(Self.errno())" : "sending over TLS: \(Self.sslErrors())")
            }
            offset += written
        }
    }

    /// Reads what is there (0 at the end of the stream).
    func read(into buffer: inout [UInt8], firstOfAnswer: Bool) throws(HTTPClientError) -> Int {
        while true {
            let count: Int = buffer.withUnsafeMutableBytes { raw in
                if let ssl { return Int(SSL_read(ssl, raw.baseAddress, Int32(raw.count))) }
                return Glibc.recv(fd, raw.baseAddress, raw.count, 0)
            }
            if count > 0 { return count }
            if count == 0 { return 0 }
            if let ssl {
                let reason = SSL_get_error(ssl, Int32(count))
                if reason == SSL_ERROR_ZERO_RETURN { return 0 }
                if reason == SSL_ERROR_SYSCALL && (Glibc.errno == EAGAIN || Glibc.errno == EWOULDBLOCK) {
                    throw HTTPClientError.timeout("waiting for the answer")
                }
                if reason == SSL_ERROR_SYSCALL && Glibc.errno == 0 { return 0 }
                throw HTTPClientError.io("reading over TLS: \(Self.sslErrors())")
            }
            if Glibc.errno == EINTR { continue }
            if Glibc.errno == EAGAIN || Glibc.errno == EWOULDBLOCK { throw HTTPClientError.timeout("waiting for the answer") }
            if Glibc.errno == ECONNRESET && firstOfAnswer { return 0 }
            throw HTTPClientError.io("reading: \(Self.errno())")
        }
    }
}
