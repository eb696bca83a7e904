import Foundation
import HTTPTypes
import Hummingbird
import KakehashiHubCore
import KakehashiModel

/// The feeds and the alert API, one file per route family:
///
/// - `GET /feeds/alerts` (Server-Sent Events) and `/feeds/alerts/ws` (WebSocket): HubAPI+AlertStream
/// - `GET /feeds/entities`: HubAPI+EntityStream
/// - `GET /feeds/alerts/{id}.cap`, `GET /feeds/alerts.atom`: HubAPI+CAP
/// - `GET /feeds/map.geojson`: HubAPI+Map
/// - `GET /alerts`, `GET /alerts/{id}`, `POST /alerts/{id}/acknowledge`: HubAPI+Alerts
///
/// The tenant is the key's, the `NGSILD-Tenant` header, or `?tenant=` where a header cannot be set
/// (a browser's EventSource).
extension HubAPI {
    static let lastEventIDHeader = HTTPField.Name("Last-Event-ID")!
    /// On `GET /alerts`: the id of the tenant's newest feed event when the list was read; a client
    /// resumes `/feeds/alerts` after it (`?lastEventId=`).
    static let feedPositionHeader = HTTPField.Name("Kakehashi-Feed-Position")!
    /// A comment line sent this often keeps proxies from closing a quiet stream and tells the
    /// hub when a client has gone.
    static let heartbeat: Duration = .seconds(15)

    func addFeedRoutes(to router: Router<BasicRequestContext>) {
        router.get("/feeds/alerts") { request, _ in try await self.alertStream(request) }
        router.get("/feeds/alerts.atom") { request, _ in try await self.atom(request) }
        router.get("/feeds/entities") { request, _ in try await self.entityStream(request) }
        router.get("/feeds/alerts/ws") { _, _ -> Response in
            throw NGSIProblem(
                .badRequestData,
                "/feeds/alerts/ws is a WebSocket: send an Upgrade: websocket request (tenant in NGSILD-Tenant or ?tenant=)"
            )
        }
        router.get("/feeds/alerts/:file") { request, context in try await self.cap(request, file: context.parameters.get("file") ?? "") }
        router.get("/feeds/map.geojson") { request, _ in try await self.map(request) }
        router.get("/alerts") { request, _ in try await self.listAlerts(request) }
        router.get("/alerts/:id") { request, context in try await self.showAlert(request, id: context.parameters.get("id") ?? "") }
        router.post("/alerts/:id/acknowledge") { request, context in try await self.acknowledge(request, id: context.parameters.get("id") ?? "") }
    }

    /// The tenant of a feed request: the key's, the header, or `?tenant=`.
    func feedTenant(_ request: Request, _ query: QueryString) throws(NGSIProblem) -> Tenant {
        if let principal = AccessContext.principal { return principal.tenant }
        guard request.headers[Self.tenantHeader] == nil, let name = query["tenant"] else { return try tenant(of: request) }
        let tenant: Tenant
        do { tenant = try Tenant(name, field: "tenant") } catch {
            throw NGSIProblem(.nonexistentTenant, "tenant '\(name.prefix(64))' does not exist: \(error.reason)")
        }
        guard directory.settings(of: tenant) != nil else { throw NGSIProblem(.nonexistentTenant, "tenant '\(tenant)' does not exist on this hub") }
        return tenant
    }

    /// Takes one of the caller's feed slots (`limits.feeds_per_key`), or says why not.
    func takeFeedSlot(_ principal: AccessPrincipal?, _ what: String) throws(NGSIProblem) {
        guard let principal, !feedSlots.take(principal.keyID) else { return }
        throw NGSIProblem(
            .tooManyRequests,
            "key \(principal.keyID) has \(feedSlots.limit) \(what) open already (limits.feeds_per_key)",
            headers: [.retryAfter: "5"]
        )
    }

    /// Whether the caller's key can still be used (a feed ends within a second of it not).
    func keyStillUsable(_ principal: AccessPrincipal?) -> @Sendable () -> Bool {
        guard let principal else { return { true } }
        let directory = self.directory
        return { directory.isUsable(keyID: principal.keyID) }
    }

    /// The headers of every Server-Sent Events response (no caching, no proxy buffering).
    static var eventStreamHeaders: HTTPFields {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return headers
    }

    /// `N` or `N;owner=M;…`: the last event of the tenant's own feed and of each owner's shared one.
    static func feedCursor(_ text: String) -> (Int64, [Tenant: Int64])? {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: ";", omittingEmptySubsequences: false)
        guard let first = parts.first, let own = Int64(first), own >= 0 else { return nil }
        var others = [Tenant: Int64]()
        for part in parts.dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, let tenant = try? Tenant(String(pair[0])), let value = Int64(pair[1]), value >= 0 else { return nil }
            others[tenant] = value
        }
        return (own, others)
    }

    static func feedCursorText(own: Int64, others: [Tenant: Int64]) -> String {
        ([String(own)] + others.sorted { $0.key < $1.key }.map { "\($0.key.name)=\($0.value)" }).joined(separator: ";")
    }
}
