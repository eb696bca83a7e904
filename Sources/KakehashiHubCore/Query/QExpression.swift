import KakehashiModel

/// An NGSI-LD `q` filter: comparisons on attribute values joined by `;` (and) and `|` (or), with
/// parentheses. Values are numbers, `"quoted text"`, `true`/`false`, or bare text.
///
/// ```swift
/// let q = try QExpression("waterLevel>=2.5;floodLevelStatus!=\"normal\"")
/// q.matches(entity)
/// ```
public indirect enum QExpression: Sendable, Hashable {
    /// The comparison operators.
    public enum Operator: String, Sendable, Hashable, CaseIterable {
        case equal = "==", notEqual = "!=", greaterOrEqual = ">=", lessOrEqual = "<=", greater = ">", less = "<"
    }

    /// A literal compared with.
    public enum Literal: Sendable, Hashable {
        case number(Double), text(String), boolean(Bool)
    }

    /// `attribute op literal`.
    case comparison(attribute: String, op: Operator, value: Literal)
    /// The attribute exists.
    case exists(attribute: String)
    /// All of.
    case and([QExpression])
    /// Any of.
    case or([QExpression])

    /// Parses `text`; errors name the position.
    public init(_ text: String) throws(QueryError) {
        var parser = QParser(text: Array(text.unicodeScalars))
        self = try parser.parseAll()
    }

    /// The text of a `q` with each attribute name passed through `rename` (a client's short
    /// names to the stored ones), values and operators as they were. Names are read as the
    /// parser reads them: at the start of a term, after `(`, `;` or `|`; quoted text is skipped.
    public static func renamingAttributes(in text: String, _ rename: (String) -> String) -> String {
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var position = 0
        var atTerm = true
        while position < scalars.count {
            let scalar = scalars[position]
            if atTerm, QParser.isNameScalar(scalar) {
                let start = position
                while position < scalars.count, QParser.isNameScalar(scalars[position]) { position += 1 }
                out.append(contentsOf: rename(String(String.UnicodeScalarView(scalars[start..<position]))).unicodeScalars)
                atTerm = false
                continue
            }
            if scalar == "\"" {
                out.append(scalar)
                position += 1
                while position < scalars.count, scalars[position] != "\"" {
                    out.append(scalars[position])
                    position += 1
                }
                if position < scalars.count { out.append(scalars[position]) }
                position += 1
                continue
            }
            if "(;|".unicodeScalars.contains(scalar) { atTerm = true } else if scalar != " " { atTerm = false }
            out.append(scalar)
            position += 1
        }
        return String(out)
    }

    /// Whether `entity` satisfies the expression (on its latest values).
    public func matches(_ entity: NGSIEntity) -> Bool {
        switch self {
        case .and(let parts): return parts.allSatisfy { $0.matches(entity) }
        case .or(let parts): return parts.contains { $0.matches(entity) }
        case .exists(let attribute): return entity.attributes[attribute] != nil
        case .comparison(let attribute, let op, let literal):
            guard case .property(let property)? = entity.attributes[attribute] else { return false }
            switch (property.value, literal) {
            case (.number(let a), .number(let b)): return Self.compare(a, b, op)
            case (.text(let a), .text(let b)): return Self.compare(a, b, op)
            case (.boolean(let a), .boolean(let b)):
                return op == .equal ? a == b : op == .notEqual ? a != b : false
            case (.dateTime(let a), .text(let b)):
                guard let t = try? Timestamp(iso8601: b) else { return false }
                return Self.compare(a, t, op)
            default:
                return op == .notEqual
            }
        }
    }

    static func compare<T: Comparable>(_ a: T, _ b: T, _ op: Operator) -> Bool {
        switch op {
        case .equal: a == b
        case .notEqual: a != b
        case .greater: a > b
        case .greaterOrEqual: a >= b
        case .less: a < b
        case .lessOrEqual: a <= b
        }
    }
}

/// Recursive descent over `q`: or-list of and-lists of terms.
struct QParser {
    /// Whether `scalar` belongs to an attribute name: letters, digits, `_`, and `:`, `/`, `#`,
    /// `-`, `.`, `~`, `%` for an expanded name (an IRI).
    static func isNameScalar(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_:/#-.~%".unicodeScalars.contains(scalar)
    }

    let text: [Unicode.Scalar]
    var position = 0

    mutating func parseAll() throws(QueryError) -> QExpression {
        let expression = try parseOr()
        guard position == text.count else { throw fail("unexpected '\(String(text[position]))'") }
        return expression
    }

    func fail(_ problem: String) -> QueryError {
        QueryError("q", "\(problem) at position \(position + 1)")
    }

    mutating func parseOr() throws(QueryError) -> QExpression {
        var parts = [try parseAnd()]
        while position < text.count, text[position] == "|" {
            position += 1
            parts.append(try parseAnd())
        }
        return parts.count == 1 ? parts[0] : .or(parts)
    }

    mutating func parseAnd() throws(QueryError) -> QExpression {
        var parts = [try parseTerm()]
        while position < text.count, text[position] == ";" {
            position += 1
            parts.append(try parseTerm())
        }
        return parts.count == 1 ? parts[0] : .and(parts)
    }

    mutating func parseTerm() throws(QueryError) -> QExpression {
        guard position < text.count else { throw fail("an attribute comparison is missing") }
        if text[position] == "(" {
            position += 1
            let inner = try parseOr()
            guard position < text.count, text[position] == ")" else { throw fail("')' is missing") }
            position += 1
            return inner
        }
        let start = position
        while position < text.count, Self.isNameScalar(text[position]) { position += 1 }
        let attribute = String(String.UnicodeScalarView(text[start..<position]))
        guard !attribute.isEmpty else { throw fail("expected an attribute name") }
        guard let op = parseOperator() else { return .exists(attribute: attribute) }
        return .comparison(attribute: attribute, op: op, value: try parseLiteral())
    }

    mutating func parseOperator() -> QExpression.Operator? {
        for op in [QExpression.Operator.equal, .notEqual, .greaterOrEqual, .lessOrEqual, .greater, .less] {
            let symbol = Array(op.rawValue.unicodeScalars)
            if position + symbol.count <= text.count, Array(text[position..<position + symbol.count]) == symbol {
                position += symbol.count
                return op
            }
        }
        return nil
    }

    mutating func parseLiteral() throws(QueryError) -> QExpression.Literal {
        guard position < text.count else { throw fail("a value is missing") }
        if text[position] == "\"" {
            position += 1
            let start = position
            while position < text.count, text[position] != "\"" { position += 1 }
            guard position < text.count else { throw fail("the closing '\"' is missing") }
            let value = String(String.UnicodeScalarView(text[start..<position]))
            position += 1
            return .text(value)
        }
        let start = position
        while position < text.count, ![";", "|", ")"].contains(text[position]) { position += 1 }
        let raw = String(String.UnicodeScalarView(text[start..<position]))
        guard !raw.isEmpty else { throw fail("a value is missing") }
        // An operator character where the value should start (`waterLevel>>1`, `a==!b`) is a typo,
        // not a text value: text values are quoted.
        if let first = raw.unicodeScalars.first, "<>=!~".unicodeScalars.contains(first) {
            throw fail("'\(raw)' is not a value (a second operator?); quote text values: \"…\"")
        }
        if raw == "true" { return .boolean(true) }
        if raw == "false" { return .boolean(false) }
        if let number = Double(raw), number.isFinite { return .number(number) }
        return .text(raw)
    }
}
