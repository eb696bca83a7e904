import HTTPTypes
import Hummingbird

/// Answers under `/ngsi-ld/` what no route takes, as NGSI-LD clients can read it: a path no route
/// matches is a 404 `ResourceNotFound` ProblemDetails, and a known path asked with a method it
/// does not take is a 405 with `Allow` (the router answers both with an empty 404, which clients
/// fail to decode).
struct NGSIRouteFallback<Context: RequestContext>: RouterMiddleware {
    /// The routes' paths (`:name` segments match any one segment) and methods.
    let routes: [(path: String, method: HTTPRequest.Method)]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && request.uri.path.hasPrefix("/ngsi-ld/") {
            let path = request.uri.path
            let allowed = Self.methods(for: path.hasSuffix("/") ? String(path.dropLast()) : path, in: routes)
            if !allowed.isEmpty {
                var headers = HTTPFields()
                headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
                throw NGSIProblem(
                    .invalidRequest,
                    "\(request.method.rawValue) is not allowed on \(path); allowed: \(headers[.allow] ?? "")",
                    status: .methodNotAllowed,
                    headers: headers
                )
            }
            throw NGSIProblem(.resourceNotFound, "no NGSI-LD resource at \(path)")
        }
    }

    /// The methods of the routes whose path matches `path`.
    static func methods(for path: String, in routes: [(path: String, method: HTTPRequest.Method)]) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        var methods = [HTTPRequest.Method]()
        for route in routes {
            let pattern = route.path.split(separator: "/", omittingEmptySubsequences: false)
            guard pattern.count == segments.count else { continue }
            if zip(pattern, segments).allSatisfy({ $0.hasPrefix(":") ? !$1.isEmpty : $0 == $1 }), !methods.contains(route.method) {
                methods.append(route.method)
            }
        }
        return methods
    }
}
