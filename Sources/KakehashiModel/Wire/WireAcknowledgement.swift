/// The hub's confirmation to a gateway, published at QoS 1 on
/// `kakehashi/v1/<tenant>/<gateway>/ack` once a batch is handled for good:
///
/// ```json
/// {"v":1,"ranges":[[41,540]],"outcome":"stored"}
/// ```
///
/// `ranges` are the outbox sequences of the batch (closed ranges, increasing). `stored` means
/// the hub's database holds every reading of them (or already held it: a batch sent again is
/// confirmed again); `dead-letter` means the hub refused the batch and keeps it as a dead letter
/// with the reason. Either way the gateway may forget those readings: only this message, not the
/// broker's PUBACK, lets it delete them from its outbox.
public struct WireAcknowledgement: Sendable, Hashable {
    /// The wire format version this code writes and reads.
    public static let version = 1

    /// What became of the readings.
    public enum Outcome: String, Sendable, Hashable {
        /// In the hub's database.
        case stored
        /// Refused by the hub and kept there as a dead letter.
        case deadLetter = "dead-letter"
    }

    /// The confirmed sequence ranges, increasing and disjoint.
    public let ranges: [ClosedRange<UInt64>]
    /// What became of them.
    public let outcome: Outcome

    /// Creates a confirmation.
    public init(ranges: [ClosedRange<UInt64>], outcome: Outcome) {
        self.ranges = ranges
        self.outcome = outcome
    }

    /// The topic the hub confirms `gateway`'s batches on.
    public static func topic(tenant: Tenant, gateway: GatewayID) -> String {
        WireTopic(tenant: tenant, gateway: gateway, kind: .acknowledgements).name
    }

    /// The MQTT payload: compact UTF-8 JSON.
    public func payload() -> [UInt8] {
        JSONValue.object([
            "v": .number(Double(Self.version)),
            "ranges": .array(ranges.map { .array([.number(Double($0.lowerBound)), .number(Double($0.upperBound))]) }),
            "outcome": .string(outcome.rawValue),
        ]).serialized()
    }

    /// Decodes a payload; errors name the field.
    public init(payload: some Collection<UInt8>) throws(ModelError) {
        let json = try JSONValue(parsing: payload)
        guard case .object(let members) = json else {
            throw ModelError(field: "", .wrongType(expected: "a JSON object (a wire acknowledgement), not \(json.typeName)"))
        }
        guard case .number(let version)? = members["v"], version == Double(Self.version) else {
            throw ModelError(
                field: "v",
                .invalid("unsupported acknowledgement version \(members["v"]?.jsonText ?? "(none)") (this code reads \(Self.version))")
            )
        }
        guard case .array(let list)? = members["ranges"] else {
            throw ModelError(field: "ranges", members["ranges"] == nil ? .missing : .wrongType(expected: "an array of [first, last]"))
        }
        var ranges = [ClosedRange<UInt64>]()
        for (i, element) in list.enumerated() {
            guard case .array(let pair) = element, pair.count == 2,
                let low = Self.sequence(pair[0]), let high = Self.sequence(pair[1]), low <= high
            else {
                throw ModelError(
                    field: "ranges[\(i)]",
                    .invalid("\(element.jsonText) is not [first, last] with 1 ≤ first ≤ last ≤ \(WireBatch.maxSequence)")
                )
            }
            ranges.append(low...high)
        }
        guard case .string(let name)? = members["outcome"], let outcome = Outcome(rawValue: name) else {
            throw ModelError(field: "outcome", .invalid("\(members["outcome"]?.jsonText ?? "(none)") is not \"stored\" or \"dead-letter\""))
        }
        self.init(ranges: ranges, outcome: outcome)
    }

    private static func sequence(_ value: JSONValue) -> UInt64? {
        guard case .number(let number) = value, number == number.rounded(), number >= 1, number <= Double(WireBatch.maxSequence) else { return nil }
        return UInt64(number)
    }

    /// The sequences of a batch payload the hub could not read as a batch, when its entries still
    /// say them (`entities[].seq`): a refused batch is confirmed as a dead letter so the gateway
    /// stops sending it. Nil when the payload is not JSON or names no sequence.
    public static func sequences(ofUnreadableBatch payload: some Collection<UInt8>) -> ClosedRange<UInt64>? {
        guard let json = try? JSONValue(parsing: payload), let entries = json["entities"]?.arrayValue else { return nil }
        let numbers = entries.compactMap { $0["seq"].flatMap(sequence) }
        guard let low = numbers.min(), let high = numbers.max() else { return nil }
        return low...high
    }
}
