/// An MQTT topic filter whose levels may be named: `flood/{sensor}/level`.
///
/// A `{name}` level matches one topic level like `+` and captures it; `+` and a final `#` work as
/// in MQTT. ``filter`` is what the gateway subscribes to.
///
/// ```swift
/// let pattern = try TopicPattern("flood/{sensor}/level")
/// pattern.filter                                  // "flood/+/level"
/// pattern.match("flood/kurume-01/level")          // ["sensor": "kurume-01"]
/// ```
public struct TopicPattern: Sendable, Hashable, CustomStringConvertible {
    enum Level: Sendable, Hashable {
        case literal(String)
        case named(String)
        case single
        case multi
    }

    let levels: [Level]
    /// The pattern as written.
    public let description: String

    /// Parses a pattern; errors say which level is wrong and why.
    public init(_ text: String) throws(PatternError) {
        guard !text.isEmpty else { throw PatternError("the topic pattern is empty") }
        var levels = [Level]()
        var names = Set<String>()
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        for (index, part) in parts.enumerated() {
            if part == "#" {
                guard index == parts.count - 1 else { throw PatternError("'#' must be the last level of \(text)") }
                levels.append(.multi)
            } else if part == "+" {
                levels.append(.single)
            } else if part.hasPrefix("{") && part.hasSuffix("}") && part.count > 2 {
                let name = String(part.dropFirst().dropLast())
                guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    throw PatternError("level '\(part)' of \(text): a name may hold letters, digits and '_' only")
                }
                guard names.insert(name).inserted else { throw PatternError("'{\(name)}' appears twice in \(text)") }
                levels.append(.named(name))
            } else {
                guard !part.contains("+"), !part.contains("#"), !part.contains("{"), !part.contains("}") else {
                    throw PatternError("level '\(part)' of \(text) mixes text with a wildcard; a wildcard fills a whole level")
                }
                levels.append(.literal(String(part)))
            }
        }
        self.levels = levels
        self.description = text
    }

    /// The names of the captured levels, in order.
    public var names: [String] {
        levels.compactMap { if case .named(let name) = $0 { name } else { nil } }
    }

    /// The MQTT subscription filter.
    public var filter: String {
        levels.map { level in
            switch level {
            case .literal(let text): text
            case .named, .single: "+"
            case .multi: "#"
            }
        }.joined(separator: "/")
    }

    /// The captured levels when `topic` matches, else nil.
    public func match(_ topic: String) -> [String: String]? {
        var captures = [String: String]()
        var parts = topic.split(separator: "/", omittingEmptySubsequences: false)[...]
        for level in levels {
            if case .multi = level { return captures }
            guard let part = parts.popFirst() else { return nil }
            switch level {
            case .literal(let text): guard part == text else { return nil }
            case .named(let name): captures[name] = String(part)
            case .single, .multi: break
            }
        }
        return parts.isEmpty ? captures : nil
    }
}
