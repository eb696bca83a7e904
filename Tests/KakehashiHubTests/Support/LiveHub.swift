import Foundation
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiModel
import KakehashiTestSupport
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The hub's whole application (HTTP server and services) running on a free loopback port.
final class LiveHub: Sendable {
    let hub: Hub
    let port: Int
    private let group: ServiceGroup
    private let running: Task<Void, any Error>
    private let ended: Reason

    /// Why the application ended, if it did before ``stop()`` (for failure messages).
    var endedEarly: String? { ended.value.withLock { $0 } }

    private final class Reason: Sendable {
        let value = Mutex<String?>(nil)
    }

    /// Without `access`, keys are not required (see ``HubHarness/withHub(_:access:_:)``).
    init(_ configuration: HubConfiguration, access: Bool = false, port: Int = 0) async throws {
        var configuration = configuration
        configuration.http.port = port
        if !access { configuration.requireKeys = false }
        let hub = try await Hub.open(configuration: configuration, logger: Logger(label: "test"))
        let bound = Mutex<Int?>(nil)
        let app = hub.application { port in bound.withLock { $0 = port } }
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "test")))
        // The application may end before it listens (a port taken meanwhile): say so at once.
        let reason = Reason()
        self.ended = reason
        running = Task {
            do { try await group.run() } catch {
                reason.value.withLock { $0 = "\(error)" }
                throw error
            }
            reason.value.withLock { $0 = $0 ?? "ended" }
        }
        // A bound for failure only: at the start of a full run on two cores, every suite competes.
        let deadline = ContinuousClock.now + .seconds(120)
        while bound.withLock({ $0 }) == nil {
            if let reason = reason.value.withLock({ $0 }) {
                throw LiveHubError(reason: "the hub stopped before it listened on port \(port): \(reason)")
            }
            guard ContinuousClock.now < deadline else { throw LiveHubError(reason: "the hub's HTTP server did not start within 120 s") }
            try await Task.sleep(for: .milliseconds(10))
        }
        self.hub = hub
        self.group = group
        self.port = bound.withLock { $0 }!
    }

    /// Starts a hub again on the `port` an earlier one had, trying again (up to a minute) while
    /// the port is still taken: under load the stopped hub's listener was seen to outlive its stop.
    static func restart(_ configuration: HubConfiguration, access: Bool = false, port: Int) async throws -> LiveHub {
        var attempt = 0
        while true {
            do { return try await LiveHub(configuration, access: access, port: port) } catch let error as LiveHubError where attempt < 120 {
                attempt += 1
                print("restarting a hub on port \(port): \(error); trying again")
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// Shuts the application down and waits for it.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        await hub.close()
    }

    struct LiveHubError: Error, CustomStringConvertible {
        let reason: String
        var description: String { reason }
    }
}

/// Posts `entities` to the upsert route of the hub on `port` (with `key` as bearer token, or the
/// `NGSILD-Tenant` header of an open hub); fails unless the hub answers 201, 204 or 207.
func postEntities(_ entities: [NGSIEntity], port: Int, key: String? = nil, tenant: String? = nil) async throws {
    var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/ngsi-ld/v1/entityOperations/upsert?options=update")!)
    request.httpMethod = "POST"
    request.setValue("application/json", forHTTPHeaderField: "Content-Type")
    if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
    if let tenant { request.setValue(tenant, forHTTPHeaderField: "NGSILD-Tenant") }
    request.httpBody = Data(JSONValue.array(entities.map { $0.json(.normalized) }).serialized())
    let (_, response) = try await URLSession.shared.data(for: request)
    let status = (response as? HTTPURLResponse)?.statusCode ?? 0
    guard status == 201 || status == 204 || status == 207 else { throw TestSupportError("upsert answered \(status)") }
}
