import Foundation
import KakehashiHubCore
import KakehashiModel
import Logging

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The JSON-LD contexts the hub knows (NGSI-LD `/jsonldContexts`): hosted ones (posted to the
/// hub), preloaded ones (from files in the configuration) and remote ones, fetched once and
/// cached. Resolves a request's `@context` to an active context, cached by its text.
actor ContextStore {
    /// How a context came to be known.
    enum Kind: String, Sendable {
        case hosted = "Hosted", cached = "Cached", preloaded = "Preloaded"
    }

    struct Entry: Sendable {
        let document: JSONValue
        let kind: Kind
        let createdAt: Date
        var hits = 0
        var lastUsage: Date?
    }

    /// The path under which hosted contexts are served.
    static let hostedPath = "/ngsi-ld/v1/jsonldContexts/"

    private var entries: [String: Entry] = [:]  // by URL; hosted ones by their local id
    private var active: [String: JSONLDContext] = [:]
    private let fetchTimeout: Duration
    private let logger: Logger

    init(configuration: JSONLDConfiguration, logger: Logger) {
        fetchTimeout = configuration.fetchTimeout
        self.logger = logger
        for (url, document) in configuration.contexts {
            entries[url] = Entry(document: document, kind: .preloaded, createdAt: Date())
        }
    }

    // MARK: Resolving

    /// The active context of `entries` (as a request gives them), the core applied last; remote
    /// ones fetched. A context that cannot be had is 503 LdContextNotAvailable; one that is not
    /// a valid context is 400.
    func context(_ given: [JSONValue]) async throws(NGSIProblem) -> JSONLDContext {
        let key = JSONValue.array(given).jsonText
        if let known = active[key] { return known }
        var documents = [String: JSONValue]()
        var pending = given.flatMap { JSONLDContext.urls(in: $0) }
        var rounds = 0
        while let url = pending.popLast() {
            guard documents[url] == nil, !JSONLDCoreContext.isCoreURL(url), !JSONLDCoreContext.vocabularyAliases.contains(url) else { continue }
            rounds += 1
            guard rounds <= 32 else { throw NGSIProblem(.badRequestData, "the @context names more than 32 contexts") }
            let document = try await document(at: url)
            documents[url] = document
            pending += JSONLDContext.urls(in: JSONLDContext.contextOf(document: document))
        }
        do {
            let context = try JSONLDContext(given, documents: documents)
            if active.count > 256 { active.removeAll() }
            active[key] = context
            return context
        } catch {
            throw NGSIProblem(.badRequestData, "@context: \(error.reason)")
        }
    }

    /// The document at `url`: hosted, preloaded or cached, else fetched now.
    func document(at url: String) async throws(NGSIProblem) -> JSONValue {
        if let id = Self.hostedID(url), entries[id] != nil { return use(id) }
        if entries[url] != nil { return use(url) }
        guard let address = URL(string: url), address.scheme == "http" || address.scheme == "https" else {
            throw NGSIProblem(.badRequestData, "@context: \(url.prefix(200)) is not an http(s) URL")
        }
        let document = try await fetch(address)
        entries[url] = Entry(document: document, kind: .cached, createdAt: Date())
        return use(url)
    }

    private func use(_ key: String) -> JSONValue {
        entries[key]!.hits += 1
        entries[key]!.lastUsage = Date()
        return entries[key]!.document
    }

    /// The local id of a URL naming a context hosted here (on any host name the hub has).
    static func hostedID(_ url: String) -> String? {
        guard let range = url.range(of: hostedPath) else { return nil }
        let id = String(url[range.upperBound...])
        return id.isEmpty || id.contains("/") ? nil : id
    }

    private func fetch(_ url: URL) async throws(NGSIProblem) -> JSONValue {
        var request = URLRequest(url: url)
        request.timeoutInterval = Double(fetchTimeout.components.seconds) + Double(fetchTimeout.components.attoseconds) / 1e18
        request.setValue("application/ld+json, application/json", forHTTPHeaderField: "Accept")
        let data: Data
        let response: URLResponse
        do { (data, response) = try await URLSession.shared.data(for: request) } catch {
            logger.warning("a JSON-LD context could not be fetched", metadata: ["url": "\(url)", "error": "\(error.localizedDescription)"])
            throw NGSIProblem(
                .ldContextNotAvailable,
                "the @context \(url) could not be fetched (\(error.localizedDescription)); preload it in jsonld.contexts if this hub has no internet"
            )
        }
        if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
            throw NGSIProblem(.ldContextNotAvailable, "the @context \(url) answered HTTP \(http.statusCode)")
        }
        guard let document = try? JSONValue(parsing: Array(data)), case .object(let members) = document, members["@context"] != nil else {
            throw NGSIProblem(.ldContextNotAvailable, "the @context \(url) is not a JSON-LD context document (a JSON object with @context)")
        }
        return document
    }

    // MARK: /jsonldContexts

    /// Hosts `document` (a JSON object with `@context`) and returns its local id.
    func host(_ document: JSONValue) throws(NGSIProblem) -> String {
        guard case .object(let members) = document, let inner = members["@context"] else {
            throw NGSIProblem(.badRequestData, "a context to host is a JSON object with an @context member")
        }
        do { _ = try JSONLDContext([inner], documents: entries.mapValues(\.document)) } catch  where error.url == nil {
            throw NGSIProblem(.badRequestData, "@context: \(error.reason)")
        } catch {
            // It names a context not fetched yet: fetched when a request uses it.
        }
        let id = UUID().uuidString.lowercased()
        entries[id] = Entry(document: ["@context": inner], kind: .hosted, createdAt: Date())
        return id
    }

    /// The document of a hosted context (by local id) or of a known URL.
    func stored(_ id: String) -> JSONValue? {
        (entries[id] ?? Self.hostedID(id).flatMap { entries[$0] })?.document
    }

    /// Deletes a hosted context, or drops a cached one (`reload` fetches it again now).
    func delete(_ id: String, reload: Bool) async throws(NGSIProblem) {
        let key = entries[id] != nil ? id : (Self.hostedID(id) ?? id)
        if JSONLDCoreContext.isCoreURL(id) { throw NGSIProblem(.badRequestData, "the core context cannot be deleted") }
        guard let entry = entries[key] else { throw NGSIProblem(.resourceNotFound, "no @context \(id.prefix(200)) is known to this hub") }
        if reload {
            guard entry.kind == .cached, let url = URL(string: key) else {
                throw NGSIProblem(.badRequestData, "reload=true applies to a cached remote context, not a \(entry.kind.rawValue.lowercased()) one")
            }
            entries[key] = Entry(document: try await fetch(url), kind: .cached, createdAt: Date())
        } else {
            entries[key] = nil
        }
        active.removeAll()
    }

    /// Every known context: its URL (`base` + id for hosted ones) and details.
    func list(base: String) -> [(url: String, id: String, entry: Entry)] {
        entries.map { key, entry in (entry.kind == .hosted ? base + Self.hostedPath + key : key, key, entry) }.sorted { $0.url < $1.url }
    }
}
