import Foundation
import Synchronization

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
    private struct State {
        var buffer = [UInt8]()
        var status = 0
        var errorBody = [UInt8]()
        var session: URLSession?
        var task: URLSessionDataTask?
    }
    private let state = Mutex(State())

    /// Starts the request.
    init(url: URL, headers: [String: String]) {
        (events, continuation) = AsyncThrowingStream.makeStream(bufferingPolicy: .bufferingOldest(10_000))
        super.init()
        let settings = URLSessionConfiguration.ephemeral
        settings.timeoutIntervalForRequest = 60  // keepalives arrive every 15 s
        settings.timeoutIntervalForResource = .greatestFiniteMagnitude
        let session = URLSession(configuration: settings, delegate: self, delegateQueue: nil)
        var request = URLRequest(url: url)
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.setValue("text/event-stream", forHTTPHeaderField: "Accept")
        let task = session.dataTask(with: request)
        state.withLock {
            $0.session = session
            $0.task = task
        }
        continuation.onTermination = { [weak self] _ in self?.close() }
        task.resume()
    }

    func close() {
        let (task, session) = state.withLock { state in
            defer { (state.task, state.session) = (nil, nil) }
            return (state.task, state.session)
        }
        task?.cancel()
        session?.invalidateAndCancel()
    }

    func urlSession(
        _ session: URLSession,
        dataTask: URLSessionDataTask,
        didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        state.withLock { $0.status = status }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let blocks = state.withLock { state -> [String] in
            guard state.status == 200 else {
                if state.errorBody.count < 2048 { state.errorBody.append(contentsOf: data.prefix(2048 - state.errorBody.count)) }
                return []
            }
            state.buffer.append(contentsOf: data)
            // Events end with a blank line.
            var blocks = [String]()
            while let end = Self.blankLine(in: state.buffer) {
                blocks.append(String(decoding: state.buffer[..<end.start], as: UTF8.self))
                state.buffer.removeFirst(end.after)
            }
            return blocks
        }
        for block in blocks {
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
        let (status, body) = state.withLock { ($0.status, $0.errorBody) }
        if status != 0 && status != 200 {
            let detail =
                (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])?["detail"] as? String
                ?? String(decoding: body.prefix(200), as: UTF8.self)
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
