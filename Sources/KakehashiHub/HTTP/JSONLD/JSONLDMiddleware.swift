import Foundation
import HTTPTypes
import Hummingbird
import KakehashiHubCore
import KakehashiModel
import NIOCore

/// Applies a client's JSON-LD `@context` to the NGSI-LD API: the short names of a request
/// (entity types and attribute names in its body, its `type`, `attrs`, `pick`, `omit`, `q`,
/// `geoproperty` parameters and path) are expanded in the client's context and stored as the
/// core context compacts them; the answer's names are compacted back in the client's context.
/// Two clients with different contexts thus see the same attribute under their own names.
///
/// The context comes by a `Link` header (with `application/json`) or as `@context` in a JSON-LD
/// body (each entity of a batch its own). A request with no context of its own, or only the
/// core's, passes untouched: the stored names are the core context's.
struct JSONLDMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    let contexts: ContextStore
    let maxBodyBytes: Int

    static var contextRelation: String { "http://www.w3.org/ns/json-ld#context" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard path.hasPrefix("/ngsi-ld/v1/"), !path.hasPrefix("/ngsi-ld/v1/jsonldContexts") else {
            return try await next(request, context)
        }
        let mediaType = request.headers[.contentType].map { Self.mediaType($0) }
        let link = try Self.contextLink(request.headers)
        let hasBody = request.method == .post || request.method == .patch || request.method == .put
        if link != nil, hasBody, mediaType == "application/ld+json" {
            throw NGSIProblem(.badRequestData, "a JSON-LD body carries its own @context: a Link header with a context is for application/json only")
        }
        // The body's contexts, when it is JSON-LD.
        var body: JSONValue?
        var request = request
        // A JSON-LD body, or a JSON one whose context the Link header gives.
        if hasBody, mediaType == "application/ld+json" || (mediaType == "application/json" && link.map { Self.isOwn([.string($0)]) } == true) {
            let bytes: ByteBuffer
            do { bytes = try await request.body.collect(upTo: maxBodyBytes) } catch {
                throw NGSIProblem(.requestEntityTooLarge, "the body is larger than this hub's limit of \(maxBodyBytes) bytes")
            }
            request.body = .init(buffer: bytes)
            body = try? JSONValue(parsing: bytes.readableBytesView)
        }
        let given: [JSONValue]? = link.map { [.string($0)] } ?? (mediaType == "application/ld+json" ? body.flatMap(Self.bodyContext) : nil)
        let perEntity = body.map(Self.hasOwnContexts) ?? false
        guard (given.map(Self.isOwn) ?? false) || perEntity else { return try await next(request, context) }

        let client = try await contexts.context(given ?? [])
        let storing = NGSITermMapping.storing(from: client)
        var context = context
        request = try await rewritten(request, body: body, perEntity: perEntity, path: path, storing: storing)
        if path.hasPrefix("/ngsi-ld/v1/subscriptions") {
            // A subscription keeps the client's context (a URL) for its notifications.
            let url: String? = if let link { link } else if let given, given.count == 1, case .string(let only) = given[0] { only } else { nil }
            request = try await Self.remembering(url, in: request, maxBodyBytes: maxBodyBytes)
            let response = try await next(request, context)
            return try await shown(response, path: path, query: request.uri.queryParameters, client: client, given: given ?? [], link: link)
        }
        for name in ["attr", "type", "attribute"] {
            if let value = context.coreContext.parameters[Substring(name)] {
                let decoded = String(value).removingPercentEncoding ?? String(value)
                context.coreContext.parameters[Substring(name)] = Substring(name == "type" ? storing.name(decoded) : storing.name(decoded))
            }
        }
        let response = try await next(request, context)
        return try await shown(response, path: path, query: request.uri.queryParameters, client: client, given: given ?? [], link: link)
    }

    // MARK: The client's context

    static func mediaType(_ header: String) -> String {
        header.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased()
    }

    /// The context URL of a `Link` header (`<url>; rel="http://www.w3.org/ns/json-ld#context"`).
    static func contextLink(_ headers: HTTPFields) throws(NGSIProblem) -> String? {
        var found: [String] = []
        for value in headers[values: HTTPField.Name("Link")!] {
            for link in value.split(separator: ",") {
                let parts = link.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.contains(where: { $0.replacingOccurrences(of: "\"", with: "") == "rel=\(contextRelation)" }) else { continue }
                guard let first = parts.first, first.hasPrefix("<"), first.hasSuffix(">"), first.count > 2 else {
                    throw NGSIProblem(.badRequestData, "the Link header's context must be written <URL>; rel=\"\(contextRelation)\"")
                }
                found.append(String(first.dropFirst().dropLast()))
            }
        }
        guard found.count <= 1 else { throw NGSIProblem(.badRequestData, "give one JSON-LD context Link header, not \(found.count)") }
        return found.first
    }

    /// The `@context` of a JSON-LD body (one entity, a fragment or a query), as a list.
    static func bodyContext(_ body: JSONValue) -> [JSONValue]? {
        guard case .object(let members) = body, let context = members["@context"] else { return nil }
        if case .array(let items) = context { return items }
        return [context]
    }

    /// Whether a batch body's entities carry a context of the client's own.
    static func hasOwnContexts(_ body: JSONValue) -> Bool {
        guard case .array(let items) = body else { return false }
        return items.contains { item in bodyContext(item).map(isOwn) ?? false }
    }

    /// Whether `given` is more than the core context (and the aliases of its vocabulary).
    static func isOwn(_ given: [JSONValue]) -> Bool {
        given.contains { entry in
            guard case .string(let url) = entry else { return true }
            return !JSONLDCoreContext.isCoreURL(url) && !JSONLDCoreContext.vocabularyAliases.contains(url)
        }
    }

    // MARK: The request

    private func rewritten(_ request: Request, body: JSONValue?, perEntity: Bool, path: String, storing: NGSITermMapping) async throws -> Request {
        var head = request.head
        let query = Self.rewrittenQuery(request.uri.query, storing: storing)
        head.path = request.uri.path + (query.map { "?" + $0 } ?? "")
        var out = Request(head: head, body: request.body)
        guard let body else { return out }
        let mapped: JSONValue
        if case .array(let items) = body {
            var entities = [JSONValue]()
            for item in items {
                if perEntity, let own = Self.bodyContext(item) {
                    entities.append(NGSITermMapping.storing(from: try await contexts.context(own)).entity(item))
                } else {
                    entities.append(storing.entity(item))
                }
            }
            mapped = .array(entities)
        } else if path.hasPrefix("/ngsi-ld/v1/subscriptions") {
            mapped = Self.subscription(body, names: storing)
        } else if path.hasSuffix("/entityOperations/query") || path.hasSuffix("/entityOperations/query/") {
            mapped = Self.rewrittenQueryBody(body, storing: storing)
        } else if path.contains("/attrs/") {
            mapped = storing.attribute(body)
        } else {
            mapped = storing.entity(body)
        }
        var buffer = ByteBuffer()
        buffer.writeBytes(mapped.serialized())
        out.body = .init(buffer: buffer)
        return out
    }

    /// The query string with the names in `type`, `attrs`, `pick`, `omit`, `q`, `geoproperty`
    /// and `geometryProperty` mapped.
    static func rewrittenQuery(_ query: String?, storing: NGSITermMapping) -> String? {
        guard let query, !query.isEmpty else { return query }
        return query.split(separator: "&", omittingEmptySubsequences: false).map { item -> String in
            guard let equals = item.firstIndex(of: "=") else { return String(item) }
            let key = String(item[..<equals])
            let raw = String(item[item.index(after: equals)...])
            let value = raw.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? raw
            let mapped: String
            switch key {
            case "type", "attrs", "pick", "omit": mapped = storing.list(value)
            case "geoproperty", "geometryProperty": mapped = storing.name(value)
            case "q": mapped = QExpression.renamingAttributes(in: value, storing.name)
            default: return String(item)
            }
            return key + "=" + (mapped.addingPercentEncoding(withAllowedCharacters: queryValueCharacters) ?? mapped)
        }.joined(separator: "&")
    }

    static let queryValueCharacters: CharacterSet = {
        var set = CharacterSet.urlQueryAllowed
        set.remove(charactersIn: "&=+;")
        return set
    }()

    /// A subscription (or a list of them) with its names mapped: the types of `entities`,
    /// `watchedAttributes`, `notification.attributes`, the names in `q`, `geoQ.geoproperty`.
    static func subscription(_ json: JSONValue, names: NGSITermMapping) -> JSONValue {
        if case .array(let items) = json { return .array(items.map { subscription($0, names: names) }) }
        guard case .object(var members) = json else { return json }
        func list(_ value: JSONValue?) -> JSONValue? {
            guard case .array(let items)? = value else { return value }
            return .array(items.map { $0.stringValue.map { .string(names.name($0)) } ?? $0 })
        }
        if case .array(let entities)? = members["entities"] {
            members["entities"] = .array(
                entities.map { selector in
                    guard case .object(var fields) = selector, case .string(let type)? = fields["type"] else { return selector }
                    fields["type"] = .string(names.list(type))
                    return .object(fields)
                }
            )
        }
        if members["watchedAttributes"] != nil { members["watchedAttributes"] = list(members["watchedAttributes"]) }
        if case .object(var notification)? = members["notification"], notification["attributes"] != nil {
            notification["attributes"] = list(notification["attributes"])
            members["notification"] = .object(notification)
        }
        if case .string(let q)? = members["q"] { members["q"] = .string(QExpression.renamingAttributes(in: q, names.name)) }
        if case .object(var geo)? = members["geoQ"], case .string(let property)? = geo["geoproperty"] {
            geo["geoproperty"] = .string(names.name(property))
            members["geoQ"] = .object(geo)
        }
        return .object(members)
    }

    /// The subscription body with `jsonldContext` set to `url` unless it names one.
    static func remembering(_ url: String?, in request: Request, maxBodyBytes: Int) async throws -> Request {
        guard let url, request.method == .post || request.method == .patch else { return request }
        var request = request
        let bytes = try await request.body.collect(upTo: maxBodyBytes)
        guard case .object(var members) = try? JSONValue(parsing: bytes.readableBytesView), members["jsonldContext"] == nil else {
            request.body = .init(buffer: bytes)
            return request
        }
        members["jsonldContext"] = .string(url)
        members["@context"] = nil
        var buffer = ByteBuffer()
        buffer.writeBytes(JSONValue.object(members).serialized())
        request.body = .init(buffer: buffer)
        return request
    }

    /// A `POST /entityOperations/query` body with its names mapped.
    static func rewrittenQueryBody(_ body: JSONValue, storing: NGSITermMapping) -> JSONValue {
        guard case .object(var members) = body else { return body }
        if case .array(let attrs)? = members["attrs"] {
            members["attrs"] = .array(attrs.map { $0.stringValue.map { .string(storing.name($0)) } ?? $0 })
        }
        if case .string(let q)? = members["q"] { members["q"] = .string(QExpression.renamingAttributes(in: q, storing.name)) }
        if case .array(let entities)? = members["entities"] {
            members["entities"] = .array(
                entities.map { selector in
                    guard case .object(var fields) = selector, case .string(let type)? = fields["type"] else { return selector }
                    fields["type"] = .string(storing.list(type))
                    return .object(fields)
                }
            )
        }
        if case .object(var geo)? = members["geoQ"], case .string(let property)? = geo["geoproperty"] {
            geo["geoproperty"] = .string(storing.name(property))
            members["geoQ"] = .object(geo)
        }
        return .object(members)
    }

    // MARK: The answer

    private func shown(
        _ response: Response,
        path: String,
        query: Parameters,
        client: JSONLDContext,
        given: [JSONValue],
        link: String?
    ) async throws -> Response {
        let type = response.headers[.contentType].map { Self.mediaType($0) } ?? ""
        guard ["application/json", "application/ld+json", "application/geo+json"].contains(type) else { return response }
        let collector = Collector()
        try await response.body.write(CollectingWriter(collector: collector))
        guard let json = try? JSONValue(parsing: collector.buffer.readableBytesView) else { return response }
        let showing = NGSITermMapping.showing(to: client)
        var options = Set((query["options"] ?? "").split(separator: ",").map(String.init))
        if let format = query["format"] { options.insert(String(format)) }
        let keyValues = options.contains("keyValues") || options.contains("simplified")
        var mapped: JSONValue
        if path.hasPrefix("/ngsi-ld/v1/subscriptions") {
            mapped = response.status.code >= 300 ? json : Self.subscription(json, names: showing)
        } else if path.contains("/types") || path.contains("/attributes") {
            mapped = Self.discovery(json, showing: showing)
        } else if type == "application/geo+json" {
            mapped = Self.features(json, showing: showing, keyValues: keyValues)
        } else if response.status.code >= 300 || path.hasPrefix("/ngsi-ld/v1/entityOperations/") && !path.contains("/query") {
            mapped = Self.discovery(json, showing: showing)  // problem details and batch results: attribute names only
        } else {
            mapped = showing.entities(json, keyValues: keyValues)
        }
        if type == "application/ld+json" { mapped = Self.withContext(mapped, given) }
        var out = response
        var buffer = ByteBuffer()
        buffer.writeBytes(mapped.serialized())
        out.headers[.contentLength] = String(buffer.readableBytes)
        out.body = .init(byteBuffer: buffer)
        if type == "application/json", let link {
            out.headers[values: HTTPField.Name("Link")!] = out.headers[values: HTTPField.Name("Link")!].map { value in
                value.contains(Self.contextRelation) ? "<\(link)>; rel=\"\(Self.contextRelation)\"; type=\"application/ld+json\"" : value
            }
        }
        return out
    }

    /// Every entity's `@context` replaced by the client's.
    static func withContext(_ json: JSONValue, _ given: [JSONValue]) -> JSONValue {
        let context: JSONValue = given.count == 1 ? given[0] : .array(given)
        switch json {
        case .array(let items): return .array(items.map { withContext($0, given) })
        case .object(var members) where members["@context"] != nil:
            members["@context"] = context
            return .object(members)
        default: return json
        }
    }

    /// A GeoJSON Feature or FeatureCollection with each feature's properties mapped.
    static func features(_ json: JSONValue, showing: NGSITermMapping, keyValues: Bool) -> JSONValue {
        guard case .object(var members) = json else { return json }
        if case .array(let features)? = members["features"] {
            members["features"] = .array(features.map { Self.features($0, showing: showing, keyValues: keyValues) })
        }
        if let properties = members["properties"] { members["properties"] = showing.entity(properties, keyValues: keyValues) }
        return .object(members)
    }

    /// Names in discovery answers, batch results and problems (`typeList`, `typeName`,
    /// `attributeName`, `attributeNames`, `attributeList`, `typeNames`).
    static func discovery(_ json: JSONValue, showing: NGSITermMapping) -> JSONValue {
        switch json {
        case .array(let items): return .array(items.map { discovery($0, showing: showing) })
        case .object(let members):
            var out = [String: JSONValue]()
            for (key, value) in members {
                switch key {
                case "typeList", "typeName", "typeNames", "attributeName", "attributeNames", "attributeList": out[key] = showing.types(value)
                default: out[key] = discovery(value, showing: showing)
                }
            }
            return .object(out)
        default: return json
        }
    }
}

/// Gathers a response body's bytes.
final class Collector: @unchecked Sendable {
    var buffer = ByteBuffer()
}

struct CollectingWriter: ResponseBodyWriter {
    let collector: Collector

    mutating func write(_ buffer: ByteBuffer) async throws {
        var buffer = buffer
        collector.buffer.writeBuffer(&buffer)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
