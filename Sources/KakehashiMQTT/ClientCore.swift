import CMosquitto
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The client's machinery: the libmosquitto handle, the network thread that runs the connection
/// state machine, and the bookkeeping shared with callers (guarded by one mutex).
///
/// Threads: the network thread runs `mosquitto_loop` and every libmosquitto callback; callers
/// (Swift tasks) only queue work (`mosquitto_publish`, which libmosquitto makes thread-safe once
/// `mosquitto_threaded_set` is on, and subscription commands taken by the network thread).
final class ClientCore: @unchecked Sendable {
    let configuration: MQTTConfiguration
    let logger: Logger
    private(set) var handle: MosquittoHandle!

    /// State shared between callers and the network thread.
    struct Shared {
        var state: ConnectionStateMachine.State = .idle
        var connectWaiters: [CheckedContinuation<Void, any Error>] = []
        var pendingAcks: [UInt16: CheckedContinuation<Void, any Error>] = [:]
        var earlyAcks: [UInt16: Int32] = [:]
        /// QoS 0 publishes queued in libmosquitto: their window permit is returned once written.
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
    /// Wakes the network thread from a retry wait when the client stops.
    private let wake = ConditionVariable()

    // Touched only on the network thread.
    private var machine: ConnectionStateMachine
    private var subackTargets: [UInt16: [MQTTSubscription]] = [:]
    private var connackDeadline: UInt64 = 0
    private var retryDeadline: UInt64 = 0

    init(configuration: MQTTConfiguration, logger: Logger) throws(MQTTError) {
        self.configuration = configuration
        self.logger = logger
        self.shared = Mutex(Shared(permits: max(1, min(65535, configuration.inflightWindow))))
        self.machine = ConnectionStateMachine(backoff: configuration.reconnect)
        self.handle = try MosquittoHandle(configuration: configuration, userData: Unmanaged.passUnretained(self).toOpaque())
        installCallbacks(on: handle.pointer)
    }

    var broker: String { configuration.brokerAddress }

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
        let rc = pthread_create(&thread, nil, { context in
            let core = Unmanaged<ClientCore>.fromOpaque(context!).takeRetainedValue()
            core.runNetworkLoop()
            return nil
        }, context)
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
                let rc = mosquitto_loop(handle.pointer, 100, 1)
                if rc != MOSQ_ERR_SUCCESS.rawValue {
                    forgetUnwrittenQoS0()
                    perform(machine.handle(.connectionLost(handle.error(rc, "connection"))))
                } else if case .awaitingConnack = machine.state, ConditionVariable.monotonicNanoseconds() > connackDeadline {
                    mosquitto_disconnect(handle.pointer)
                    perform(machine.handle(.connectionLost(MQTTError(
                        .protocolError, operation: "connect", broker: broker, detail: "no CONNACK within \(connackTimeoutSeconds) s"))))
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

    private var connackTimeoutSeconds: Int { max(10, configuration.keepAlive) }

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
                shared.withLock { $0.statistics.connectionFailures += 1 }
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
                handle.pointer, configuration.host, Int32(configuration.port), Int32(configuration.keepAlive), nil, properties)
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
            }
            return (shared.connectWaiters, Array(shared.pendingAcks.values), Array(shared.subscribeWaiters.values), shared.subscriptions)
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
        let (waiter, permit) = shared.withLock { shared -> (CheckedContinuation<Void, any Error>?, CheckedContinuation<Void, Never>??) in
            if let waiter = shared.pendingAcks.removeValue(forKey: key) {
                if reasonCode < 0x80 { shared.statistics.messagesPublished += 1 }
                return (waiter, nil)
            }
            if shared.unwrittenQoS0.remove(key) != nil {
                shared.statistics.messagesPublished += 1
                return (nil, .some(Self.returnPermit(&shared)))
            }
            shared.earlyAcks[key] = reasonCode
            return (nil, nil)
        }
        if case .some(let next?) = permit { next.resume() }
        guard let waiter else { return }
        if reasonCode >= 0x80 {
            waiter.resume(throwing: MQTTError(.publishRejected(reasonCode: reasonCode), operation: "publish", broker: broker,
                                              code: reasonCode, detail: String(cString: mosquitto_reason_string(reasonCode))))
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
                waiter?.resume(throwing: MQTTError(.subscriptionRefused, operation: "subscribe to \(subscription.filter)", broker: broker,
                                                   code: grantedQoS.first ?? 0x80, detail: "granted QoS 0x80"))
            } else {
                waiter?.resume()
            }
        }
    }

    func handleMessage(_ message: MQTTMessage) {
        let matching = shared.withLock { shared -> [MQTTSubscription] in
            shared.statistics.messagesReceived += 1
            return shared.subscriptions.filter { Self.matches(filter: $0.filter, topic: message.topic) }
        }
        for subscription in matching { subscription.buffer.push(message) }
    }

    static func matches(filter: String, topic: String) -> Bool {
        var result = false
        return mosquitto_topic_matches_sub(filter, topic, &result) == MOSQ_ERR_SUCCESS.rawValue && result
    }
}
