import Foundation
import HTTPTypes
import Hummingbird
import KakehashiHubCore
import KakehashiModel

/// `/ngsi-ld/v1/jsonldContexts` (NGSI-LD 5.13): the contexts the hub hosts, has preloaded or has
/// fetched and cached.
extension HubAPI {
    var contextRoutes: [NGSIRoute] {
        [
            NGSIRoute(path: "/ngsi-ld/v1/jsonldContexts", method: .get) { request, _ in try await self.listContexts(request) },
            NGSIRoute(path: "/ngsi-ld/v1/jsonldContexts", method: .post) { request, _ in try await self.hostContext(request) },
            NGSIRoute(path: "/ngsi-ld/v1/jsonldContexts/:contextId", method: .get) { request, context in
                try await self.serveContext(request, id: context.parameters.get("contextId") ?? "")
            },
            NGSIRoute(path: "/ngsi-ld/v1/jsonldContexts/:contextId", method: .delete) { request, context in
                try await self.deleteContext(request, id: context.parameters.get("contextId") ?? "")
            },
        ]
    }

    /// The base URL clients reach the hub by (from the request's `Host`).
    static func baseURL(_ request: Request) -> String {
        "http://" + (request.head.authority ?? "localhost")
    }

    /// `GET /jsonldContexts`: the URLs, or with `details=true` each with its kind and use.
    func listContexts(_ request: Request) async throws -> Response {
        let query = try QueryString(request.uri.query)
        try query.allow(["details", "kind"])
        let details = query["details"] == "true"
        let kind = query["kind"]
        if let kind, !["Hosted", "Cached", "Preloaded"].contains(kind) {
            throw NGSIProblem(.badRequestData, "kind is Hosted, Cached or Preloaded, not \(kind.prefix(40))")
        }
        let listed = await contexts.list(base: Self.baseURL(request)).filter { kind == nil || $0.entry.kind.rawValue == kind }
        let body: [JSONValue] = listed.map { item in
            guard details else { return .string(item.url) }
            var members: [String: JSONValue] = [
                "URL": .string(item.url), "localId": .string(item.id), "kind": .string(item.entry.kind.rawValue),
                "createdAt": .string(Timestamp(item.entry.createdAt).iso8601), "numberOfHits": .number(Double(item.entry.hits)),
            ]
            if let last = item.entry.lastUsage { members["lastUsage"] = .string(Timestamp(last).iso8601) }
            return .object(members)
        }
        return Self.plainJSON(.array(body))
    }

    /// `POST /jsonldContexts`: hosts the body (`{"@context": …}`); 201 with its URL in `Location`.
    func hostContext(_ request: Request) async throws -> Response {
        let (json, _) = try await writeBody(request)
        let id = try await contexts.host(json)
        var headers = HTTPFields()
        headers[.location] = Self.baseURL(request) + ContextStore.hostedPath + id
        return Response(status: .created, headers: headers)
    }

    /// `GET /jsonldContexts/{id}`: a hosted context by its local id, or a known one by its URL
    /// (percent-encoded).
    func serveContext(_ request: Request, id: String) async throws -> Response {
        let decoded = id.removingPercentEncoding ?? id
        if JSONLDCoreContext.isCoreURL(decoded) {
            var terms = JSONLDCoreContext.terms.mapValues { JSONValue.string($0) }
            terms["@vocab"] = .string(JSONLDCoreContext.vocab)
            return Self.plainJSON(["@context": .object(terms)], type: "application/ld+json")
        }
        guard let document = await contexts.stored(decoded) else {
            throw NGSIProblem(.resourceNotFound, "no @context \(decoded.prefix(200)) is known to this hub")
        }
        return Self.plainJSON(document, type: "application/ld+json")
    }

    /// `DELETE /jsonldContexts/{id}` (`reload=true` fetches a cached one again).
    func deleteContext(_ request: Request, id: String) async throws -> Response {
        let query = try QueryString(request.uri.query)
        try query.allow(["reload"])
        try await contexts.delete(id.removingPercentEncoding ?? id, reload: query["reload"] == "true")
        return Response(status: .noContent)
    }

    static func plainJSON(_ body: JSONValue, type: String = "application/json") -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body.serialized())))
    }
}
