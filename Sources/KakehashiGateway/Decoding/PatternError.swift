/// A topic pattern, field path or timestamp format of a source's configuration that cannot be
/// used, with what is wrong in it, e.g.
/// `'#' must be the last level of flood/#/level`. The configuration loader reports it at the key.
public struct PatternError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
