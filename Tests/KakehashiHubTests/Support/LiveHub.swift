import Foundation
import KakehashiHub
import Logging
import ServiceLifecycle
import Synchronization

/// The hub's whole application (HTTP server and services) running on a free loopback port.
final class LiveHub: Sendable {
    let hub: Hub
    let port: Int
    private let group: ServiceGroup
    private let running: Task<Void, any Error>

    /// Without `access`, keys are not required (see ``HubHarness/withHub(_:access:_:)``).
    init(_ configuration: HubConfiguration, access: Bool = false, port: Int = 0) async throws {
        var configuration = configuration
        configuration.http.port = port
        if !access { configuration.requireKeys = false }
        let hub = try Hub(configuration: configuration, logger: Logger(label: "test"))
        let bound = Mutex<Int?>(nil)
        let app = hub.application { port in bound.withLock { $0 = port } }
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "test")))
        running = Task { try await group.run() }
        let deadline = ContinuousClock.now + .seconds(20)
        while bound.withLock({ $0 }) == nil {
            guard ContinuousClock.now < deadline else { throw LiveHubError() }
            try await Task.sleep(for: .milliseconds(10))
        }
        self.hub = hub
        self.group = group
        self.port = bound.withLock { $0 }!
    }

    /// Shuts the application down and waits for it.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await running.value
    }

    struct LiveHubError: Error, CustomStringConvertible {
        var description: String { "the hub's HTTP server did not start within 20 s" }
    }
}
