import HTTPTypes
import Hummingbird
import KakehashiAlerts
import KakehashiHubCore
import KakehashiModel

/// The map dashboard: `GET /` (the page), `GET /dashboard/<file>` (its script, style and base
/// map), `GET /dashboard/session?tenant=` (what the page needs to know about the hub and the
/// tenant: rules, stages, tiles, refresh interval).
///
/// Every response carries a content security policy that lets the page talk to this hub (and the
/// configured tile server) only.
extension HubAPI {
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!
    static let ifNoneMatch = HTTPField.Name("If-None-Match")!

    func addDashboardRoutes(to router: Router<BasicRequestContext>) {
        guard let assets = dashboard else { return }
        router.get("/") { request, _ in self.asset(request, assets.files["index.html"], cache: "no-cache") }
        router.get("/index.html") { request, _ in self.asset(request, assets.files["index.html"], cache: "no-cache") }
        router.get("/dashboard/session") { request, _ in try self.session(request) }
        router.post("/dashboard/login") { request, _ in try await self.login(request) }
        router.post("/dashboard/logout") { _, _ in self.logout() }
        router.get("/dashboard/outlines.geojson") { request, _ in
            guard let outlines = assets.outlines else {
                throw NGSIProblem(.resourceNotFound, "this hub draws no outlines (dashboard.outlines: none)")
            }
            return self.asset(request, outlines, cache: "public, max-age=3600")
        }
        router.get("/dashboard/:file") { request, context in
            let name = context.parameters.get("file") ?? ""
            guard let file = assets.files[name] else {
                throw NGSIProblem(.resourceNotFound, "the dashboard has no file '\(name.prefix(80))'")
            }
            return self.asset(request, file, cache: "no-cache")
        }
    }

    /// The policy: this hub only, plus the tile server's origin for images.
    var pagePolicy: String {
        let tiles = configuration.dashboard.tiles?.origin.map { " " + $0 } ?? ""
        return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:\(tiles); "
            + "connect-src 'self'; media-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    }

    func asset(_ request: Request, _ file: DashboardAssets.File?, cache: String) -> Response {
        guard let file else { return Response(status: .notFound) }
        var headers = HTTPFields()
        headers[.eTag] = file.etag
        headers[.cacheControl] = cache
        headers[Self.contentSecurityPolicy] = pagePolicy
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        if let match = request.headers[Self.ifNoneMatch],
            match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == file.etag })
        {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = file.contentType
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: file.bytes)))
    }

    /// What the page needs: the tenant (the one asked for, or the default; null when neither), the
    /// tenants, map settings and the tenant's rules with their stages.
    func session(_ request: Request) throws(NGSIProblem) -> Response {
        let query = try QueryString(request.uri.query)
        try query.allow(["tenant"])
        var tenant: Tenant?
        if AccessContext.principal != nil || query["tenant"] != nil || request.headers[Self.tenantHeader] != nil || configuration.defaultTenant != nil
        {
            tenant = try feedTenant(request, query)
        }
        let settings = configuration.dashboard
        var members: [String: JSONValue] = [
            "tenant": tenant.map { .string($0.name) } ?? .null,
            // With keys, only the key's own tenant: the others are not the caller's business.
            "tenants": .array(
                (AccessContext.principal.map { [$0.tenant] } ?? Array(directory.tenants.keys)).map(\.name).sorted().map { .string($0) }
            ),
            "keys": .bool(configuration.requireKeys),
            "role": AccessContext.principal.map { .string($0.role.rawValue) } ?? .null,
            "refreshSeconds": .number(Double(settings.refresh.components.seconds)),
            "outlines": dashboard?.outlines == nil ? .null : "/dashboard/outlines.geojson",
            "severities": .array(Alert.Severity.allCases.map { .string($0.rawValue) }),
        ]
        if let tiles = settings.tiles {
            members["tiles"] = .object([
                "url": .string(tiles.url), "attribution": .string(tiles.attribution), "maxZoom": .number(Double(tiles.maxZoom)),
            ])
        } else {
            members["tiles"] = .null
        }
        let rules = configuration.alerts.rules.filter { $0.tenant == tenant }
        members["rules"] = .array(rules.map(Self.ruleJSON))
        var headers = HTTPFields()
        headers[.cacheControl] = "no-store"
        return Self.json(.object(members), jsonLD: false, extra: headers)
    }

    /// `POST /dashboard/login` with `{"key": "kk_…"}`: checks the key and keeps it in an
    /// HttpOnly, SameSite=Strict cookie, which the page's requests and feeds then carry.
    func login(_ request: Request) async throws(NGSIProblem) -> Response {
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: 4096) } catch {
            throw NGSIProblem(.requestEntityTooLarge, "a login is a small JSON object: {\"key\": \"kk_…\"}")
        }
        guard let json = try? JSONValue(parsing: body.readableBytesView),
            let key = json["key"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines)
        else {
            throw NGSIProblem(.badRequestData, "send the key as {\"key\": \"kk_…\"}")
        }
        let principal: AccessPrincipal
        switch directory.authenticate(key) {
        case .success(let found): principal = found
        case .failure(let refusal): throw NGSIProblem(.unauthorized, refusal.description)
        }
        guard principal.role.allows(.read) else {
            throw NGSIProblem(.forbidden, "a \(principal.role) key cannot open the dashboard: it may only send readings")
        }
        if case .limited(let retryAfter) = limiter.take(principal.keyID) {
            throw NGSIProblem(.tooManyRequests, "key \(principal.keyID) is over its request rate", headers: [.retryAfter: String(retryAfter)])
        }
        var headers = HTTPFields()
        headers[.setCookie] = "\(AccessMiddleware<BasicRequestContext>.cookieName)=\(key); Path=/; HttpOnly; SameSite=Strict"
        headers[.cacheControl] = "no-store"
        return Self.json(
            ["tenant": .string(principal.tenant.name), "role": .string(principal.role.rawValue), "key": .string(principal.keyID)],
            jsonLD: false,
            extra: headers
        )
    }

    /// `POST /dashboard/logout`: forgets the cookie.
    func logout() -> Response {
        var headers = HTTPFields()
        headers[.setCookie] = "\(AccessMiddleware<BasicRequestContext>.cookieName)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        return Response(status: .noContent, headers: headers)
    }

    /// A rule as the page draws it: its stages' names, levels (numbers, or the attribute that holds each sensor's own) and severities.
    static func ruleJSON(_ rule: AlertRule) -> JSONValue {
        var members: [String: JSONValue] = [
            "id": .string(rule.id), "type": .string(rule.entityType), "attribute": .string(rule.attribute),
            "event": .object(["en": .string(rule.text.event), "ja": .string(rule.text.eventJapanese)]),
            "unit": .string(rule.publishing.unit),
        ]
        switch rule.kind {
        case .threshold(let threshold):
            members["kind"] = "threshold"
            members["direction"] = .string(threshold.direction.rawValue)
            members["stages"] = .array(
                threshold.stages.map { stage in
                    var item: [String: JSONValue] = ["name": .string(stage.name), "severity": .string(stage.severity.rawValue)]
                    switch stage.level {
                    case .constant(let value): item["level"] = .number(value)
                    case .attribute(let name): item["levelAttribute"] = .string(name)
                    }
                    return .object(item)
                }
            )
        case .rateOfChange(let change):
            members["kind"] = "rateOfChange"
            members["stages"] = .array([.object(["name": .string(rule.id), "severity": .string(change.severity.rawValue)])])
        case .stale(_, let severity):
            members["kind"] = "stale"
            members["stages"] = .array([.object(["name": .string(rule.id), "severity": .string(severity.rawValue)])])
        case .absence(_, let severity):
            members["kind"] = "absence"
            members["stages"] = .array([.object(["name": .string(rule.id), "severity": .string(severity.rawValue)])])
        }
        return .object(members)
    }
}
