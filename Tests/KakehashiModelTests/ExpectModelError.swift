import Testing

@testable import KakehashiModel

/// Expects `body` to throw a ``ModelError`` whose message contains `why` and, when given, whose
/// field is `field` (or, with `messagePrefix`, whose whole message starts with it).
func expectModelError(
    field: String? = nil,
    messagePrefix: String? = nil,
    containing why: String,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected a ModelError containing \"\(why)\", nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as ModelError {
        let message = error.description
        if let field, error.field != field {
            Issue.record("field \"\(error.field)\" is not \"\(field)\": \(message)", sourceLocation: sourceLocation)
        }
        if let messagePrefix, !message.hasPrefix(messagePrefix) {
            Issue.record("\"\(message)\" does not start with \"\(messagePrefix)\"", sourceLocation: sourceLocation)
        }
        if !why.isEmpty, !message.contains(why) {
            Issue.record("\"\(message)\" does not contain \"\(why)\"", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected a ModelError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
}
