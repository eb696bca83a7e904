import Foundation
import Hummingbird
import KakehashiModel
import KakehashiTestSupport
import Logging
import ServiceLifecycle
import Synchronization

/// A real HTTP server on a loopback port that keeps every notification POSTed to it: what a
/// city's webhook is. It can be taken down (nothing listens: connections are refused) and
/// brought back on the same port, or told to answer an error status.
final class NotificationReceiver: Sendable {
    struct Received: Sendable {
        let path: String
        let headers: [String: String]
        let body: JSONValue
    }

    let port: Int
    private let received = Mutex<[Received]>([])
    private let status = Mutex<HTTPResponse.Status>(.noContent)
    private let server = Mutex<(group: ServiceGroup, task: Task<Void, any Error>)?>(nil)

    init() async throws {
        port = try TestBroker.freePort()
        try await up()
    }

    /// `http://127.0.0.1:<port><path>`.
    func uri(_ path: String = "/notify") -> String { "http://127.0.0.1:\(port)\(path)" }

    var notifications: [Received] { received.withLock { $0 } }

    /// The `data` entities of every notification so far, in the order received.
    var entities: [JSONValue] { notifications.flatMap { $0.body["data"]?.arrayValue ?? [] } }

    /// The status answered from now on (204 by default).
    func answer(_ status: HTTPResponse.Status) { self.status.withLock { $0 = status } }

    /// Listens (again) on `port`.
    func up() async throws {
        let router = Router()
        router.post("**") { [self] request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 16 << 20)
            var headers = [String: String]()
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let answer = status.withLock { $0 }
            if answer == .noContent || answer == .ok {
                let body = (try? JSONValue(parsing: String(buffer: bytes))) ?? .string(String(buffer: bytes))
                received.withLock { $0.append(Received(path: request.uri.string, headers: headers, body: body)) }
            }
            return Response(status: answer)
        }
        // The port may be slow to come free after a down (or a killed client's connections):
        // tried again until it binds, the last error said if it never does.
        let deadline = ContinuousClock.now + .seconds(60)
        var lastError = "nothing"
        while true {
            let state = Mutex<(bound: Bool, failed: String?)>((false, nil))
            let app = Application(
                router: router,
                configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "receiver"),
                onServerRunning: { _ in state.withLock { $0.bound = true } },
                logger: Logger(label: "receiver")
            )
            let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "receiver")))
            let task = Task {
                do { try await group.run() } catch {
                    state.withLock { $0.failed = "\(error)" }
                    throw error
                }
                state.withLock { $0.failed = $0.failed ?? "the server ended" }
            }
            while true {
                let now = state.withLock { $0 }
                if now.bound {
                    server.withLock { $0 = (group, task) }
                    return
                }
                if let failed = now.failed {
                    lastError = failed
                    break
                }
                guard ContinuousClock.now < deadline else { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            guard ContinuousClock.now < deadline else {
                await group.triggerGracefulShutdown()
                throw TestSupportError("the receiver did not listen on \(port) within 60 s: \(lastError)")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Stops listening (connections are refused until ``up()``).
    func down() async {
        guard
            let (group, task) = server.withLock({ state in
                defer { state = nil }; return state
            })
        else { return }
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}
