/// A JSON-LD active context: the subset of JSON-LD 1.1 that NGSI-LD needs to expand an entity's
/// short names (its type and attribute names) to IRIs and to compact IRIs back to another
/// client's short names. Term definitions (a string or an object with `@id`), compact IRIs
/// (`prefix:suffix`), `@vocab`, `null` to remove a term, arrays of contexts, inline objects and
/// URLs (resolved by the caller, see ``urls(in:)``). No framing, no `@type` coercion, no
/// `@container`: those change values, and NGSI-LD attribute values are not expanded.
///
/// The NGSI-LD core context is always applied last (``applyingCore()``), so no user context can
/// redefine a core term.
public struct JSONLDContext: Sendable, Hashable {
    /// Each term and the IRI (or keyword) it stands for.
    public private(set) var terms: [String: String] = [:]
    /// The vocabulary a term without a definition expands against (`@vocab`).
    public private(set) var vocab: String?
    /// Each IRI and the term that compacts it (the shortest, then the first in order).
    private var reverse: [String: String] = [:]

    /// An empty context (terms are left as they are).
    public init() {}

    /// A context of `entries` (each an inline object, a URL or an array of them), URLs read from
    /// `documents` (URL → the document, with or without its `@context` wrapper), then the core.
    public init(_ entries: [JSONValue], documents: [String: JSONValue] = [:]) throws(JSONLDError) {
        var context = JSONLDContext()
        for entry in entries { try context.apply(entry, documents: documents, depth: 0) }
        self = context.applyingCore()
    }

    /// This context with the NGSI-LD core context applied over it (core terms win; a user's
    /// `@vocab` is kept).
    public func applyingCore() -> JSONLDContext {
        var context = self
        for (term, iri) in JSONLDCoreContext.terms { context.terms[term] = iri }
        if context.vocab == nil { context.vocab = JSONLDCoreContext.vocab }
        context.index()
        return context
    }

    /// The core context alone.
    public static let core = JSONLDContext().applyingCore()

    // MARK: Expanding and compacting

    /// The IRI `term` stands for: its definition, a compact IRI's prefix with the suffix, an
    /// absolute IRI as it is, else the vocabulary with the term.
    public func expand(_ term: String) -> String {
        if term.hasPrefix("@") { return term }
        if let iri = terms[term] { return iri }
        if let colon = term.firstIndex(of: ":") {
            let prefix = String(term[..<colon])
            let suffix = term[term.index(after: colon)...]
            if !suffix.hasPrefix("//"), let base = terms[prefix], !base.hasPrefix("@") { return base + suffix }
            return term
        }
        return (vocab ?? "") + term
    }

    /// The shortest name for `iri` in this context: a term defined for it, else the part after
    /// the vocabulary (when that is not itself a term for something else), else a compact IRI
    /// (`prefix:suffix`), else the IRI.
    public func compact(_ iri: String) -> String {
        if iri.hasPrefix("@") { return iri }
        if let term = reverse[iri] { return term }
        if let vocab, iri.count > vocab.count, iri.hasPrefix(vocab) {
            let suffix = String(iri.dropFirst(vocab.count))
            if terms[suffix] == nil, !suffix.contains(":") { return suffix }
        }
        var best: (term: String, base: String)?
        for (term, base) in terms where Self.isPrefix(base) && iri.count > base.count && iri.hasPrefix(base) {
            if best == nil || base.count > best!.base.count || (base.count == best!.base.count && term < best!.term) { best = (term, base) }
        }
        if let best {
            let name = best.term + ":" + iri.dropFirst(best.base.count)
            if terms[name] == nil { return name }
        }
        return iri
    }

    /// Whether an IRI can serve as a compact IRI's prefix: it ends with a general delimiter.
    static func isPrefix(_ iri: String) -> Bool {
        guard let last = iri.last, !iri.hasPrefix("@") else { return false }
        return "/#:?[]@".contains(last)
    }

    // MARK: Processing a context

    /// The URLs `entry` names (in arrays too), for the caller to fetch before ``init(_:documents:)``.
    public static func urls(in entry: JSONValue) -> [String] {
        switch entry {
        case .string(let url): [url]
        case .array(let items): items.flatMap { urls(in: $0) }
        case .object(let members): members["@context"].map { urls(in: $0) } ?? []
        default: []
        }
    }

    /// The `@context` of a context document (the document itself when it has none).
    public static func contextOf(document: JSONValue) -> JSONValue {
        if case .object(let members) = document, let inner = members["@context"] { return inner }
        return document
    }

    mutating func apply(_ entry: JSONValue, documents: [String: JSONValue], depth: Int) throws(JSONLDError) {
        guard depth < 8 else { throw JSONLDError("contexts refer to each other more than 8 levels deep (a loop?)") }
        switch entry {
        case .null:
            self = JSONLDContext()
        case .string(let url):
            if JSONLDCoreContext.isCoreURL(url) || JSONLDCoreContext.vocabularyAliases.contains(url) { return }
            guard let document = documents[url] else { throw JSONLDError("the context \(url) is not available", url: url) }
            try apply(Self.contextOf(document: document), documents: documents, depth: depth + 1)
        case .array(let items):
            for item in items { try apply(item, documents: documents, depth: depth + 1) }
        case .object(let members):
            try define(members)
        default:
            throw JSONLDError("a context is a URL, an object or an array of them, not \(entry.typeName)")
        }
    }

    /// Applies a local context's definitions (JSON-LD 1.1 §4.1, the subset above).
    mutating func define(_ members: [String: JSONValue]) throws(JSONLDError) {
        if let vocabValue = members["@vocab"] {
            switch vocabValue {
            case .null: vocab = nil
            case .string(let text): vocab = text.contains(":") ? resolve(text, local: members, seen: []) : (vocab ?? "") + text
            default: throw JSONLDError("@vocab must be an IRI or null, not \(vocabValue.typeName)")
            }
        }
        for (term, _) in members where !term.hasPrefix("@") {
            guard !term.isEmpty else { throw JSONLDError("a term of the context is empty") }
            try defineTerm(term, local: members, seen: [])
        }
        index()
    }

    private mutating func defineTerm(_ term: String, local: [String: JSONValue], seen: Set<String>) throws(JSONLDError) {
        guard let value = local[term] else { return }
        switch value {
        case .null:
            terms[term] = nil
        case .string(let text):
            terms[term] = resolve(text, local: local, seen: seen.union([term]))
        case .object(let definition):
            switch definition["@id"] {
            case .string(let text)?: terms[term] = resolve(text, local: local, seen: seen.union([term]))
            case .null?: terms[term] = nil
            case nil: terms[term] = resolve(term, local: local, seen: seen.union([term]))
            case let other?: throw JSONLDError("the @id of term \(term) must be an IRI, not \(other.typeName)")
            }
        default:
            throw JSONLDError("term \(term) must be defined by an IRI, an object or null, not \(value.typeName)")
        }
    }

    /// An IRI written in a context: a keyword, a term (of this local context or an earlier one),
    /// a compact IRI, an absolute IRI, or vocabulary-relative.
    private func resolve(_ text: String, local: [String: JSONValue], seen: Set<String>) -> String {
        if text.hasPrefix("@") { return text }
        if let colon = text.firstIndex(of: ":") {
            let prefix = String(text[..<colon])
            let suffix = text[text.index(after: colon)...]
            if suffix.hasPrefix("//") { return text }
            if let base = prefixIRI(prefix, local: local, seen: seen) { return base + suffix }
            return text
        }
        if !seen.contains(text), let defined = localIRI(text, local: local, seen: seen) { return defined }
        if let known = terms[text], !seen.contains(text) { return known }
        return (vocab ?? "") + text
    }

    private func prefixIRI(_ prefix: String, local: [String: JSONValue], seen: Set<String>) -> String? {
        if !seen.contains(prefix), let defined = localIRI(prefix, local: local, seen: seen) { return defined }
        return terms[prefix].flatMap { $0.hasPrefix("@") ? nil : $0 }
    }

    private func localIRI(_ term: String, local: [String: JSONValue], seen: Set<String>) -> String? {
        switch local[term] {
        case .string(let text)?: resolve(text, local: local, seen: seen.union([term]))
        case .object(let definition)?: definition["@id"]?.stringValue.map { resolve($0, local: local, seen: seen.union([term])) }
        default: nil
        }
    }

    private mutating func index() {
        reverse = [:]
        for (term, iri) in terms where !iri.hasPrefix("@") {
            if let current = reverse[iri], current.count < term.count || (current.count == term.count && current < term) { continue }
            reverse[iri] = term
        }
    }
}

/// A context that cannot be read or used.
public struct JSONLDError: Error, Sendable, Hashable, CustomStringConvertible {
    public let reason: String
    /// The URL of a context that could not be had (then the answer is LdContextNotAvailable).
    public let url: String?

    public init(_ reason: String, url: String? = nil) {
        self.reason = reason
        self.url = url
    }

    public var description: String { reason }
}
