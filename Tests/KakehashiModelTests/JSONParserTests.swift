import Testing

@testable import KakehashiModel

struct JSONParserTests {
    static let valid: [(String, JSONValue)] = [
        ("null", nil), ("true", true), ("false", false), ("0", 0), ("-0.5", -0.5), ("1e3", 1000), ("2.5E-3", 0.0025),
        ("\"\"", ""), (#""a\"b\\c\/d\b\f\n\r\t""#, "a\"b\\c/d\u{8}\u{C}\n\r\t"), (#""\u6c34\u4f4d""#, "水位"),
        (#""\ud83c\udf0a""#, "🌊"), ("\"気仙小橋\"", "気仙小橋"), (" [ 1 , [ ] , { } ] ", [1, [], [:]]),
        (#"{"a":{"b":[true,null]},"c":-12.75}"#, ["a": ["b": [true, nil]], "c": -12.75]),
        ("9007199254740993", 9_007_199_254_740_992),
    ]

    @Test(arguments: valid)
    func parses(text: String, expected: JSONValue) throws {
        #expect(try JSONValue(parsing: text) == expected)
    }

    static let invalid: [(String, String)] = [
        ("", "unexpected end of input"), ("{", "expected a quoted object key"), ("[1,]", "unexpected character ']'"),
        ("[1 2]", "expected ',' or ']'"), (#"{"a" 1}"#, "expected ':'"), (#"{"a":1,}"#, "expected a quoted object key"),
        ("01", "leading zero"), ("1.", "digit after '.'"), ("1e", "digit in an exponent"), ("-", "expected a digit"),
        ("+1", "unexpected character '+'"), (".5", "unexpected character '.'"), ("NaN", "unexpected character 'N'"),
        ("1e999", "outside the range of a 64-bit float"), ("tru", "unexpected end of input in a literal"), ("nul!", "invalid literal"),
        ("\"abc", "unterminated string"), ("\"a\u{1}b\"", "unescaped control character"), (#""\x""#, "invalid escape"),
        (#""\u12G4""#, "invalid hex digit"), (#""\ud83c""#, "unpaired UTF-16 surrogate"), (#""\udf0a""#, "unpaired UTF-16 surrogate"),
        (#"{"a":1,"a":2}"#, "duplicate object key \"a\""), ("1 2", "unexpected data after the JSON value"),
        (String(repeating: "[", count: 70) + String(repeating: "]", count: 70), "nesting deeper than 64"),
    ]

    @Test(arguments: invalid)
    func rejectsWithPosition(text: String, why: String) {
        expectModelError(messagePrefix: "payload: is not valid JSON: at byte ", containing: why) {
            _ = try JSONValue(parsing: text, field: "payload")
        }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: ModelError.self) { try JSONValue(parsing: [0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: ModelError.self) { try JSONValue(parsing: [0x22, 0xFF, 0x22]) }
    }

    @Test func writerOutputParsesBackForEveryEscape() throws {
        let all = String(String.UnicodeScalarView((0..<0x250).compactMap(Unicode.Scalar.init))) + "🌊水"
        let value: JSONValue = ["s": .string(all), "n": [0.1, -3, 1e-7, 123_456_789.125, 1e21]]
        #expect(try JSONValue(parsing: value.serialized()) == value)
    }
}
