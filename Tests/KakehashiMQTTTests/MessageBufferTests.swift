import Foundation
import Testing

@testable import KakehashiMQTT

#if canImport(Glibc)
import Glibc
#endif

struct MessageBufferTests {
    static func message(_ i: Int) -> MQTTMessage {
        MQTTMessage(topic: "t/\(i)", payload: Array(String(i).utf8), qos: .atLeastOnce, retain: false)
    }

    @Test func dropNewestCountsAndKeepsTheOldest() async {
        let buffer = MessageBuffer(capacity: 3, policy: .dropNewest)
        for i in 0..<10 { buffer.push(Self.message(i)) }
        #expect(buffer.dropped == 7)
        #expect(buffer.count == 3)
        var topics = [String]()
        for _ in 0..<3 { topics.append(await buffer.next()?.topic ?? "") }
        #expect(topics == ["t/0", "t/1", "t/2"])
    }

    @Test func suspendBlocksTheProducerUntilTheConsumerMakesRoom() async throws {
        let buffer = MessageBuffer(capacity: 2, policy: .suspendNetwork)
        let produced = ProducerThread(buffer: buffer, count: 5)
        produced.start()
        // The producer fills the buffer and must then wait: never more than the capacity held.
        try await waitUntil { buffer.count == 2 && produced.pushed == 2 }
        #expect(produced.pushed == 2 && buffer.count == 2, "blocked at capacity")
        var received = [String]()
        for _ in 0..<5 { received.append(await buffer.next()?.topic ?? "") }
        #expect(received == (0..<5).map { "t/\($0)" })
        try await waitUntil { produced.pushed == 5 }
        #expect(buffer.dropped == 0)
    }

    @Test func finishUnblocksProducerAndEndsConsumer() async throws {
        let buffer = MessageBuffer(capacity: 1, policy: .suspendNetwork)
        let produced = ProducerThread(buffer: buffer, count: 3)
        produced.start()
        try await waitUntil { produced.pushed == 1 }
        buffer.finish()
        try await waitUntil { produced.done }
        #expect(await buffer.next()?.topic == "t/0", "what was buffered is still delivered")
        #expect(await buffer.next() == nil)
    }

    /// The network thread's bursts: a waiting consumer is woken once at the end of a burst, gets
    /// every message in order, and is woken at once when the buffer fills (no deadlock).
    @Test func deferredWakesDeliverABurstInOrder() async throws {
        let buffer = MessageBuffer(capacity: 3, policy: .suspendNetwork)
        let consumer = Task { () -> [String] in
            var topics = [String]()
            while let message = await buffer.next() { topics.append(message.topic) }
            return topics
        }
        try await waitUntil { buffer.hasWaiter }
        // Two deferred pushes: the consumer stays asleep, both are buffered.
        buffer.push(Self.message(0), deferWake: true)
        buffer.push(Self.message(1), deferWake: true)
        #expect(buffer.count == 2 && buffer.hasWaiter)
        buffer.wakeConsumer()
        try await waitUntil { buffer.count == 0 && buffer.hasWaiter }
        // A burst larger than the buffer, from a thread, while the consumer waits: it is handed
        // the oldest whenever the buffer is full.
        let producer = Thread {
            for i in 2..<40 { buffer.push(Self.message(i), deferWake: true) }
            buffer.wakeConsumer()
            buffer.finish()
        }
        producer.start()
        #expect(await consumer.value == (0..<40).map { "t/\($0)" })
    }

    /// Finishing while messages wait for a deferred wake delivers them before the end.
    @Test func finishDeliversDeferredMessages() async throws {
        let buffer = MessageBuffer(capacity: 8, policy: .suspendNetwork)
        let consumer = Task { () -> [String] in
            var topics = [String]()
            while let message = await buffer.next() { topics.append(message.topic) }
            return topics
        }
        try await waitUntil { buffer.hasWaiter }
        buffer.push(Self.message(0), deferWake: true)
        buffer.push(Self.message(1), deferWake: true)
        buffer.finish()
        #expect(await consumer.value == ["t/0", "t/1"])
    }

    /// Hand-off mode never defers: the consumer must release each message before the next.
    @Test func handOffIgnoresDeferral() async throws {
        let buffer = MessageBuffer(capacity: 8, policy: .suspendNetwork, handOff: true)
        let waiting = Task { await buffer.next()?.topic }
        try await waitUntil { buffer.hasWaiter }
        let producer = Thread { buffer.push(Self.message(0), deferWake: true) }
        producer.start()
        #expect(await waiting.value == "t/0")
        buffer.finish()
    }

    @Test func cancellingTheConsumerReturnsNil() async {
        let buffer = MessageBuffer(capacity: 1, policy: .suspendNetwork)
        let task = Task { await buffer.next() }
        task.cancel()
        #expect(await task.value == nil)
    }
}

/// Pushes `count` messages from a plain thread, as the network thread does.
final class ProducerThread: @unchecked Sendable {
    let buffer: MessageBuffer
    let count: Int
    private let lock = NSLockLike()
    private var _pushed = 0
    private var _done = false

    init(buffer: MessageBuffer, count: Int) {
        self.buffer = buffer
        self.count = count
    }

    var pushed: Int { lock.with { _pushed } }
    var done: Bool { lock.with { _done } }

    func start() {
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        pthread_create(
            &thread,
            nil,
            { context in
                let producer = Unmanaged<ProducerThread>.fromOpaque(context!).takeRetainedValue()
                for i in 0..<producer.count {
                    guard producer.buffer.push(MessageBufferTests.message(i)) else { break }
                    producer.lock.with { producer._pushed += 1 }
                }
                producer.lock.with { producer._done = true }
                return nil
            },
            context
        )
        pthread_detach(thread)
    }
}

/// A tiny pthread mutex for test bookkeeping.
final class NSLockLike: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    func with<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}

/// Waits until `condition` holds, polling, failing after `timeout` (never sooner than 120 s: the
/// deadline bounds a failure on a loaded machine, it does not measure speed).
func waitUntil(timeout: Duration = .seconds(120), _ condition: @Sendable () -> Bool) async throws {
    let deadline = ContinuousClock.now + max(timeout, .seconds(120))
    while !condition() {
        guard ContinuousClock.now < deadline else { throw WaitTimeout() }
        try await Task.sleep(for: .milliseconds(5))
    }
}

struct WaitTimeout: Error, CustomStringConvertible {
    var description: String { "condition not met before the deadline" }
}
