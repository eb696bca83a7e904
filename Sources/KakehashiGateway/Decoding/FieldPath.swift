import KakehashiModel

/// A path into a JSON document: `level`, `data.level`, `readings[0].value`.
public struct FieldPath: Sendable, Hashable, CustomStringConvertible {
    enum Step: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    let steps: [Step]
    public let description: String

    public init(_ text: String) throws(PatternError) {
        var steps = [Step]()
        var key = ""
        var iterator = text.makeIterator()
        func flush() throws(PatternError) {
            guard !key.isEmpty else { throw PatternError("field path '\(text)' has an empty name") }
            steps.append(.key(key))
            key = ""
        }
        var afterIndex = false
        while let character = iterator.next() {
            switch character {
            case ".":
                if afterIndex { afterIndex = false; continue }
                try flush()
            case "[":
                if !key.isEmpty { try flush() }
                var digits = ""
                while let digit = iterator.next(), digit != "]" { digits.append(digit) }
                guard let index = Int(digits), index >= 0 else {
                    throw PatternError("field path '\(text)': '[\(digits)]' is not an array index")
                }
                steps.append(.index(index))
                afterIndex = true
            default:
                afterIndex = false
                key.append(character)
            }
        }
        if !key.isEmpty { try flush() }
        guard !steps.isEmpty else { throw PatternError("the field path is empty") }
        self.steps = steps
        self.description = text
    }

    /// The value at this path, or nil when any step is absent.
    public func value(in root: JSONValue) -> JSONValue? {
        var current = root
        for step in steps {
            switch step {
            case .key(let key):
                guard case .object(let members) = current, let next = members[key] else { return nil }
                current = next
            case .index(let index):
                guard case .array(let items) = current, index < items.count else { return nil }
                current = items[index]
            }
        }
        return current
    }
}
