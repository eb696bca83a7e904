import CMosquitto
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The client's machinery: the libmosquitto handle, the network thread that runs the connection
/// state machine, and the bookkeeping shared with callers (guarded by one mutex).
///
/// Threads: only the network thread calls libmosquitto. It polls the broker socket and an pipe;
/// callers (Swift tasks) put publishes and subscriptions in queues and write to the pipe when a
/// queue becomes non-empty. The thread drains whole queues at once, so a burst of publishes costs
/// one wakeup, and libmosquitto writes each packet directly (it is not in threaded mode).
final class ClientCore: @unchecked Sendable {
    let configuration: MQTTConfiguration
    let logger: Logger
    private(set) var handle: MosquittoHandle!

    /// State shared between callers and the network thread.
    struct Shared {
        var state: ConnectionStateMachine.State = .idle
        /// The last connection problem, until the next connection.
        var lastError: MQTTError?
        var connectWaiters: [CheckedContinuation<Void, any Error>] = []
        /// Publishes waiting for the network thread.
        var outbox: [OutgoingMessage] = []
        /// Whether the wake pipe was written and not yet drained.
        var wakePending = false
        var pendingAcks: [UInt16: PublishCompletion] = [:]
        /// QoS 0 publishes handed to libmosquitto: their window permit returns once written.
        var unwrittenQoS0: Set<UInt16> = []
        var subscriptions: [MQTTSubscription] = []
        var subscribeQueue: [MQTTSubscription] = []
        var subscribeWaiters: [ObjectIdentifier: CheckedContinuation<Void, any Error>] = [:]
        var permits: Int
        var permitWaiters: [CheckedContinuation<Void, Never>] = []
        var stopRequested = false
        var threadStarted = false
        var statistics = MQTTStatistics()
    }

    let shared: Mutex<Shared>
    /// Set once the network thread was started (a lock-free check on every publish).
    private let started = Atomic<Bool>(false)
    /// Bumped whenever the subscription list changes, so the network thread can keep its own copy
    /// and take no lock per received message.
    let subscriptionsVersion = Atomic<Int>(0)
    /// Messages received (counted without a lock on the receive path).
    let messagesReceived = Atomic<Int>(0)
    /// Wakes the network thread from a retry wait when the client stops.
    private let wake = ConditionVariable()
    /// A non-blocking pipe that wakes the network thread from `poll` when work is queued:
    /// [read end, write end].
    private let wakePipe: (read: Int32, write: Int32)

    // Touched only on the network thread.
    private var machine: ConnectionStateMachine
    private var subackTargets: [UInt16: [MQTTSubscription]] = [:]
    private var connackDeadline: UInt64 = 0
    /// Set while `mosquitto_publish` runs: libmosquitto may write a QoS 0 message and call
    /// `on_publish` before it returns the message id.
    private var publishingInline = false
    /// Network thread: pushes of the current read burst wake their consumers once, at its end.
    private var deferringWakes = false
    private var writtenInline: Set<UInt16> = []
    private var routing: (version: Int, subscriptions: [MQTTSubscription]) = (-1, [])
    private var retryDeadline: UInt64 = 0

    init(configuration: MQTTConfiguration, logger: Logger) throws(MQTTError) {
        self.configuration = configuration
        self.logger = logger
        self.shared = Mutex(Shared(permits: max(1, min(65535, configuration.inflightWindow))))
        self.machine = ConnectionStateMachine(backoff: configuration.reconnect)
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            throw MQTTError(.library, operation: "create client", broker: configuration.brokerAddress, code: errno, detail: "pipe() failed")
        }
        for fd in ends {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        self.wakePipe = (ends[0], ends[1])
        self.handle = try MosquittoHandle(configuration: configuration, userData: Unmanaged.passUnretained(self).toOpaque())
        installCallbacks(on: handle.pointer)
    }

    deinit {
        close(wakePipe.read)
        close(wakePipe.write)
    }

    var broker: String { configuration.brokerAddress }

    /// Wakes the network thread (from any thread); cheap when a wakeup is already pending.
    func wakeNetworkThread() {
        let signal = shared.withLock { shared -> Bool in
            defer { shared.wakePending = true }
            return !shared.wakePending
        }
        if signal {
            var byte: UInt8 = 1
            _ = write(wakePipe.write, &byte, 1)
        }
    }

    // MARK: - Starting and stopping

    /// Starts the network thread once.
    func startThread() {
        guard !started.load(ordering: .acquiring) else { return }
        let start = shared.withLock { shared -> Bool in
            defer { shared.threadStarted = true }
            return !shared.threadStarted && !shared.stopRequested
        }
        started.store(true, ordering: .releasing)
        guard start else { return }
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread,
            nil,
            { context in
                let core = Unmanaged<ClientCore>.fromOpaque(context!).takeRetainedValue()
                core.runNetworkLoop()
                return nil
            },
            context
        )
        if rc == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<ClientCore>.fromOpaque(context).release()
            fail(MQTTError(.library, operation: "start network thread", broker: broker, code: rc, detail: "pthread_create failed"))
        }
    }

    /// Asks the network thread to disconnect and stop; unblocks everything waiting.
    func requestStop() {
        let subscriptions = shared.withLock { shared -> [MQTTSubscription] in
            shared.stopRequested = true
            return shared.subscriptions
        }
        wake.locked { wake.broadcast() }
        var byte: UInt8 = 1
        _ = write(wakePipe.write, &byte, 1)
        // A producer blocked on a full buffer must return for the thread to see the stop.
        for subscription in subscriptions { subscription.buffer.finish() }
        let threadStarted = shared.withLock { $0.threadStarted }
        if !threadStarted { fail(nil) }
    }

    // MARK: - The network thread

    private func runNetworkLoop() {
        perform(machine.handle(.start))
        while true {
            if shared.withLock({ $0.stopRequested }) {
                perform(machine.handle(.stop))
            }
            switch machine.state {
            case .stopped(let error):
                fail(error)
                return
            case .awaitingConnack, .connected:
                drainSubscribeQueue()
                drainOutbox()
                if let rc = pollOnce(), rc != MOSQ_ERR_SUCCESS.rawValue {
                    forgetUnwrittenQoS0()
                    perform(machine.handle(.connectionLost(handle.error(rc, "connection"))))
                } else if case .awaitingConnack = machine.state, ConditionVariable.monotonicNanoseconds() > connackDeadline {
                    mosquitto_disconnect(handle.pointer)
                    forgetUnwrittenQoS0()
                    perform(
                        machine.handle(
                            .connectionLost(
                                MQTTError(
                                    .protocolError,
                                    operation: "connect",
                                    broker: broker,
                                    detail: "no CONNACK within \(connackTimeoutSeconds) s"
                                )
                            )
                        )
                    )
                }
            case .waitingToRetry:
                wake.locked {
                    while !shared.withLock({ $0.stopRequested }) && ConditionVariable.monotonicNanoseconds() < retryDeadline {
                        wake.wait(untilMonotonicNanoseconds: retryDeadline)
                    }
                }
                if !shared.withLock({ $0.stopRequested }) { perform(machine.handle(.retryTimerFired)) }
            case .idle, .connecting:
                // `.connect` is performed synchronously and moves the machine on; nothing to wait for.
                break
            }
            publishState()
        }
    }

    private var acknowledgeAfterProcessing: Bool { configuration.acknowledgement == .afterProcessing }

    private var connackTimeoutSeconds: Int { max(10, configuration.keepAlive) }

    /// Waits for the socket or the wake pipe (at most 1 s, for keepalive) and lets libmosquitto read,
    /// write and keep alive. Returns a libmosquitto error code, or nil when nothing failed.
    private func pollOnce() -> Int32? {
        let socket = mosquitto_socket(handle.pointer)
        guard socket >= 0 else { return MOSQ_ERR_NO_CONN.rawValue }
        var events = Int16(POLLIN)
        if mosquitto_want_write(handle.pointer) { events |= Int16(POLLOUT) }
        var fds = [pollfd(fd: socket, events: events, revents: 0), pollfd(fd: wakePipe.read, events: Int16(POLLIN), revents: 0)]
        let ready = poll(&fds, 2, 1000)
        if ready < 0 && errno != EINTR { return MOSQ_ERR_ERRNO.rawValue }
        if fds[1].revents & Int16(POLLIN) != 0 {
            var drain = [UInt8](repeating: 0, count: 64)
            while read(wakePipe.read, &drain, drain.count) > 0 {}
            shared.withLock { $0.wakePending = false }
        }
        if fds[0].revents & Int16(POLLIN | POLLERR | POLLHUP) != 0 {
            // libmosquitto reads one packet per call; keep reading while bytes are waiting, so a
            // burst costs one poll instead of one per message.
            var packets = 0
            // Consumers are woken once for the burst, not once per message.
            deferringWakes = true
            defer {
                deferringWakes = false
                for subscription in routing.subscriptions { subscription.buffer.wakeConsumer() }
            }
            repeat {
                let rc = mosquitto_loop_read(handle.pointer, 1)
                if rc != MOSQ_ERR_SUCCESS.rawValue { return rc }
                packets += 1
                // Acknowledging after processing: send the PUBACK the consumer just earned now,
                // not after the next message (which may take as long again).
                if acknowledgeAfterProcessing && mosquitto_want_write(handle.pointer) {
                    let rc = mosquitto_loop_write(handle.pointer, 1)
                    if rc != MOSQ_ERR_SUCCESS.rawValue { return rc }
                }
            } while packets < 1024 && Self.bytesWaiting(socket) > 0
        }
        if mosquitto_want_write(handle.pointer) {
            let rc = mosquitto_loop_write(handle.pointer, 1)
            if rc != MOSQ_ERR_SUCCESS.rawValue { return rc }
        }
        let rc = mosquitto_loop_misc(handle.pointer)
        return rc == MOSQ_ERR_SUCCESS.rawValue ? nil : rc
    }

    /// Bytes readable on `socket` without blocking (0 on error).
    private static func bytesWaiting(_ socket: Int32) -> Int32 {
        var count: Int32 = 0
        return ioctl(socket, UInt(FIONREAD), &count) == 0 ? count : 0
    }

    /// Hands every queued publish to libmosquitto (network thread).
    private func drainOutbox() {
        let batch = shared.withLock { shared -> [OutgoingMessage] in
            defer { shared.outbox.removeAll(keepingCapacity: true) }
            return shared.outbox
        }
        guard !batch.isEmpty else { return }
        var keep = [OutgoingMessage]()
        var resumeAfter = [(PublishCompletion, MQTTError)]()
        var qos0Failures = 0
        var qos0Written = 0
        for (index, message) in batch.enumerated() {
            if !keep.isEmpty || !isConnectedForPublishing(message) {
                keep.append(message)
                continue
            }
            var mid: Int32 = 0
            var list = message.properties.flatMap { configuration.protocolVersion == .v5 ? MQTTPropertyList.make($0) : nil }
            publishingInline = true
            let rc = message.payload.withUnsafeBytes { buffer in
                mosquitto_publish_v5(
                    handle.pointer,
                    &mid,
                    message.topic,
                    Int32(buffer.count),
                    buffer.baseAddress,
                    message.qos.rawValue,
                    message.retain,
                    list
                )
            }
            publishingInline = false
            mosquitto_property_free_all(&list)
            let key = UInt16(truncatingIfNeeded: mid)
            switch (rc, message.qos) {
            case (MOSQ_ERR_SUCCESS.rawValue, .atMostOnce):
                if writtenInline.remove(key) != nil {
                    qos0Written += 1
                } else {
                    shared.withLock { _ = $0.unwrittenQoS0.insert(key) }
                }
            case (MOSQ_ERR_NO_CONN.rawValue, .atMostOnce):
                keep.append(contentsOf: batch[index...])  // not sent: keep order, retry after reconnecting
            case (MOSQ_ERR_SUCCESS.rawValue, _), (MOSQ_ERR_NO_CONN.rawValue, _):
                // QoS 1/2 on NO_CONN: libmosquitto queued it and sends it on reconnection.
                if let continuation = message.continuation { shared.withLock { $0.pendingAcks[key] = continuation } }
            default:
                let error = handle.error(rc, "publish to \(message.topic)")
                if let continuation = message.continuation { resumeAfter.append((continuation, error)) } else { qos0Failures += 1 }
            }
            if rc == MOSQ_ERR_NO_CONN.rawValue && message.qos == .atMostOnce { break }
        }
        var permits = [CheckedContinuation<Void, Never>]()
        shared.withLock { shared in
            if !keep.isEmpty { shared.outbox.insert(contentsOf: keep, at: 0) }
            shared.statistics.messagesPublished += qos0Written
            // A refused QoS 1/2 publish gives its place back through its publisher (resumed below).
            for _ in 0..<(qos0Failures + qos0Written) {
                if let next = Self.returnPermit(&shared) { permits.append(next) }
            }
        }
        for (continuation, error) in resumeAfter { continuation.resume(throwing: error) }
        for permit in permits { permit.resume() }
        if qos0Failures > 0 { logger.error("MQTT dropped \(qos0Failures) QoS 0 messages libmosquitto refused") }
    }

    /// QoS 0 waits for a live connection; QoS 1/2 may be handed over at any time.
    private func isConnectedForPublishing(_ message: OutgoingMessage) -> Bool {
        if message.qos != .atMostOnce { return true }
        if case .connected = machine.state { return true }
        return false
    }

    private func perform(_ actions: [ConnectionStateMachine.Action]) {
        for action in actions {
            switch action {
            case .connect:
                publishState()
                connackDeadline = ConditionVariable.monotonicNanoseconds() + UInt64(connackTimeoutSeconds) * 1_000_000_000
                let rc = connectCall()
                let error = rc == MOSQ_ERR_SUCCESS.rawValue ? nil : handle.error(rc, "connect")
                perform(machine.handle(.connectReturned(error)))
            case .resubscribe:
                let all = shared.withLock { shared -> [MQTTSubscription] in
                    shared.subscribeQueue.removeAll()
                    return shared.subscriptions
                }
                subackTargets.removeAll()
                subscribe(all)
            case .notifyConnected:
                let (waiters, count) = shared.withLock { shared -> ([CheckedContinuation<Void, any Error>], Int) in
                    shared.state = .connected
                    shared.lastError = nil
                    shared.statistics.connections += 1
                    defer { shared.connectWaiters.removeAll() }
                    return (shared.connectWaiters, shared.statistics.connections)
                }
                logger.info("MQTT connected", metadata: ["broker": "\(broker)", "connection": "\(count)"])
                for waiter in waiters { waiter.resume() }
            case .scheduleRetry(let delay):
                let nanoseconds = UInt64(max(0, Backoff.seconds(delay)) * 1e9)
                retryDeadline = ConditionVariable.monotonicNanoseconds() + nanoseconds
                logger.debug("MQTT retrying", metadata: ["broker": "\(broker)", "after_ms": "\(nanoseconds / 1_000_000)"])
            case .fail(let error):
                logger.error("MQTT connection failed for good: \(error)")
                fail(error)
            case .report(let error):
                shared.withLock {
                    $0.statistics.connectionFailures += 1
                    $0.lastError = error
                }
                logger.warning("MQTT connection problem, will retry: \(error)")
            case .disconnect:
                if configuration.protocolVersion == .v5 {
                    mosquitto_disconnect_v5(handle.pointer, 0, nil)
                } else {
                    mosquitto_disconnect(handle.pointer)
                }
                // Let the DISCONNECT leave before the thread ends.
                for _ in 0..<5 where mosquitto_loop(handle.pointer, 20, 1) == MOSQ_ERR_SUCCESS.rawValue {}
            }
        }
    }

    private func connectCall() -> Int32 {
        switch configuration.protocolVersion {
        case .v311:
            return mosquitto_connect_bind(handle.pointer, configuration.host, Int32(configuration.port), Int32(configuration.keepAlive), nil)
        case .v5:
            var properties: OpaquePointer?
            defer { mosquitto_property_free_all(&properties) }
            if configuration.session == .persistent {
                mosquitto_property_add_int32(&properties, Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue), configuration.sessionExpiry)
            }
            return mosquitto_connect_bind_v5(
                handle.pointer,
                configuration.host,
                Int32(configuration.port),
                Int32(configuration.keepAlive),
                nil,
                properties
            )
        }
    }

    private func publishState() {
        let state = machine.state
        shared.withLock { $0.state = state }
    }

    /// Fails everyone waiting (stop or a permanent failure) and ends every subscription.
    func fail(_ error: MQTTError?) {
        let stopped = error ?? MQTTError(.stopped, operation: "operation", broker: broker, detail: "stopped")
        let (connect, acks, subscribes, subscriptions) = shared.withLock { shared in
            shared.stopRequested = true
            if case .stopped = shared.state {} else { shared.state = .stopped(error) }
            defer {
                shared.connectWaiters.removeAll()
                shared.pendingAcks.removeAll()
                shared.subscribeWaiters.removeAll()
                shared.outbox.removeAll()
            }
            let queued = shared.outbox.compactMap(\.continuation)
            return (shared.connectWaiters, Array(shared.pendingAcks.values) + queued, Array(shared.subscribeWaiters.values), shared.subscriptions)
        }
        for waiter in connect { waiter.resume(throwing: stopped) }
        for waiter in acks { waiter.resume(throwing: stopped) }
        for waiter in subscribes { waiter.resume(throwing: stopped) }
        for subscription in subscriptions { subscription.buffer.finish() }
    }

    // MARK: - Subscriptions (network thread)

    private func drainSubscribeQueue() {
        guard case .connected = machine.state else { return }
        let queued = shared.withLock { shared -> [MQTTSubscription] in
            defer { shared.subscribeQueue.removeAll() }
            return shared.subscribeQueue
        }
        if !queued.isEmpty { subscribe(queued) }
    }

    private func subscribe(_ subscriptions: [MQTTSubscription]) {
        for subscription in subscriptions {
            var mid: Int32 = 0
            let rc = mosquitto_subscribe_v5(handle.pointer, &mid, subscription.filter, subscription.qos.rawValue, 0, nil)
            if rc == MOSQ_ERR_SUCCESS.rawValue {
                subackTargets[UInt16(truncatingIfNeeded: mid), default: []].append(subscription)
            } else if rc != MOSQ_ERR_NO_CONN.rawValue {
                let error = handle.error(rc, "subscribe to \(subscription.filter)")
                let waiter = shared.withLock { $0.subscribeWaiters.removeValue(forKey: ObjectIdentifier(subscription)) }
                waiter?.resume(throwing: error)
            }
            // On NO_CONN the connection dropped: the next CONNACK resubscribes everything.
        }
    }

    // MARK: - Callbacks (network thread)

    func handleConnack(_ rc: Int32) {
        let refused = rc == 0 ? nil : handle.refusal(rc, version: configuration.protocolVersion)
        perform(machine.handle(.connackReceived(refused: refused)))
        publishState()
    }

    func handlePublishAck(mid: Int32, reasonCode: Int32) {
        let key = UInt16(truncatingIfNeeded: mid)
        if publishingInline {
            // A QoS 0 message written inside mosquitto_publish: drainOutbox settles it.
            writtenInline.insert(key)
            return
        }
        let (waiter, permit) = shared.withLock { shared -> (PublishCompletion?, CheckedContinuation<Void, Never>??) in
            if let waiter = shared.pendingAcks.removeValue(forKey: key) {
                if reasonCode < 0x80 { shared.statistics.messagesPublished += 1 }
                return (waiter, nil)
            }
            if shared.unwrittenQoS0.remove(key) != nil {
                shared.statistics.messagesPublished += 1
                return (nil, .some(Self.returnPermit(&shared)))
            }
            return (nil, nil)
        }
        if case .some(let next?) = permit { next.resume() }
        guard let waiter else { return }
        if reasonCode >= 0x80 {
            waiter.resume(
                throwing: MQTTError(
                    .publishRejected(reasonCode: reasonCode),
                    operation: "publish",
                    broker: broker,
                    code: reasonCode,
                    detail: String(cString: mosquitto_reason_string(reasonCode))
                )
            )
        } else {
            waiter.resume()
        }
    }

    /// Gives a window permit back (mutex held): to the first waiter, or to the pool.
    static func returnPermit(_ shared: inout Shared) -> CheckedContinuation<Void, Never>? {
        if shared.permitWaiters.isEmpty {
            shared.permits += 1
            return nil
        }
        return shared.permitWaiters.removeFirst()
    }

    /// QoS 0 messages not yet written when the connection drops are gone (at most once): return
    /// their permits so the window does not shrink.
    private func forgetUnwrittenQoS0() {
        let waiters = shared.withLock { shared -> [CheckedContinuation<Void, Never>] in
            var waiters = [CheckedContinuation<Void, Never>]()
            for _ in shared.unwrittenQoS0 {
                if let next = Self.returnPermit(&shared) { waiters.append(next) }
            }
            shared.unwrittenQoS0.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func handleSuback(mid: Int32, grantedQoS: [Int32]) {
        guard let targets = subackTargets.removeValue(forKey: UInt16(truncatingIfNeeded: mid)) else { return }
        let refused = grantedQoS.contains { $0 >= 0x80 }
        for subscription in targets {
            let waiter = shared.withLock { shared in
                if !refused { shared.statistics.subscriptionsGranted += 1 }
                return shared.subscribeWaiters.removeValue(forKey: ObjectIdentifier(subscription))
            }
            if refused {
                logger.error("MQTT subscription to \(subscription.filter) refused by \(broker)")
                waiter?.resume(
                    throwing: MQTTError(
                        .subscriptionRefused,
                        operation: "subscribe to \(subscription.filter)",
                        broker: broker,
                        code: grantedQoS.first ?? 0x80,
                        detail: "granted QoS 0x80"
                    )
                )
            } else {
                waiter?.resume()
            }
        }
    }

    func handleMessage(_ message: MQTTMessage) {
        messagesReceived.add(1, ordering: .relaxed)
        let version = subscriptionsVersion.load(ordering: .acquiring)
        if version != routing.version {
            routing = (version, shared.withLock { $0.subscriptions })
        }
        for subscription in routing.subscriptions where Self.matches(filter: subscription.filter, topic: message.topic) {
            let handled = subscription.buffer.push(message, deferWake: deferringWakes)
            if acknowledgeAfterProcessing && !handled {
                // The consumer stopped before it was done with this message: its PUBACK is
                // already queued, so drop the connection before libmosquitto can write it. The
                // broker delivers the message again on the next session.
                _ = shutdown(mosquitto_socket(handle.pointer), Int32(SHUT_RDWR))
            }
        }
    }

    static func matches(filter: String, topic: String) -> Bool {
        var filter = filter[...]
        // A shared subscription, `$share/<group>/<filter>`, receives topics matching <filter>.
        if filter.hasPrefix("$share/"), let slash = filter.dropFirst(7).firstIndex(of: "/") {
            filter = filter[filter.index(after: slash)...]
        }
        var result = false
        return mosquitto_topic_matches_sub(String(filter), topic, &result) == MOSQ_ERR_SUCCESS.rawValue && result
    }
}
