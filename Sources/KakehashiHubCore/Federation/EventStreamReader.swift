import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Reads a Server-Sent Events response over HTTP(S) as it arrives: each event's name and data.
/// The stream ends when the response ends or fails (with the reason), or when the task
/// reading it is cancelled.
final class EventStreamReader: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    struct Event: Sendable, Hashable {
        var name: String?
        var data: String
    }

    enum Failure: Error, CustomStringConvertible {
        case status(Int, String)
        case transport(String)
        var description: String {
            switch self {
            case .status(let code, let detail): "answered \(code): \(detail)"
            case .transport(let reason): reason
            }
        }
    }

    private let continuation: AsyncThrowingStream<Event, any Error>.Continuation
    let events: AsyncThrowingStream<Event, any Error>
    private var buffer = [UInt8]()
    private var status = 0
    private var errorBody = [UInt8]()
    private var session: URLSession?
    private var task: URLSessionDataTask?
    private let lock = NSLock()

    /// Starts the request.
    init(url: URL, headers: [String: String]) {
        (events, continuation) = AsyncThrowingStream.makeStream(bufferingPolicy: .bufferingOldest(10_000))
        super.init()
        let settings = URLSessionConfiguration.ephemeral
        settings.timeoutIntervalForRequest = 60   // keepalives arrive every 15 s
        settings.timeoutIntervalForResource = .greatestFiniteMagnitude
        let session = URLSession(configuration: settings, delegate: self, delegateQueue: nil)
        var request = URLRequest(url: url)
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.setValue("text/event-stream", forHTTPHeaderField: "Accept")
        let task = session.dataTask(with: request)
        self.session = session
        self.task = task
        continuation.onTermination = { [weak self] _ in self?.close() }
        task.resume()
    }

    func close() {
        lock.lock()
        let task = self.task, session = self.session
        self.task = nil
        self.session = nil
        lock.unlock()
        task?.cancel()
        session?.invalidateAndCancel()
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        lock.lock()
        status = (response as? HTTPURLResponse)?.statusCode ?? 0
        lock.unlock()
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        lock.lock()
        defer { lock.unlock() }
        guard status == 200 else {
            if errorBody.count < 2048 { errorBody.append(contentsOf: data.prefix(2048 - errorBody.count)) }
            return
        }
        buffer.append(contentsOf: data)
        // Events end with a blank line.
        while let end = Self.blankLine(in: buffer) {
            let block = String(decoding: buffer[..<end.start], as: UTF8.self)
            buffer.removeFirst(end.after)
            var event = Event(name: nil, data: "")
            var lines = [String]()
            for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                let text = line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
                if text.hasPrefix("event:") { event.name = text.dropFirst(6).trimmingCharacters(in: .whitespaces) }
                if text.hasPrefix("data:") { lines.append(String(text.dropFirst(text.hasPrefix("data: ") ? 6 : 5))) }
            }
            event.data = lines.joined(separator: "\n")
            if event.name != nil || !lines.isEmpty { continuation.yield(event) }
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        lock.lock()
        let status = self.status, body = errorBody
        lock.unlock()
        if status != 0 && status != 200 {
            let detail = (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])?["detail"] as? String ?? String(decoding: body.prefix(200), as: UTF8.self)
            continuation.finish(throwing: Failure.status(status, detail))
        } else if let error {
            continuation.finish(throwing: Failure.transport(error.localizedDescription))
        } else {
            continuation.finish()
        }
    }

    /// The first blank line in `bytes`: where the event ends and where the next starts.
    static func blankLine(in bytes: [UInt8]) -> (start: Int, after: Int)? {
        var i = 0
        while i + 1 < bytes.count {
            if bytes[i] == 0x0A && bytes[i + 1] == 0x0A { return (i, i + 2) }
            if i + 3 < bytes.count, bytes[i] == 0x0D, bytes[i + 1] == 0x0A, bytes[i + 2] == 0x0D, bytes[i + 3] == 0x0A { return (i, i + 4) }
            i += 1
        }
        return nil
    }
}
