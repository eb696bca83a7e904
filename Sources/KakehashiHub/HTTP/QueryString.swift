import Foundation
import KakehashiHubCore

/// The query parameters of a request, percent-decoded; a parameter given twice is an error.
struct QueryString {
    let values: [String: String]

    init(_ query: String?) throws(NGSIProblem) {
        var values = [String: String]()
        for pair in (query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = Self.decode(parts[0]), let value = Self.decode(parts.count > 1 ? parts[1] : "") else {
                throw NGSIProblem(.badRequestData, "query parameter '\(pair.prefix(60))' is not valid percent-encoding")
            }
            guard values[key] == nil else { throw NGSIProblem(.badRequestData, "query parameter '\(key)' is given twice") }
            values[key] = value
        }
        self.values = values
    }

    static func decode(_ text: Substring) -> String? {
        String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    subscript(_ key: String) -> String? { values[key] }

    /// Rejects parameters this route does not know, naming them.
    func allow(_ known: Set<String>) throws(NGSIProblem) {
        let unknown = values.keys.filter { !known.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw NGSIProblem(
                .badRequestData,
                "unknown query parameter\(unknown.count > 1 ? "s" : "") \(unknown.joined(separator: ", "))"
                    + " (known: \(known.sorted().joined(separator: ", ")))"
            )
        }
    }

    /// A non-negative integer parameter.
    func integer(_ key: String, default value: Int, range: ClosedRange<Int>) throws(NGSIProblem) -> Int {
        guard let text = values[key] else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw NGSIProblem(.badRequestData, "\(key): '\(text)' is not an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    /// The comma-separated values of `options` (and of `format`, its newer spelling).
    var options: Set<String> {
        var set = Set((values["options"] ?? "").split(separator: ",").map(String.init))
        if values["format"] == "simplified" || values["format"] == "keyValues" { set.insert("keyValues") }
        return set
    }
}
