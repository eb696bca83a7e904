import CMosquitto
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// An MQTT client over libmosquitto that loses nothing it accepted.
///
/// - `connect()` returns once the broker accepted the connection (`subscribe` and `publish` start
///   the connection too, if needed); afterwards the client
///   reconnects by itself (exponential backoff with jitter) and re-establishes every subscription.
/// - `publish` returns when the broker acknowledged the message (PUBACK for QoS 1, PUBCOMP for
///   QoS 2); a QoS 0 publish returns once queued, and counts against the window until written.
///   QoS 1/2 messages in flight when the connection drops are sent again after reconnecting; at
///   most ``MQTTConfiguration/inflightWindow`` wait at once.
/// - `subscribe` returns when the broker granted the subscription and delivers matching messages
///   through a bounded buffer (see ``MQTTConfiguration/OverflowPolicy``).
///
/// ```swift
/// let client = try MQTTClient(configuration: MQTTConfiguration(host: "127.0.0.1", clientID: "gw-01"))
/// try await client.connect()
/// let levels = try await client.subscribe("flood/+/level", qos: .atLeastOnce)
/// try await client.publish("kakehashi/v1/kurume/gw-01/obs", payload: batch, qos: .atLeastOnce)
/// await client.disconnect()
/// ```
public final class MQTTClient: Sendable {
    let core: ClientCore

    /// Creates a client; nothing touches the network until ``connect()``.
    public init(configuration: MQTTConfiguration, logger: Logger = Logger(label: "kakehashi.mqtt")) throws(MQTTError) {
        core = try ClientCore(configuration: configuration, logger: logger)
    }

    deinit {
        core.requestStop()
    }

    /// The broker, `host:port`.
    public var broker: String { core.broker }

    /// Where the connection stands now.
    public var state: ConnectionStateMachine.State { core.shared.withLock { $0.state } }

    /// The last connection problem since the last connection (nil while connected).
    public var lastError: MQTTError? { core.shared.withLock { $0.lastError } }

    /// Counters since creation.
    public var statistics: MQTTStatistics {
        var statistics = core.shared.withLock { $0.statistics }
        statistics.messagesReceived = core.messagesReceived.load(ordering: .relaxed)
        return statistics
    }

    /// Starts the client and returns once the broker accepted the connection.
    ///
    /// Network failures are retried with backoff (the broker may not be up yet); a refusal that
    /// retrying cannot fix (bad credentials, not authorized, TLS failure) throws and stops the client.
    public func connect() async throws(MQTTError) {
        core.startThread()
        try await waitUntilConnected()
    }

    /// Sends DISCONNECT after waiting up to `drainTimeout` for publishes in flight, then stops.
    /// Subscriptions end; operations still waiting fail with `.stopped`.
    public func disconnect(drainTimeout: Duration = .seconds(5)) async {
        let deadline = ContinuousClock.now + drainTimeout
        while ContinuousClock.now < deadline,
            core.shared.withLock({ (!$0.pendingAcks.isEmpty || !$0.outbox.isEmpty || !$0.unwrittenQoS0.isEmpty) && !$0.stopRequested })
        {
            try? await Task.sleep(for: .milliseconds(5))
        }
        core.requestStop()
        while core.shared.withLock({ shared in
            if case .stopped = shared.state { return false }
            return shared.threadStarted
        }) {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Subscribes to `filter` (with `+` and `#` wildcards) and returns once the broker granted it.
    ///
    /// The subscription survives reconnections: it is renewed after every CONNACK. With a
    /// persistent session, subscribe before `connect()` (several at once from concurrent tasks) so
    /// that messages queued while the client was away are routed to the subscription.
    public func subscribe(_ filter: String, qos: MQTTQoS) async throws(MQTTError) -> MQTTSubscription {
        guard !filter.isEmpty, mosquitto_sub_topic_check(filter) == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError(
                .invalidArgument,
                operation: "subscribe to \(filter)",
                broker: broker,
                detail: "not a valid topic filter (wildcards must fill a whole level; # only last)"
            )
        }
        let subscription = MQTTSubscription(
            filter: filter,
            qos: qos,
            capacity: core.configuration.bufferCapacity,
            policy: core.configuration.overflowPolicy,
            handOff: core.configuration.acknowledgement == .afterProcessing
        )
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let stopped = core.shared.withLock { shared -> Bool in
                    if shared.stopRequested { return true }
                    shared.subscriptions.append(subscription)
                    core.subscriptionsVersion.add(1, ordering: .releasing)
                    shared.subscribeWaiters[ObjectIdentifier(subscription)] = continuation
                    // Connected: the network thread subscribes now; otherwise at the next CONNACK.
                    if case .connected = shared.state { shared.subscribeQueue.append(subscription) }
                    return false
                }
                // The network starts after the subscription is registered, so that messages a
                // persistent session has queued find it when they arrive right after CONNACK.
                if !stopped {
                    core.startThread()
                    core.wakeNetworkThread()
                }
                if stopped { continuation.resume(throwing: stoppedError("subscribe to \(filter)")) }
            }
        } catch {
            core.shared.withLock { $0.subscriptions.removeAll { $0 === subscription } }
            core.subscriptionsVersion.add(1, ordering: .releasing)
            throw error as? MQTTError ?? stoppedError("subscribe to \(filter)")
        }
        return subscription
    }

    /// Registers a subscription and returns it at once, without waiting for the broker's grant
    /// (a refusal is logged). For a consumer that acknowledges after processing on a persistent
    /// session: messages the broker kept arrive right after CONNACK, before the grant, and the
    /// network waits for the consumer, so the consumer must be reading before the grant comes.
    public func subscribeWithoutWaiting(_ filter: String, qos: MQTTQoS) throws(MQTTError) -> MQTTSubscription {
        guard !filter.isEmpty, mosquitto_sub_topic_check(filter) == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError(
                .invalidArgument,
                operation: "subscribe to \(filter)",
                broker: broker,
                detail: "not a valid topic filter (wildcards must fill a whole level; # only last)"
            )
        }
        let subscription = MQTTSubscription(
            filter: filter,
            qos: qos,
            capacity: core.configuration.bufferCapacity,
            policy: core.configuration.overflowPolicy,
            handOff: core.configuration.acknowledgement == .afterProcessing
        )
        let stopped = core.shared.withLock { shared -> Bool in
            if shared.stopRequested { return true }
            shared.subscriptions.append(subscription)
            core.subscriptionsVersion.add(1, ordering: .releasing)
            if case .connected = shared.state { shared.subscribeQueue.append(subscription) }
            return false
        }
        if stopped { throw stoppedError("subscribe to \(filter)") }
        core.startThread()
        core.wakeNetworkThread()
        return subscription
    }

    /// Publishes `payload` on `topic` and returns when the broker acknowledged it (QoS 1/2), or
    /// once queued (QoS 0; it holds a place in the window until written).
    public func publish(
        _ topic: String,
        payload: some Collection<UInt8>,
        qos: MQTTQoS,
        retain: Bool = false,
        properties: MQTTMessageProperties? = nil
    ) async throws(MQTTError) {
        let bytes = Array(payload)
        guard !topic.isEmpty, mosquitto_pub_topic_check(topic) == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError(
                .invalidArgument,
                operation: "publish to \(topic)",
                broker: broker,
                detail: "not a valid topic name (no wildcards, not empty)"
            )
        }
        core.startThread()
        await acquirePermit()
        if qos == .atMostOnce {
            // Nothing to wait for: the permit returns when libmosquitto has written the message,
            // so the window still bounds what is queued.
            let accepted = core.shared.withLock { shared -> Bool in
                guard !shared.stopRequested else { return false }
                shared.outbox.append(
                    OutgoingMessage(topic: topic, payload: bytes, qos: qos, retain: retain, properties: properties, continuation: nil)
                )
                return true
            }
            guard accepted else {
                releasePermit()
                throw stoppedError("publish to \(topic)")
            }
            core.wakeNetworkThread()
            return
        }
        defer { releasePermit() }
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let accepted = core.shared.withLock { shared -> Bool in
                    guard !shared.stopRequested else { return false }
                    shared.outbox.append(
                        OutgoingMessage(
                            topic: topic,
                            payload: bytes,
                            qos: qos,
                            retain: retain,
                            properties: properties,
                            continuation: .waiting(continuation)
                        )
                    )
                    return true
                }
                if accepted { core.wakeNetworkThread() } else { continuation.resume(throwing: stoppedError("publish to \(topic)")) }
            }
        } catch let error as MQTTError {
            // The acknowledgement callback does not know the topic; name it here.
            throw MQTTError(error.kind, operation: "publish to \(topic)", broker: error.broker, code: error.code, detail: error.detail)
        } catch {
            throw stoppedError("publish to \(topic)")
        }
    }

    /// Queues `payload` for `topic` and returns as soon as it holds a place in the in-flight window,
    /// without waiting for the acknowledgement: messages queued one after another by one caller go
    /// out in that order, several in flight at once. `completion` runs once the broker acknowledged
    /// the message (nil) or it failed (the error), on the client's network thread: keep it short.
    /// QoS 0 completes when the message is handed to libmosquitto.
    public func enqueue(
        _ topic: String,
        payload: some Collection<UInt8>,
        qos: MQTTQoS,
        retain: Bool = false,
        completion: @escaping @Sendable (MQTTError?) -> Void
    ) async throws(MQTTError) {
        if qos == .atMostOnce {
            try await publish(topic, payload: payload, qos: qos, retain: retain)
            completion(nil)
            return
        }
        guard !topic.isEmpty, mosquitto_pub_topic_check(topic) == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError(
                .invalidArgument,
                operation: "publish to \(topic)",
                broker: broker,
                detail: "not a valid topic name (no wildcards, not empty)"
            )
        }
        core.startThread()
        await acquirePermit()
        let finish: @Sendable (MQTTError?) -> Void = { [self] error in
            releasePermit()
            completion(error.map { MQTTError($0.kind, operation: "publish to \(topic)", broker: $0.broker, code: $0.code, detail: $0.detail) })
        }
        let bytes = Array(payload)
        let accepted = core.shared.withLock { shared -> Bool in
            guard !shared.stopRequested else { return false }
            shared.outbox.append(
                OutgoingMessage(topic: topic, payload: bytes, qos: qos, retain: retain, properties: nil, continuation: .callback(finish))
            )
            return true
        }
        guard accepted else {
            releasePermit()
            throw stoppedError("publish to \(topic)")
        }
        core.wakeNetworkThread()
    }

    // MARK: - Internals

    private func stoppedError(_ operation: String) -> MQTTError {
        MQTTError(.stopped, operation: operation, broker: broker, detail: "the client was stopped")
    }

    private func waitUntilConnected() async throws(MQTTError) {
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = core.shared.withLock { shared -> Result<Bool, MQTTError> in
                    if case .connected = shared.state { return .success(true) }
                    if case .stopped(let error) = shared.state, shared.threadStarted || error != nil {
                        return .failure(error ?? stoppedError("connect"))
                    }
                    if shared.stopRequested { return .failure(stoppedError("connect")) }
                    shared.connectWaiters.append(continuation)
                    return .success(false)
                }
                switch outcome {
                case .success(true): continuation.resume()
                case .success(false): break
                case .failure(let error): continuation.resume(throwing: error)
                }
            }
        } catch {
            throw error as? MQTTError ?? stoppedError("connect")
        }
    }

    private func acquirePermit() async {
        // Fast path without a continuation: a permit is free most of the time.
        let granted = core.shared.withLock { shared -> Bool in
            guard shared.permits > 0 else { return false }
            shared.permits -= 1
            return true
        }
        if granted { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = core.shared.withLock { shared -> Bool in
                if shared.permits > 0 {
                    shared.permits -= 1
                    return true
                }
                shared.permitWaiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    private func releasePermit() {
        let next = core.shared.withLock { ClientCore.returnPermit(&$0) }
        next?.resume()
    }

    /// Closes the socket without DISCONNECT, as a crash or a cut cable would (for tests of the
    /// last will and of reconnection).
    func simulateNetworkFailure() {
        let fd = mosquitto_socket(core.handle.pointer)
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
    }
}
