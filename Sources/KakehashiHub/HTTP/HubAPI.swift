import Foundation
import HTTPTypes
import Hummingbird
import KakehashiHubCore
import KakehashiModel
import Logging

/// The hub's HTTP API: NGSI-LD entities and temporal queries, the upsert ingest path, health
/// and metrics. Handlers are plain functions of the request, so tests drive them through
/// Hummingbird's test client with the same router the server uses.
public struct HubAPI: Sendable {
    let configuration: HubConfiguration
    let store: any ObservationStore & AlertStore
    let ingestor: Ingestor
    let ingest: MQTTIngest?
    let alerts: AlertService
    let registry: MetricsRegistry
    let logger: Logger
    /// The dashboard's files; nil when `dashboard.enabled` is false.
    let dashboard: DashboardAssets?
    /// Tenants, gateways and keys.
    let directory: AccessDirectory
    /// Per-key request rate.
    let limiter: RateLimiter
    /// Open feeds per key.
    let feedSlots: FeedSlots
    /// JSON-LD contexts: hosted, preloaded and fetched.
    let contexts: ContextStore
    /// Tenants' NGSI-LD subscriptions.
    let subscriptionRecords: any SubscriptionRecords
    /// Sends their notifications (told of deletions and of subscriptions changed).
    var notifier: Notifier? = nil
    /// Links to peer hubs, for the health report.
    var federation: [FederationLink] = []

    static let tenantHeader = HTTPField.Name("NGSILD-Tenant")!
    static let countHeader = HTTPField.Name("NGSILD-Results-Count")!
    static let contentRange = HTTPField.Name("Content-Range")!
    static let coreContextLink =
        "<\(NGSIContext.core)>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""

    /// Adds every route to `router`.
    public func addRoutes(to router: Router<BasicRequestContext>) {
        if configuration.requireKeys {
            router.add(middleware: AccessMiddleware<BasicRequestContext>(directory: directory, limiter: limiter))
        }
        // The NGSI-LD routes from one table: registered here, and what the fallback below lists in
        // `Allow` for a method a path does not take.
        router.add(middleware: JSONLDMiddleware(contexts: contexts, maxBodyBytes: configuration.limits.maxBodyBytes))
        let routes = ngsiRoutes
        for route in routes { router.on(RouterPath(route.path), method: route.method, use: route.handler) }
        router.add(middleware: NGSIRouteFallback<BasicRequestContext>(routes: routes.map { ($0.path, $0.method) }))
        router.get("/healthz") { _, _ in await self.health() }
        router.get("/metrics") { _, _ in self.metrics() }
        router.get("/access/grants") { request, _ in try await self.listGrants(request) }
        router.post("/access/grants") { request, _ in try await self.createGrant(request) }
        router.delete("/access/grants/:id") { request, context in try await self.revokeGrant(request, id: context.parameters.get("id") ?? "") }
        addFeedRoutes(to: router)
        addDashboardRoutes(to: router)
    }

    /// One NGSI-LD route.
    struct NGSIRoute: Sendable {
        let path: String
        let method: HTTPRequest.Method
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response
    }

    /// Every NGSI-LD route the hub answers (each also with a trailing slash, as common clients
    /// send them: the router takes both).
    var ngsiRoutes: [NGSIRoute] {
        @Sendable func id(_ context: BasicRequestContext) -> String { context.parameters.get("id") ?? "" }
        @Sendable func attribute(_ context: BasicRequestContext) -> String { context.parameters.get("attr") ?? "" }
        var routes = [
            NGSIRoute(path: "/ngsi-ld/v1/entities", method: .get) { request, _ in try await self.queryEntities(request) },
            NGSIRoute(path: "/ngsi-ld/v1/entities", method: .post) { request, _ in try await self.createEntity(request) },
            NGSIRoute(path: "/ngsi-ld/v1/entities/:id", method: .get) { request, context in try await self.retrieveEntity(request, id: id(context)) },
            NGSIRoute(path: "/ngsi-ld/v1/entities/:id", method: .delete) { request, context in try await self.deleteEntity(request, id: id(context))
            },
            NGSIRoute(path: "/ngsi-ld/v1/entities/:id", method: .patch) { request, context in
                try await self.changeEntity(request, id: id(context), replacing: false)
            },
            NGSIRoute(path: "/ngsi-ld/v1/entities/:id", method: .put) { request, context in
                try await self.changeEntity(request, id: id(context), replacing: true)
            },
            NGSIRoute(path: "/ngsi-ld/v1/entities/:id/attrs", method: .post) { request, context in
                try await self.writeAttributes(request, id: id(context), append: true)
            },
            NGSIRoute(path: "/ngsi-ld/v1/entities/:id/attrs", method: .patch) { request, context in
                try await self.writeAttributes(request, id: id(context), append: false)
            },
            NGSIRoute(path: "/ngsi-ld/v1/entities/:id/attrs/:attr", method: .patch) { request, context in
                try await self.writeAttribute(request, id: id(context), attribute: attribute(context), partial: true)
            },
            NGSIRoute(path: "/ngsi-ld/v1/entities/:id/attrs/:attr", method: .put) { request, context in
                try await self.writeAttribute(request, id: id(context), attribute: attribute(context), partial: false)
            },
            NGSIRoute(path: "/ngsi-ld/v1/entities/:id/attrs/:attr", method: .delete) { request, context in
                try await self.deleteAttribute(request, id: id(context), attribute: attribute(context))
            },
            NGSIRoute(path: "/ngsi-ld/v1/entityOperations/query", method: .post) { request, _ in try await self.queryByPost(request) },
            NGSIRoute(path: "/ngsi-ld/v1/temporal/entities", method: .get) { request, _ in try await self.queryTemporal(request, id: nil) },
            NGSIRoute(path: "/ngsi-ld/v1/temporal/entities/:id", method: .get) { request, context in
                try await self.queryTemporal(request, id: id(context))
            },
            NGSIRoute(path: "/ngsi-ld/v1/types", method: .get) { request, _ in try await self.discoverTypes(request, type: nil) },
            NGSIRoute(path: "/ngsi-ld/v1/types/:type", method: .get) { request, context in
                try await self.discoverTypes(request, type: context.parameters.get("type") ?? "")
            },
            NGSIRoute(path: "/ngsi-ld/v1/attributes", method: .get) { request, _ in try await self.discoverAttributes(request, attribute: nil) },
            NGSIRoute(path: "/ngsi-ld/v1/attributes/:attribute", method: .get) { request, context in
                try await self.discoverAttributes(request, attribute: context.parameters.get("attribute") ?? "")
            },
        ]
        routes += contextRoutes
        routes += subscriptionRoutes
        routes += temporalWriteRoutes
        for operation in BatchOperation.allCases {
            routes.append(
                NGSIRoute(path: "/ngsi-ld/v1/entityOperations/\(operation.rawValue)", method: .post) { request, _ in
                    try await self.batch(request, operation)
                }
            )
        }
        // The router answers each path with a trailing slash too.
        return routes
    }

    // MARK: Shared request handling

    /// The tenant of a request: its key's (``AccessMiddleware`` checked that any header names
    /// the same); without keys, its `NGSILD-Tenant` header, or the configured default.
    func tenant(of request: Request) throws(NGSIProblem) -> Tenant {
        if let principal = AccessContext.principal { return principal.tenant }
        guard let name = request.headers[Self.tenantHeader] else {
            guard let fallback = configuration.defaultTenant else {
                throw NGSIProblem(.badRequestData, "the NGSILD-Tenant header is required (this hub has no default tenant)")
            }
            return fallback
        }
        let tenant: Tenant
        do { tenant = try Tenant(name, field: "NGSILD-Tenant") } catch {
            throw NGSIProblem(.nonexistentTenant, "tenant '\(name.prefix(64))' does not exist: \(error.reason)")
        }
        guard directory.settings(of: tenant) != nil else { throw NGSIProblem(.nonexistentTenant, "tenant '\(tenant)' does not exist on this hub") }
        return tenant
    }

    /// The tenant of a request that creates entities: as ``tenant(of:)``, but on a hub without
    /// keys (`access.require_keys: false`) an `NGSILD-Tenant` the hub does not serve yet is
    /// created, as NGSI-LD says (with keys, tenants are made by the operator).
    func creatingTenant(of request: Request) throws(NGSIProblem) -> Tenant {
        do { return try tenant(of: request) } catch let problem where problem.kind == .nonexistentTenant && !configuration.requireKeys {
            guard let name = request.headers[Self.tenantHeader], let tenant = try? Tenant(name, field: "NGSILD-Tenant"),
                let store = directory.store
            else { throw problem }
            do {
                try store.addTenant(tenant, display: nil, now: Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)))
                logger.notice("tenant \(tenant) created by its first NGSI-LD write (access.require_keys is false)")
            } catch {
                // Created meanwhile by another request: served now all the same.
                guard directory.settings(of: tenant) != nil else {
                    logger.error("creating tenant \(tenant) failed", metadata: ["error": "\(error)"])
                    throw NGSIProblem(.internalError, "creating tenant \(tenant) failed: \(error.operation)")
                }
            }
            return tenant
        }
    }

    /// Whether the client asked for JSON-LD (then `@context` goes in the body, not a Link header).
    static func wantsJSONLD(_ request: Request) throws(NGSIProblem) -> Bool {
        guard let accept = request.headers[.accept], !accept.isEmpty else { return false }
        let types = accept.split(separator: ",").map { $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces) }
        if types.contains("application/json") || types.contains("*/*") || types.contains("application/*") { return false }
        if types.contains("application/ld+json") { return true }
        throw NGSIProblem(.notAcceptable, "Accept '\(accept.prefix(80))': this API answers application/json or application/ld+json")
    }

    /// A JSON response, with the core context as a Link header or in the body for JSON-LD.
    static func json(_ body: JSONValue, status: HTTPResponse.Status = .ok, jsonLD: Bool, extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = jsonLD ? "application/ld+json" : "application/json"
        // Added beside any pagination links (rel="next"/"prev") already in `extra`.
        if !jsonLD { headers.append(HTTPField(name: HTTPField.Name("Link")!, value: coreContextLink)) }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body.serialized())))
    }

    /// Pagination links (`rel="next"`, `rel="prev"`), each the request's own query with another
    /// `offset` (NGSI-LD 6.3.x, Pagination), for a page at `offset` of `limit` among `total`.
    static func paginationLinks(_ request: Request, limit: Int, offset: Int, total: Int) -> HTTPFields {
        var links = HTTPFields()
        guard limit > 0 else { return links }
        func link(offset: Int, rel: String) -> HTTPField {
            var items = (request.uri.query ?? "").split(separator: "&").filter { !$0.hasPrefix("offset=") && !$0.hasPrefix("limit=") }
            items.append("limit=\(limit)")
            items.append("offset=\(offset)")
            return HTTPField(name: HTTPField.Name("Link")!, value: "<\(request.uri.path)?\(items.joined(separator: "&"))>; rel=\"\(rel)\"")
        }
        if offset + limit < total { links.append(link(offset: offset + limit, rel: "next")) }
        if offset > 0 { links.append(link(offset: max(0, offset - limit), rel: "prev")) }
        return links
    }

    /// The entity as NGSI-LD JSON, optionally projected to `attributes`.
    static func render(_ entity: NGSIEntity, keyValues: Bool, attributes: Set<String>?, jsonLD: Bool, concise: Bool = false) -> JSONValue {
        var shown = entity
        if let attributes { shown.attributes = shown.attributes.filter { attributes.contains(NGSIEntity.splitName($0.key).attribute) } }
        shown.context = jsonLD ? contexts(for: entity.type) : []
        if concise && !keyValues { return NGSIConcise.compactEntity(shown.json(.normalized)) }
        return shown.json(keyValues ? .keyValues : .normalized)
    }

    /// The representation `options`/`format` ask for: keyValues (simplified), concise, or
    /// normalized (the default); two of them at once is a 400.
    static func representation(_ options: Set<String>) throws(NGSIProblem) -> (keyValues: Bool, concise: Bool) {
        let asked = options.intersection(["keyValues", "concise", "normalized"])
        guard asked.count <= 1 else {
            throw NGSIProblem(.badRequestData, "options: \(asked.sorted().joined(separator: " and ")) cannot be asked for together")
        }
        return (asked.contains("keyValues"), asked.contains("concise"))
    }

    /// The JSON-LD context of an entity type: its Smart Data Models domain, then the core.
    static func contexts(for type: String) -> [String] {
        switch type {
        case "WaterObserved", "FloodMonitoring": NGSIContext.forDomain(NGSIContext.environment)
        case "CrowdFlowObserved": NGSIContext.forDomain(NGSIContext.transportation)
        case "Device", "DeviceMeasurement": NGSIContext.forDomain(NGSIContext.device)
        case "Alert": NGSIContext.forDomain(NGSIContext.alert)
        default: [NGSIContext.core]
        }
    }

    /// An entity id (any absolute URI) of `tenant` from a path or parameter.
    static func entityID(_ text: String, parameter: String, tenant: Tenant) throws(NGSIProblem) -> EntityID {
        let decoded = text.removingPercentEncoding ?? text
        do { return try EntityID(reference: decoded, tenant: tenant, field: parameter) } catch {
            throw NGSIProblem(.badRequestData, error.description)
        }
    }

    /// Runs a storage call, turning its failure into a 500 ProblemDetails (logged).
    func stored<T>(_ body: () async throws(StorageError) -> T) async throws(NGSIProblem) -> T {
        do { return try await body() } catch {
            logger.error("storage failed during a request", metadata: ["error": "\(error)"])
            throw NGSIProblem(.internalError, "storage failed: \(error.operation)")
        }
    }
}
