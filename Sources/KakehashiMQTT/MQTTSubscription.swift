/// The messages of one subscription, as an `AsyncSequence` with a bounded buffer.
///
/// ```swift
/// let levels = try await client.subscribe("flood/+/level", qos: .atLeastOnce)
/// for await message in levels { … }
/// ```
///
/// One consumer per subscription. When the consumer is slower than the broker, the client's
/// ``MQTTConfiguration/OverflowPolicy`` applies: the network waits, or the newest messages are
/// dropped and counted in ``dropped``. The sequence ends when the client stops or the
/// subscription is cancelled.
public final class MQTTSubscription: AsyncSequence, Sendable {
    public typealias Element = MQTTMessage

    /// The topic filter, with `+` and `#` wildcards.
    public let filter: String
    /// The QoS asked for.
    public let qos: MQTTQoS
    let buffer: MessageBuffer

    init(filter: String, qos: MQTTQoS, capacity: Int, policy: MQTTConfiguration.OverflowPolicy, handOff: Bool = false) {
        self.filter = filter
        self.qos = qos
        self.buffer = MessageBuffer(capacity: handOff ? 1 : capacity, policy: handOff ? .suspendNetwork : policy, handOff: handOff)
    }

    /// Messages dropped because the consumer fell behind (only with `dropNewest`).
    public var dropped: Int { buffer.dropped }
    /// Messages received for this subscription so far.
    public var received: Int { buffer.delivered }

    /// Ends the sequence; messages matching the filter are no longer buffered for it.
    public func cancel() { buffer.finish() }

    /// Iterates the subscription's messages (one iterator per subscription).
    public struct AsyncIterator: AsyncIteratorProtocol {
        let buffer: MessageBuffer
        public mutating func next() async -> MQTTMessage? { await buffer.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: buffer) }
}
