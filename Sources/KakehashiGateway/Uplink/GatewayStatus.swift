import KakehashiModel

/// The retained status message on `kakehashi/v1/<tenant>/<gateway>/status`.
public struct GatewayStatus: Sendable, Hashable {
    public enum State: String, Sendable, Hashable {
        case online, offline
    }

    public var state: State
    public var version: String
    public var outboxDepth: Int
    /// Readings dropped by the quota, by priority, since the outbox was created.
    public var dropped: [Int: Int64]
    public var lastError: String?
    public var time: Timestamp
    /// Each source's state (and the uplink's): up, or down since when and why.
    public var sources: [String: SourceHealth.Entry]

    public init(
        state: State,
        version: String,
        outboxDepth: Int = 0,
        dropped: [Int: Int64] = [:],
        lastError: String? = nil,
        sources: [String: SourceHealth.Entry] = [:],
        time: Timestamp
    ) {
        self.sources = sources
        self.state = state
        self.version = version
        self.outboxDepth = outboxDepth
        self.dropped = dropped
        self.lastError = lastError
        self.time = time
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "state": .string(state.rawValue), "version": .string(version), "outboxDepth": .number(Double(outboxDepth)),
            "dropped": .object(Dictionary(uniqueKeysWithValues: dropped.map { ("\($0.key)", JSONValue.number(Double($0.value))) })),
            "time": .string(time.iso8601),
        ]
        if let lastError { members["lastError"] = .string(String(lastError.prefix(500))) }
        if !sources.isEmpty {
            members["sources"] = .object(
                sources.mapValues { entry in
                    var source: [String: JSONValue] = ["state": .string(entry.state.rawValue), "since": .string(entry.since.iso8601)]
                    if let reason = entry.reason { source["reason"] = .string(String(reason.prefix(300))) }
                    return .object(source)
                }
            )
        }
        return .object(members)
    }

    public func payload() -> [UInt8] { json.serialized() }
}
