/// A problem in a recorded trace file, located by file, line and column.
public struct TraceError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file (as named by the caller).
    public let file: String
    /// The 1-based line, 0 when the whole file is concerned.
    public let line: Int
    /// The column (header name), when one is concerned.
    public let column: String?
    /// What is wrong.
    public let reason: String

    /// Creates an error.
    public init(file: String, line: Int, column: String? = nil, reason: String) {
        self.file = file
        self.line = line
        self.column = column
        self.reason = reason
    }

    public var description: String {
        var place = file
        if line > 0 { place += ":\(line)" }
        if let column { place += " (\(column))" }
        return "\(place): \(reason)"
    }
}
