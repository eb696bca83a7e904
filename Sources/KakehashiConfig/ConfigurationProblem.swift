/// Why one configuration value is wrong, before its place in the file is known.
public struct ConfigurationProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
