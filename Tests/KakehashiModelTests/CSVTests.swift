import KakehashiModel
import Testing

/// The one CSV reader, on the cases RFC 4180 names and the ones spreadsheet exports produce.
struct CSVTests {
    static let cases: [(String, String, [[String]])] = [
        ("plain", "a,b\n1,2\n", [["a", "b"], ["1", "2"]]),
        ("CRLF and no final newline", "a,b\r\n1,2", [["a", "b"], ["1", "2"]]),
        ("BOM", "\u{FEFF}a,b\n1,2\n", [["a", "b"], ["1", "2"]]),
        ("comma in quotes", "name\n\"Chikugo, Kurume\"\n", [["name"], ["Chikugo, Kurume"]]),
        ("doubled quote", "name\n\"say \"\"hi\"\"\"\n", [["name"], ["say \"hi\""]]),
        ("line break in quotes", "a,b\n\"x\ny\",2\n", [["a", "b"], ["x\ny", "2"]]),
        ("empty fields", "a,b,c\n,,\n", [["a", "b", "c"], ["", "", ""]]),
        ("blank lines skipped", "a\n\n1\n\n", [["a"], ["1"]]),
        ("multibyte", "川,水位\n筑後川,1.2\n", [["川", "水位"], ["筑後川", "1.2"]]),
    ]

    @Test(arguments: cases)
    func reads(_ name: String, _ text: String, _ expected: [[String]]) throws {
        #expect(try CSV.records(text).map(\.fields) == expected, "\(name)")
    }

    @Test func recordsKeepTheLineTheyStartOn() throws {
        #expect(try CSV.records("a,b\n\"x\ny\",2\n\n3,4\n").map(\.line) == [1, 2, 5])
    }

    @Test func anUnclosedQuoteIsAnErrorAtItsLine() {
        #expect(throws: CSV.UnclosedQuote(line: 2)) { try CSV.records("a,b\n\"open,2\n3,4\n") }
    }
}
