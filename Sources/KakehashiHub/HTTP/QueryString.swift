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

    /// Parameters already decoded.
    init(values: [String: String]) { self.values = values }

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

    /// The `options` values NGSI-LD defines (and `count`, an older spelling of `count=true`).
    static let knownOptions: Set<String> = [
        "keyValues", "simplified", "normalized", "concise", "sysAttrs", "temporalValues", "aggregatedValues", "noOverwrite", "count",
        "update", "replace",
    ]
    /// The `format` values NGSI-LD defines.
    static let knownFormats: Set<String> = ["keyValues", "simplified", "normalized", "concise", "temporalValues", "aggregatedValues"]

    /// The comma-separated values of `options` (and of `format`, its newer spelling); a value the
    /// specification does not define is a 400, not silently ignored.
    var options: Set<String> {
        get throws(NGSIProblem) {
            var set = Set<String>()
            for option in (values["options"]?.split(separator: ",", omittingEmptySubsequences: false) ?? []).map(String.init) {
                guard Self.knownOptions.contains(option) else {
                    throw NGSIProblem(
                        .badRequestData,
                        "options: '\(option)' is not an option (\(Self.knownOptions.sorted().joined(separator: ", ")))"
                    )
                }
                set.insert(option)
            }
            if let format = values["format"] {
                guard Self.knownFormats.contains(format) else {
                    throw NGSIProblem(.badRequestData, "format: '\(format)' is not a format (\(Self.knownFormats.sorted().joined(separator: ", ")))")
                }
                set.insert(format)
            }
            if set.contains("simplified") { set.insert("keyValues") }
            return set
        }
    }
}
