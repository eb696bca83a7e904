/// Limits applied to every text the model accepts, so one oversized payload cannot bloat storage.
public enum ModelLimits {
    /// The longest entity id accepted (the Smart Data Models identifier limit).
    public static let maxEntityIDLength = 256
    /// The longest free text (names, descriptions) accepted, in characters.
    public static let maxTextLength = 1024
    /// The longest attribute name accepted.
    public static let maxAttributeNameLength = 64
    /// Longest attribute name or entity type given as an IRI (expanded, no context compacts it).
    public static let maxExpandedNameLength = 256
    /// The most entities one wire batch may carry.
    public static let maxBatchEntries = 10_000

    /// Returns `text` when it is within `limit` characters, else throws `.tooLong` for `field`.
    static func checkLength(_ text: String, field: String, limit: Int = maxTextLength) throws(ModelError) -> String {
        // utf8.count bounds the character count from above and is O(1) for native strings.
        if text.utf8.count > limit {
            let count = text.count
            if count > limit { throw ModelError(field: field, .tooLong(length: count, limit: limit)) }
        }
        return text
    }

    /// Returns `value` when it is finite, else throws `.notFinite` for `field`.
    static func checkFinite(_ value: Double, field: String) throws(ModelError) -> Double {
        guard value.isFinite else { throw ModelError(field: field, .notFinite) }
        return value
    }
}
