/// A request parameter that cannot be honoured: which one and why. The HTTP layer answers it as
/// a ProblemDetails `BadRequestData`.
public struct QueryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The parameter, e.g. `q` or `timeAt`.
    public let parameter: String
    /// What is wrong with it.
    public let problem: String

    /// Creates an error.
    public init(_ parameter: String, _ problem: String) {
        self.parameter = parameter
        self.problem = problem
    }

    public var description: String { "\(parameter): \(problem)" }
}
