import Foundation
import HTTPTypes
import Hummingbird
import KakehashiHubCore
import KakehashiModel
import Synchronization

/// The caller of the request being handled, set by ``AccessMiddleware`` (nil when the hub runs
/// with `access.require_keys: false`).
enum AccessContext {
    @TaskLocal static var principal: AccessPrincipal?
}

/// Requires an API key on every route except `/healthz` and the dashboard's own files (the
/// login page: they hold no data), checks the key's role against the route and its tenant
/// against the request's, and applies the key's rate limit.
///
/// A key is presented as `Authorization: Bearer kk_…`, or by the dashboard as its
/// `kakehashi_key` cookie (HttpOnly, SameSite=Strict, set by `POST /dashboard/login`).
struct AccessMiddleware<Context: RequestContext>: RouterMiddleware {
    let directory: AccessDirectory
    let limiter: RateLimiter

    static var cookieName: String { "kakehashi_key" }

    /// What a request needs, or nil when it is open.
    static func permission(method: HTTPRequest.Method, path: String) -> AccessRole.Permission? {
        switch path {
        case "/healthz", "/", "/index.html", "/dashboard/login", "/dashboard/logout", "/dashboard/outlines.geojson": return nil
        case "/metrics": return .administer
        case "/ngsi-ld/v1/entityOperations/query", "/ngsi-ld/v1/entityOperations/query/", "/ngsi-ld/v1/temporal/entityOperations/query",
            "/ngsi-ld/v1/temporal/entityOperations/query/":
            return .read
        default: break
        }
        // A hosted context is the hub's: anyone who writes may add one, an operator deletes.
        if method == .delete, path.hasPrefix("/ngsi-ld/v1/jsonldContexts/") { return .administer }
        // Every NGSI-LD write: entities, attributes, batches.
        if path.hasPrefix("/ngsi-ld/v1/"), method != .get, method != .head { return .write }
        if path.hasPrefix("/dashboard/"), path != "/dashboard/session" { return nil }
        if path == "/access/grants" || path.hasPrefix("/access/grants/") { return .administer }
        if method == .post, path.hasPrefix("/alerts/"), path.hasSuffix("/acknowledge") { return .acknowledge }
        return .read
    }

    /// The key a request presents: the bearer token, else the dashboard's cookie.
    static func presentedKey(_ fields: HTTPFields) -> String? {
        if let authorization = fields[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return parts[1].trimmingCharacters(in: .whitespaces) }
            return authorization
        }
        for cookie in fields[values: .cookie] {
            for pair in cookie.split(separator: ";") {
                let kv = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0] == cookieName { return String(kv[1]) }
            }
        }
        return nil
    }

    /// Decides a request's access: the principal, or the problem to answer.
    static func decide(
        method: HTTPRequest.Method,
        path: String,
        query: String?,
        fields: HTTPFields,
        directory: AccessDirectory,
        limiter: RateLimiter
    ) -> Result<AccessPrincipal?, NGSIProblem> {
        guard let permission = permission(method: method, path: path) else { return .success(nil) }
        guard let text = presentedKey(fields) else {
            return .failure(
                NGSIProblem(
                    .unauthorized,
                    "this hub needs an API key: send `Authorization: Bearer kk_…` (ask the hub's operator for one)",
                    headers: [.wwwAuthenticate: "Bearer realm=\"kakehashi\""]
                )
            )
        }
        let principal: AccessPrincipal
        switch directory.authenticate(text) {
        case .success(let found): principal = found
        case .failure(let refusal):
            return .failure(
                NGSIProblem(.unauthorized, refusal.description, headers: [.wwwAuthenticate: "Bearer realm=\"kakehashi\", error=\"invalid_token\""])
            )
        }
        guard principal.role.allows(permission) else {
            return .failure(
                NGSIProblem(.forbidden, "a \(principal.role) key may not \(permission.phrase) (key \(principal.keyID) of \(principal.tenant))")
            )
        }
        if let asked = fields[HubAPI.tenantHeader], asked != principal.tenant.name {
            return .failure(NGSIProblem(.forbidden, "key \(principal.keyID) belongs to tenant \(principal.tenant), not to '\(asked.prefix(64))'"))
        }
        if let asked = (try? QueryString(query))?["tenant"], asked != principal.tenant.name {
            return .failure(NGSIProblem(.forbidden, "key \(principal.keyID) belongs to tenant \(principal.tenant), not to '\(asked.prefix(64))'"))
        }
        if case .limited(let retryAfter) = limiter.take(principal.keyID) {
            return .failure(
                NGSIProblem(
                    .tooManyRequests,
                    "key \(principal.keyID) is over its limit of \(limiter.rate) requests per second",
                    headers: [.retryAfter: String(retryAfter)]
                )
            )
        }
        return .success(principal)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch Self.decide(
            method: request.method,
            path: request.uri.path,
            query: request.uri.query,
            fields: request.headers,
            directory: directory,
            limiter: limiter
        ) {
        case .failure(let problem):
            return try problem.response(from: request, context: context)
        case .success(nil):
            return try await next(request, context)
        case .success(let principal?):
            return try await AccessContext.$principal.withValue(principal) { try await next(request, context) }
        }
    }
}

extension AccessRole.Permission {
    var phrase: String {
        switch self {
        case .read: "read data"
        case .acknowledge: "acknowledge alerts"
        case .write: "send readings"
        case .administer: "read the hub's metrics or manage its tenant's sharing"
        }
    }
}

/// Per-key token buckets: `rate` requests a second on average, bursts up to `burst`.
final class RateLimiter: Sendable {
    let rate: Int
    let burst: Int
    private struct Bucket { var tokens: Double; var updated: ContinuousClock.Instant }
    private let buckets = Mutex<[String: Bucket]>([:])

    init(rate: Int, burst: Int) {
        self.rate = rate
        self.burst = max(1, burst)
    }

    enum Decision: Equatable {
        case allowed
        case limited(retryAfter: Int)
    }

    func take(_ key: String, now: ContinuousClock.Instant = .now) -> Decision {
        guard rate > 0 else { return .allowed }
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: Double(burst), updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(Double(burst), bucket.tokens + seconds * Double(rate))
            bucket.updated = now
            defer { buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return .allowed
            }
            return .limited(retryAfter: max(1, Int(((1 - bucket.tokens) / Double(rate)).rounded(.up))))
        }
    }
}

/// Open feeds per key, bounded.
final class FeedSlots: Sendable {
    let limit: Int
    private let open = Mutex<[String: Int]>([:])

    init(limit: Int) { self.limit = limit }

    /// Takes a slot for `key`; false when its feeds are at the limit.
    func take(_ key: String) -> Bool {
        open.withLock { open in
            guard open[key, default: 0] < limit else { return false }
            open[key, default: 0] += 1
            return true
        }
    }

    func release(_ key: String) {
        open.withLock { open in
            open[key, default: 1] -= 1
            if open[key] == 0 { open[key] = nil }
        }
    }
}
