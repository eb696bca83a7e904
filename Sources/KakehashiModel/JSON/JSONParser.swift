/// A strict RFC 8259 JSON parser into ``JSONValue``.
///
/// Direct byte-level parsing, several times faster than decoding `JSONValue` through `Codable`,
/// which matters on the hub's ingest path. Errors give the byte offset and what was expected.
/// Beyond the RFC it rejects what would make NGSI-LD ambiguous or unbounded: duplicate object
/// keys, numbers outside the range of a Double, invalid UTF-8, and nesting deeper than 64.
struct JSONParser {
    static let maxDepth = 64

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    /// The objects whose members' byte ranges are recorded: those at `depth` that are the value
    /// of a member named `key` (nil: none).
    private let spanned: (depth: Int, key: String)?
    /// The key of the member being read at the depth above `spanned`.
    private var parentKey: String?
    /// Per spanned object, in document order: each member's value as a range of the input.
    private(set) var spans: [[String: Range<Int>]] = []

    private init(bytes: UnsafeBufferPointer<UInt8>, spanned: (depth: Int, key: String)? = nil) {
        self.bytes = bytes
        self.spanned = spanned
    }

    static func parse(_ input: some Collection<UInt8>) throws(ModelError) -> JSONValue {
        try parse(input, spansOf: nil).value
    }

    /// Parses `input` and records, for every object at `depth` (the root object is at depth 1,
    /// its members' objects at 2, …) that is the value of a member named `key`, where each of its
    /// members' values lies in `input`: a reader can keep those bytes as they came instead of
    /// writing the parsed value again.
    static func parse(
        _ input: some Collection<UInt8>,
        spansOf spanned: (depth: Int, key: String)?
    ) throws(ModelError) -> (value: JSONValue, spans: [[String: Range<Int>]]) {
        try withContiguousBytes(input) { (buffer) throws(ModelError) in
            var parser = JSONParser(bytes: buffer, spanned: spanned)
            parser.skipWhitespace()
            let value = try parser.value(depth: 0)
            parser.skipWhitespace()
            guard parser.index == buffer.count else { throw parser.fail("unexpected data after the JSON value") }
            return (value, parser.spans)
        }
    }

    /// Runs `body` over the bytes of `input`, copying only when they are not contiguous.
    private static func withContiguousBytes<R>(
        _ input: some Collection<UInt8>,
        _ body: (UnsafeBufferPointer<UInt8>) throws(ModelError) -> R
    ) throws(ModelError) -> R {
        let result: Result<R, ModelError>? = input.withContiguousStorageIfAvailable { buffer in
            do throws(ModelError) { return .success(try body(buffer)) } catch { return .failure(error) }
        }
        if let result { return try result.get() }
        let array = Array(input)
        return try array.withUnsafeBufferPointer { (buffer) throws(ModelError) -> R in try body(buffer) }
    }

    private func fail(_ why: String) -> ModelError {
        ModelError(field: "", .malformedJSON("at byte \(index): \(why)"))
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func value(depth: Int) throws(ModelError) -> JSONValue {
        guard index < bytes.count else { throw fail("unexpected end of input, expected a value") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw fail("unexpected character '\(Character(Unicode.Scalar(bytes[index])))', expected a value")
        }
    }

    private mutating func literal(_ word: StaticString) throws(ModelError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw fail("unexpected end of input in a literal") }
        for i in 0..<count where bytes[index + i] != word.utf8Start[i] {
            throw fail("invalid literal, expected \(word)")
        }
        index += count
    }

    private mutating func object(depth: Int) throws(ModelError) -> JSONValue {
        guard depth <= Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth)") }
        index += 1
        var members = [String: JSONValue](minimumCapacity: 6)  // NGSI-LD attributes hold 2–5 members; growing costs more
        let recording = depth == spanned?.depth && parentKey == spanned?.key
        let parent = spanned.map { depth == $0.depth - 1 } ?? false
        var ranges = [String: Range<Int>]()
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            if recording { spans.append(ranges) }
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a quoted object key") }
            let keyStart = index
            let key = try string()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':' after an object key") }
            index += 1
            skipWhitespace()
            let start = index
            if parent { parentKey = key }
            let member = try value(depth: depth)
            if recording { ranges[key] = start..<index }
            guard members.updateValue(member, forKey: key) == nil else {
                index = keyStart
                throw fail("duplicate object key \"\(key.prefix(64))\"")
            }
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of input in an object") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") {
                index += 1
                if recording { spans.append(ranges) }
                return .object(members)
            }
            throw fail("expected ',' or '}' in an object")
        }
    }

    private mutating func array(depth: Int) throws(ModelError) -> JSONValue {
        guard depth <= Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth)") }
        index += 1
        var elements = [JSONValue]()
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try value(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of input in an array") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
            throw fail("expected ',' or ']' in an array")
        }
    }

    private mutating func string() throws(ModelError) -> String {
        index += 1
        let start = index
        var ascii = true
        // Fast path: no escapes.
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                if ascii { return String(decoding: slice, as: UTF8.self) }
                guard let text = String(validating: slice, as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
                return text
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw fail("unescaped control character in a string") }
            if b >= 0x80 { ascii = false }
            index += 1
        }
        var buffer = Array(bytes[start..<index])
        while index < bytes.count {
            let b = bytes[index]
            switch b {
            case UInt8(ascii: "\""):
                index += 1
                guard let text = String(validating: buffer, as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
                return text
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw fail("unexpected end of input in an escape") }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): buffer.append(e)
                case UInt8(ascii: "b"): buffer.append(0x08)
                case UInt8(ascii: "f"): buffer.append(0x0C)
                case UInt8(ascii: "n"): buffer.append(0x0A)
                case UInt8(ascii: "r"): buffer.append(0x0D)
                case UInt8(ascii: "t"): buffer.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired UTF-16 surrogate in a \\u escape")
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("invalid UTF-16 low surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw fail("unpaired UTF-16 surrogate in a \\u escape")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                    buffer.append(contentsOf: Array(String(Character(unicode)).utf8))
                default:
                    throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))'")
                }
            default:
                if b < 0x20 { throw fail("unescaped control character in a string") }
                buffer.append(b)
                index += 1
            }
        }
        throw fail("unterminated string")
    }

    private mutating func hex4() throws(ModelError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("unexpected end of input in a \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw fail("invalid hex digit in a \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private mutating func number() throws(ModelError) -> Double {
        let start = index
        func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw fail("expected a digit in a number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, isDigit(bytes[index]) { throw fail("leading zero in a number") }
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw fail("expected a digit after '.'") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw fail("expected a digit in an exponent") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            let at = index
            index = start
            defer { index = at }
            throw fail("number \(text.prefix(32)) is outside the range of a 64-bit float")
        }
        return value
    }
}
