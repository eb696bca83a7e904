/// MQTT quality of service.
public enum MQTTQoS: Int32, Sendable, Hashable, CaseIterable, Comparable, CustomStringConvertible {
    /// At most once: fire and forget.
    case atMostOnce = 0
    /// At least once: acknowledged (PUBACK); duplicates possible.
    case atLeastOnce = 1
    /// Exactly once: four-way handshake (PUBREC/PUBREL/PUBCOMP).
    case exactlyOnce = 2

    public static func < (lhs: MQTTQoS, rhs: MQTTQoS) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "QoS \(rawValue)" }
}

/// The MQTT protocol version spoken to the broker.
public enum MQTTProtocolVersion: Sendable, Hashable {
    /// MQTT 3.1.1.
    case v311
    /// MQTT 5.
    case v5
}
