import Foundation
import Synchronization

/// Reads a named pipe on its own thread and hands what arrives to an async consumer: the bytes,
/// and `.writerClosed` each time a writer closes its end. The pipe is created when missing, and
/// reopened after each writer, so one writer after another can feed it.
final class NamedPipeReader: Sendable {
    enum Chunk: Sendable {
        case bytes([UInt8])
        case writerClosed
    }

    let path: String
    let chunks: AsyncStream<Chunk>
    private let continuation: AsyncStream<Chunk>.Continuation
    private let stopped = Atomic<Bool>(false)

    init(path: String) throws(SourceError) {
        self.path = path
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFIFO else {
                throw SourceError(source: path, detail: "\(path) exists and is not a named pipe (remove it, or name another path)")
            }
        } else if mkfifo(path, 0o600) != 0 {
            throw SourceError(source: path, detail: "cannot create the named pipe \(path): \(String(cString: strerror(errno)))")
        }
        let fd = Self.open(path)
        guard fd >= 0 else { throw SourceError(source: path, detail: "cannot open the named pipe \(path): \(String(cString: strerror(errno)))") }
        (chunks, continuation) = AsyncStream.makeStream(of: Chunk.self)
        let thread = Thread { [self] in run(fd) }
        thread.name = "kakehashi-pipe"
        thread.start()
    }

    /// Read end, non-blocking: a fresh open with no writer polls as not ready (Linux), so the
    /// thread sleeps in poll until a writer comes.
    private static func open(_ path: String) -> Int32 {
        Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    }

    private func run(_ first: Int32) {
        var fd = first
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var hadData = false
        while !stopped.load(ordering: .relaxed) && fd >= 0 {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 200)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if ready == 0 { continue }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                hadData = true
                continuation.yield(.bytes(Array(buffer[0..<n])))
            } else if n == 0 {
                // The writer closed its end: reopen to wait for the next one.
                if hadData { continuation.yield(.writerClosed) }
                hadData = false
                close(fd)
                fd = Self.open(path)
            } else if errno != EAGAIN && errno != EINTR {
                break
            }
        }
        if fd >= 0 { close(fd) }
        continuation.finish()
    }

    /// Ends the stream (within 200 ms).
    func stop() {
        stopped.store(true, ordering: .relaxed)
    }
}
