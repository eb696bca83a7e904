/// A publish waiting for the network thread.
struct OutgoingMessage: Sendable {
    let topic: String
    let payload: [UInt8]
    let qos: MQTTQoS
    let retain: Bool
    let properties: MQTTMessageProperties?
    /// Resumed by the acknowledgement (QoS 1/2); nil for QoS 0.
    let continuation: CheckedContinuation<Void, any Error>?
}
