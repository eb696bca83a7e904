/// A JSON document as a value, the common currency of NGSI-LD encoding and decoding.
///
/// Parsing (``init(parsing:field:)``) and writing (``serialized()``) are direct byte-level code;
/// on an NGSI-LD entity they are about 2.5× faster than `JSONDecoder`/`JSONEncoder` (measured by
/// `kakehashi-bench`), which matters on the gateway's and the hub's hot paths. Writing puts object
/// keys in a stable order (`id`, `type`, then the rest sorted), so equal values give equal bytes.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses UTF-8 JSON (RFC 8259, strictly: no duplicate keys, finite numbers, valid UTF-8);
    /// errors are `.malformedJSON` on `field` with the byte offset.
    public init(parsing data: some Collection<UInt8>, field: String = "") throws(ModelError) {
        do {
            self = try JSONParser.parse(data)
        } catch {
            throw ModelError(field: field, error.reason)
        }
    }

    /// Parses JSON text.
    public init(parsing text: String, field: String = "") throws(ModelError) {
        try self.init(parsing: Array(text.utf8), field: field)
    }

    /// The members when this is an object.
    public var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The elements when this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// The text when this is a string.
    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The number when this is a number.
    public var numberValue: Double? {
        if case .number(let number) = self { return number }
        return nil
    }

    /// The member `key` when this is an object.
    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }

    /// The JSON type's name, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}
