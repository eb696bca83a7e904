import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiHubTestSupport
import KakehashiModel
import Logging
import ServiceLifecycle

/// A hub on a fresh SQLite file, driven through Hummingbird's router test client (the same
/// router the server runs).
struct HubHarness {
    static let tenantHeader = HTTPField.Name("NGSILD-Tenant")!

    static func configuration(path: String = Readings.temporaryDatabase(), defaultTenant: Tenant? = nil) -> HubConfiguration {
        var configuration = HubConfiguration(
            storagePath: path,
            tenants: [
                Readings.kurume: .init(gateways: [try! GatewayID("gw-01")]),
                Readings.omuta: .init(gateways: [try! GatewayID("gw-om")]),
            ]
        )
        configuration.defaultTenant = defaultTenant
        configuration.storage.sync = .normal
        configuration.limits.maxBodyBytes = 64 * 1024
        return configuration
    }

    /// Runs `body` against a hub on `configuration`. Without `access`, keys are not required
    /// (the tests of each feature); `AccessTests` pass `access: true`.
    static func withHub(
        _ configuration: HubConfiguration = configuration(),
        access: Bool = false,
        now: @escaping WallClock = systemWallClock,
        _ body: @Sendable (Hub, any TestClientProtocol) async throws -> Void
    ) async throws {
        var configuration = configuration
        if !access { configuration.requireKeys = false }
        let hub = try Hub(configuration: configuration, logger: Logger(label: "test"), now: now)
        let app = Application(router: hub.router())
        try await app.test(.router) { client in try await body(hub, client) }
    }
}

/// A response as the tests look at it.
struct Reply {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let text: String
    var json: JSONValue { (try? JSONValue(parsing: text)) ?? .null }
    /// The NGSI-LD error type name of a ProblemDetails body.
    var problemType: String? { json["type"]?.stringValue?.replacingOccurrences(of: "https://uri.etsi.org/ngsi-ld/errors/", with: "") }
}

extension TestClientProtocol {
    func call(
        _ method: HTTPRequest.Method = .get,
        _ uri: String,
        tenant: Tenant? = Readings.kurume,
        headers: HTTPFields = [:],
        body: String? = nil,
        contentType: String = "application/json"
    ) async throws -> Reply {
        var fields = headers
        if let tenant { fields[HubHarness.tenantHeader] = tenant.name }
        if body != nil && fields[.contentType] == nil { fields[.contentType] = contentType }
        return try await execute(uri: uri, method: method, headers: fields, body: body.map { ByteBuffer(string: $0) }) { response in
            Reply(status: response.status, headers: response.headers, text: String(buffer: response.body))
        }
    }

    /// Readings as a gateway posts them: merged into each entity (`options=update`).
    func upsert(_ entities: [NGSIEntity], tenant: Tenant = Readings.kurume) async throws -> Reply {
        let body = JSONValue.array(entities.map { $0.json(.normalized) }).jsonText
        return try await call(.post, "/ngsi-ld/v1/entityOperations/upsert?options=update", tenant: tenant, body: body)
    }
}

extension HubHarness {
    /// ``withHub(_:access:now:_:)`` with the hub's notifier running (it delivers notifications),
    /// stopped after `body`.
    static func withNotifyingHub(
        _ configuration: HubConfiguration = configuration(),
        now: @escaping WallClock = systemWallClock,
        _ body: @Sendable (Hub, any TestClientProtocol) async throws -> Void
    ) async throws {
        var configuration = configuration
        configuration.requireKeys = false
        let hub = try Hub(configuration: configuration, logger: Logger(label: "test"), now: now)
        let group = ServiceGroup(configuration: .init(services: [hub.notifier], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        defer { running.cancel() }
        let app = Application(router: hub.router())
        do {
            try await app.test(.router) { client in try await body(hub, client) }
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            throw error
        }
        await group.triggerGracefulShutdown()
        _ = try? await running.value
    }
}
