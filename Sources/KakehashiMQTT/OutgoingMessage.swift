/// A publish waiting for the network thread.
struct OutgoingMessage: Sendable {
    let topic: String
    let payload: [UInt8]
    let qos: MQTTQoS
    let retain: Bool
    let properties: MQTTMessageProperties?
    /// Told of the acknowledgement (QoS 1/2); nil for QoS 0.
    let continuation: PublishCompletion?
}

/// Who waits for a publish's acknowledgement: an awaiting caller, or a callback.
enum PublishCompletion: Sendable {
    case waiting(CheckedContinuation<Void, any Error>)
    case callback(@Sendable (MQTTError?) -> Void)

    func resume() {
        switch self {
        case .waiting(let continuation): continuation.resume()
        case .callback(let callback): callback(nil)
        }
    }

    func resume(throwing error: MQTTError) {
        switch self {
        case .waiting(let continuation): continuation.resume(throwing: error)
        case .callback(let callback): callback(error)
        }
    }
}
