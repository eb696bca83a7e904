/// The bounded buffer between the network thread (producer) and one subscription's consumer.
///
/// The producer never waits on Swift concurrency: it either blocks its own thread until there is
/// room (`suspendNetwork`) or drops the message and counts it (`dropNewest`). The buffer never
/// holds more than its capacity.
///
/// In hand-off mode (acknowledge after processing) the producer also waits, after the consumer
/// took its message, until the consumer asks for the next one: only then does the network thread
/// return to libmosquitto, which sends the acknowledgement.
final class MessageBuffer: @unchecked Sendable {
    let capacity: Int
    let policy: MQTTConfiguration.OverflowPolicy
    let handOff: Bool
    /// Hand-off mode: messages taken by the consumer and not yet released by its next `next()`.
    private var taken = 0
    /// Hand-off mode: messages pushed so far and released so far, to know when "mine" is done.
    private var pushedCount = 0
    private var releasedCount = 0

    private let condition = ConditionVariable()
    private var items: [MQTTMessage] = []
    private var head = 0
    private var waiter: CheckedContinuation<MQTTMessage?, Never>?
    private var finished = false
    private var droppedCount = 0
    private var deliveredCount = 0

    init(capacity: Int, policy: MQTTConfiguration.OverflowPolicy, handOff: Bool = false) {
        self.capacity = max(1, capacity)
        self.policy = policy
        self.handOff = handOff
    }

    /// Messages dropped because the buffer was full (`dropNewest` only).
    var dropped: Int { condition.locked { droppedCount } }
    /// Messages handed to the consumer or buffered.
    var delivered: Int { condition.locked { deliveredCount } }
    /// Messages waiting in the buffer.
    var count: Int { condition.locked { items.count - head } }
    /// Whether a consumer waits for a message.
    var hasWaiter: Bool { condition.locked { waiter != nil } }

    /// Offers a message (network thread). Returns false when it was dropped or the buffer finished
    /// (in hand-off mode: before the consumer was done with it).
    ///
    /// With `deferWake` (not in hand-off mode) a consumer waiting for a message is not woken for
    /// this one: the network thread wakes it once per burst of reads (``wakeConsumer()``), so a
    /// burst costs one wake-up instead of one per message. A full buffer wakes it at once.
    @discardableResult
    func push(_ message: MQTTMessage, deferWake: Bool = false) -> Bool {
        let deferring = deferWake && !handOff
        var accepted = false
        while true {
            var wake: (CheckedContinuation<MQTTMessage?, Never>, MQTTMessage)?
            let done: Bool = condition.locked {
                if finished { return true }
                if let waiter, !deferring {
                    self.waiter = nil
                    deliveredCount += 1
                    if handOff { taken += 1 }
                    accepted = true
                    wake = (waiter, message)
                    return true
                }
                if items.count - head < capacity {
                    items.append(message)
                    deliveredCount += 1
                    accepted = true
                    return true
                }
                if let waiter {
                    // Full while the consumer waits for a deferred wake: hand it the oldest now.
                    self.waiter = nil
                    let first = items[head]
                    advance()
                    wake = (waiter, first)
                    return false
                }
                if policy == .dropNewest {
                    droppedCount += 1
                    return true
                }
                condition.wait()
                return false
            }
            if let (continuation, delivered) = wake { continuation.resume(returning: delivered) }
            if done { break }
        }
        if handOff && accepted { return waitUntilReleased() }
        return accepted
    }

    /// Wakes a consumer waiting while messages are buffered (after a burst of deferred pushes).
    func wakeConsumer() {
        let wake: (CheckedContinuation<MQTTMessage?, Never>, MQTTMessage)? = condition.locked {
            guard let waiter, head < items.count else { return nil }
            self.waiter = nil
            let first = items[head]
            advance()
            return (waiter, first)
        }
        if let (continuation, message) = wake { continuation.resume(returning: message) }
    }

    /// Hand-off mode: blocks the producer until the consumer released every message pushed so far
    /// (it asked for the next one) or the buffer finished. Returns whether the consumer released
    /// it (false: finished first, the message was not processed and must not be acknowledged).
    private func waitUntilReleased() -> Bool {
        condition.locked {
            pushedCount += 1
            let mine = pushedCount
            while !finished && releasedCount < mine { condition.wait() }
            return releasedCount >= mine
        }
    }

    /// Hand-off mode: the consumer is done with what it took (called as it asks for the next one).
    private func releaseTaken() {
        guard handOff else { return }
        condition.locked {
            if taken > 0 {
                releasedCount += taken
                taken = 0
                condition.broadcast()
            }
        }
    }

    /// The next message, or nil once finished and drained (consumer side).
    func next() async -> MQTTMessage? {
        releaseTaken()
        if let ready = takeReady() { return ready }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<MQTTMessage?, Never>) in
                let immediate: MQTTMessage?? = condition.locked {
                    if head < items.count {
                        let message = items[head]
                        advance()
                        return .some(message)
                    }
                    if finished || Task.isCancelled { return .some(nil) }
                    waiter = continuation
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiting: CheckedContinuation<MQTTMessage?, Never>? = condition.locked {
                defer { waiter = nil }
                return waiter
            }
            waiting?.resume(returning: nil)
        }
    }

    /// A buffered message, `.some(nil)` when finished and drained, `nil` when the consumer must wait.
    private func takeReady() -> MQTTMessage?? {
        condition.locked {
            if head < items.count {
                let message = items[head]
                advance()
                return .some(message)
            }
            return finished ? .some(nil) : nil
        }
    }

    /// Removes the head (mutex held) and wakes a producer waiting for room.
    private func advance() {
        head += 1
        if handOff { taken += 1 }
        if head >= 1024 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        condition.broadcast()
    }

    /// Ends the stream: the consumer drains what is buffered, then gets nil; a blocked producer returns.
    func finish() {
        let waiting: (CheckedContinuation<MQTTMessage?, Never>, MQTTMessage?)? = condition.locked {
            finished = true
            condition.broadcast()
            guard let waiter else { return nil }
            self.waiter = nil
            // A consumer waiting on a deferred wake gets what is buffered first.
            if head < items.count {
                let first = items[head]
                advance()
                return (waiter, first)
            }
            return (waiter, nil)
        }
        if let (continuation, message) = waiting { continuation.resume(returning: message) }
    }
}
