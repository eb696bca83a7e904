/// One thing wrong in a configuration file, located: `gateway.yaml:14:7: sources[0].topic: …`.
public struct ConfigurationIssue: Sendable, Hashable, CustomStringConvertible {
    public let file: String
    /// 1-based line, when known.
    public let line: Int?
    public let column: Int?
    /// The key path, e.g. `sources[1].decoder.values[0].unit`.
    public let key: String
    public let problem: String

    public init(file: String, line: Int?, column: Int?, key: String, problem: String) {
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.problem = problem
    }

    public var description: String {
        var place = file
        if let line { place += ":\(line)" + (column.map { ":\($0)" } ?? "") }
        return key.isEmpty ? "\(place): \(problem)" : "\(place): \(key): \(problem)"
    }
}

/// Everything wrong with a configuration, all at once, so one `check-config` run shows every fix needed.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let issues: [ConfigurationIssue]

    public init(_ issues: [ConfigurationIssue]) { self.issues = issues }

    public var description: String { issues.map(\.description).joined(separator: "\n") }
}
