/// The bounded buffer between the network thread (producer) and one subscription's consumer.
///
/// The producer never waits on Swift concurrency: it either blocks its own thread until there is
/// room (`suspendNetwork`) or drops the message and counts it (`dropNewest`). The buffer never
/// holds more than its capacity.
final class MessageBuffer: @unchecked Sendable {
    let capacity: Int
    let policy: MQTTConfiguration.OverflowPolicy

    private let condition = ConditionVariable()
    private var items: [MQTTMessage] = []
    private var head = 0
    private var waiter: CheckedContinuation<MQTTMessage?, Never>?
    private var finished = false
    private var droppedCount = 0
    private var deliveredCount = 0

    init(capacity: Int, policy: MQTTConfiguration.OverflowPolicy) {
        self.capacity = max(1, capacity)
        self.policy = policy
    }

    /// Messages dropped because the buffer was full (`dropNewest` only).
    var dropped: Int { condition.locked { droppedCount } }
    /// Messages handed to the consumer or buffered.
    var delivered: Int { condition.locked { deliveredCount } }
    /// Messages waiting in the buffer.
    var count: Int { condition.locked { items.count - head } }

    /// Offers a message (network thread). Returns false when it was dropped or the buffer finished.
    @discardableResult
    func push(_ message: MQTTMessage) -> Bool {
        var accepted = false
        let resume: CheckedContinuation<MQTTMessage?, Never>? = condition.locked {
            while !finished {
                if let waiter {
                    self.waiter = nil
                    deliveredCount += 1
                    accepted = true
                    return waiter
                }
                if items.count - head < capacity {
                    items.append(message)
                    deliveredCount += 1
                    accepted = true
                    return nil
                }
                if policy == .dropNewest {
                    droppedCount += 1
                    return nil
                }
                condition.wait()
            }
            return nil
        }
        resume?.resume(returning: message)
        return accepted
    }

    /// The next message, or nil once finished and drained (consumer side).
    func next() async -> MQTTMessage? {
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
        if head >= 1024 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        condition.broadcast()
    }

    /// Ends the stream: the consumer drains what is buffered, then gets nil; a blocked producer returns.
    func finish() {
        let waiting: CheckedContinuation<MQTTMessage?, Never>? = condition.locked {
            finished = true
            condition.broadcast()
            defer { waiter = nil }
            return head < items.count ? nil : waiter
        }
        waiting?.resume(returning: nil)
    }
}
