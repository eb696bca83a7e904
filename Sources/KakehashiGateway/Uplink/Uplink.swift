import KakehashiMQTT
import KakehashiModel
import Logging
import ServiceLifecycle
import Synchronization

/// Sends the outbox to the central broker: wire batches at QoS 1 on `…/obs`, at most
/// `inFlightBatches` waiting for the broker's PUBACK. A batch leaves the outbox only when the hub
/// confirms it on `…/ack` (``WireAcknowledgement``): the PUBACK means "in transit", so a batch
/// the broker acknowledged and then lost (restart, crash, a shared subscription with no live
/// session) is sent again after `confirmTimeout` (doubling at each resend); at most
/// `unconfirmedBatches` wait for confirmation. With `confirmation: broker` the PUBACK is enough.
/// Keeps the retained status fresh; its last will says offline. On graceful shutdown it keeps
/// sending until the outbox is empty or `shutdownFlushTimeout` passed, then says offline and
/// disconnects.
public final class Uplink: Service, Sendable {
    public static let version = "0.5.0"

    let configuration: UplinkConfiguration
    let tenant: Tenant
    let gateway: GatewayID
    let outbox: Outbox
    let metrics: GatewayMetrics
    let logger: Logger
    let client: MQTTClient
    let clock: @Sendable () -> Timestamp
    let newData = Signal()
    let stopping = Mutex(false)
    /// Batches published and not yet acknowledged by the broker.
    let inFlight = Mutex(0)
    let slotFreed = Signal()
    /// Batches sent and not yet confirmed by the hub, by increasing first sequence.
    let unconfirmed = Mutex<[UnconfirmedBatch]>([])
    /// Whether any confirmation came from the hub since the start (for the hint when none does).
    let confirmationsSeen = Mutex(false)
    /// The hub's confirmations (registered before the connection, so none kept by the broker is missed).
    let confirmations: MQTTSubscription?
    /// Where the uplink reports its connection (as `uplink`) and beats.
    let health: SourceHealth

    /// A batch on its way: sent, perhaps acknowledged by the broker, not yet confirmed by the hub.
    struct UnconfirmedBatch: Sendable {
        let range: ClosedRange<Int64>
        /// When the broker acknowledged it (or the publish failed); nil while in transit.
        var settledAt: ContinuousClock.Instant?
        /// Times sent again.
        var resends = 0
    }

    public init(
        configuration: UplinkConfiguration,
        tenant: Tenant,
        gateway: GatewayID,
        outbox: Outbox,
        metrics: GatewayMetrics,
        logger: Logger,
        clock: @escaping @Sendable () -> Timestamp
    ) throws(MQTTError) {
        self.health = metrics.health
        self.health.register("uplink")
        self.configuration = configuration
        self.tenant = tenant
        self.gateway = gateway
        self.outbox = outbox
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
        var mqtt = configuration.mqtt
        let offline = GatewayStatus(state: .offline, version: Self.version, time: clock())
        mqtt.will = .init(
            topic: WireTopic(tenant: tenant, gateway: gateway, kind: .status).name,
            payload: offline.payload(),
            qos: .atLeastOnce,
            retain: true
        )
        mqtt.inflightWindow = max(mqtt.inflightWindow, configuration.inFlightBatches + 4)
        client = try MQTTClient(configuration: mqtt, logger: logger)
        confirmations =
            configuration.confirmation == .hub
            ? try client.subscribeWithoutWaiting(WireAcknowledgement.topic(tenant: tenant, gateway: gateway), qos: .atLeastOnce) : nil
    }

    var observationsTopic: String { WireTopic(tenant: tenant, gateway: gateway, kind: .observations).name }
    var statusTopic: String { WireTopic(tenant: tenant, gateway: gateway, kind: .status).name }

    /// Tells the uplink that new readings were committed.
    public func readingsCommitted() { newData.signal() }

    /// The wire batch payload for stored readings (their entity bytes are copied as they are).
    public static func payload(tenant: Tenant, gateway: GatewayID, readings: [StoredReading]) -> [UInt8] {
        WireBatch.encode(tenant: tenant, gateway: gateway, entries: readings.map { (UInt64($0.sequence), $0.entity) })
    }

    func status(_ state: GatewayStatus.State) -> GatewayStatus {
        GatewayStatus(
            state: state,
            version: Self.version,
            outboxDepth: outbox.depth,
            dropped: outbox.drops,
            lastError: metrics.lastError,
            sources: health.snapshot.filter { $0.key != "committer" },
            time: clock()
        )
    }

    public func run() async throws {
        // The connection is watched from the start, so a central broker that is away at start is
        // reported (health, metrics) while it is retried, and SIGTERM stops the wait.
        let watching = Task { await self.connectionWatch() }
        defer { watching.cancel() }
        let abandon: @Sendable () -> Void = { Task { await self.client.disconnect(drainTimeout: .zero) } }
        do {
            try await withTaskCancellationHandler {
                try await withGracefulShutdownHandler {
                    try await self.client.connect()
                } onGracefulShutdown: {
                    abandon()
                }
            } onCancel: {
                abandon()
            }
        } catch {
            if Task.isShuttingDownGracefully || Task.isCancelled {
                logger.info("uplink stopped before the central broker was reached", metadata: ["outbox_depth": "\(outbox.depth)"])
                return
            }
            // Only refusals that retrying cannot fix end up here (credentials, TLS).
            metrics.error("\(error)")
            health.down("uplink", reason: "\(error)")
            throw error
        }
        logger.info("connected to the central broker", metadata: ["broker": "\(client.broker)"])
        metrics.uplink(connected: true)
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.statusLoop() }
                if let confirmations = self.confirmations { group.addTask { await self.confirmationLoop(confirmations) } }
                await self.sendLoop()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.stopping.withLock { $0 = true }
            self.newData.signal()
        }
        // Say offline, but do not wait on a broker that is gone: its acknowledgement would never
        // come (libmosquitto keeps a QoS 1 message for the next connection) and the process
        // would not exit. Disconnecting settles the publish either way.
        let said = Mutex(false)
        let offline = status(.offline).payload()
        let saying = Task {
            try? await client.publish(statusTopic, payload: offline, qos: .atLeastOnce, retain: true)
            said.withLock { $0 = true }
        }
        let deadline = ContinuousClock.now + .seconds(2)
        while !said.withLock({ $0 }) && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        await client.disconnect(drainTimeout: said.withLock { $0 } ? .seconds(2) : .zero)
        _ = await saying.value
        metrics.uplink(connected: false)
        logger.info("uplink stopped", metadata: ["outbox_depth": "\(outbox.depth)"])
    }

    func statusLoop() async {
        while !Task.isCancelled {
            // While the central broker is away this waits (libmosquitto sends it on reconnection);
            // the connection's state is watched apart, so metrics never wait on it.
            try? await client.publish(statusTopic, payload: status(.online).payload(), qos: .atLeastOnce, retain: true)
            try? await Task.sleep(for: configuration.statusInterval)
        }
    }

    /// Follows the client's connection state: the `uplink_connected` metric and ``SourceHealth``
    /// say what it is now, a loss and a recovery are logged once each, and the last error is
    /// forgotten on recovery. Beats four times a second.
    func connectionWatch() async {
        var connected = false
        var everConnected = false
        var lostAt: ContinuousClock.Instant?
        while !Task.isCancelled {
            let now: Bool
            if case .connected = client.state { now = true } else { now = false }
            if now != connected {
                connected = now
                metrics.uplink(connected: now)
                if now {
                    if everConnected {
                        let outage = lostAt.map { ContinuousClock.now - $0 } ?? .zero
                        logger.info("central broker connection back", metadata: ["after": "\(outage)", "outbox_depth": "\(outbox.depth)"])
                    }
                    everConnected = true
                    metrics.clearError()
                } else {
                    lostAt = .now
                    metrics.error("central broker \(client.broker) not connected (\(client.state))")
                    logger.warning("central broker connection lost; readings stay in the outbox", metadata: ["broker": "\(client.broker)"])
                }
            }
            if now {
                health.up("uplink")
            } else if let error = client.lastError {
                if case .stopped = client.state {
                } else {
                    metrics.error(error.description)
                    health.down("uplink", reason: "\(error) (retrying; readings wait in the outbox)")
                }
            } else if everConnected {
                health.down("uplink", reason: "central broker \(client.broker) not connected (\(client.state))")
            }
            health.beat("uplink")
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Reads batches after the last one sent and publishes them, `inFlightBatches` at a time
    /// waiting for the broker, `unconfirmedBatches` waiting for the hub; sends again a batch the
    /// hub has not confirmed `confirmTimeout` after the broker took it.
    func sendLoop() async {
        var cursor: Int64 = 0
        var flushDeadline: ContinuousClock.Instant?
        var hinted = false
        // A discarding group: each batch's task is freed when it ends (a plain task group keeps
        // every finished child until it is awaited, which this loop never does: memory grew by
        // ~2 KB per batch, 0.45 MB/s at 1,000 readings/s).
        await withDiscardingTaskGroup { group in
            while true {
                let stopping = self.stopping.withLock { $0 }
                if stopping && flushDeadline == nil { flushDeadline = .now + configuration.shutdownFlushTimeout }
                if let flushDeadline, ContinuousClock.now >= flushDeadline {
                    // The central broker did not take everything in time: what is left stays in the
                    // outbox for the next start. Stopping the client fails the publishes in flight.
                    logger.warning("shutdown: \(outbox.depth) readings stay in the outbox for the next start")
                    await client.disconnect(drainTimeout: .zero)
                    break
                }
                if self.inFlight.withLock({ $0 }) >= configuration.inFlightBatches {
                    await slotFreed.wait(timeout: .milliseconds(100))
                    continue
                }
                // A batch the hub did not confirm in time goes again, before anything new.
                if let due = dueForResend() {
                    let readings: [StoredReading]
                    do {
                        readings = try outbox.readings(after: due.lowerBound - 1, limit: configuration.batchSize).filter {
                            $0.sequence <= due.upperBound
                        }
                    } catch {
                        logger.error("\(error)")
                        metrics.error("\(error)")
                        await newData.wait(timeout: .seconds(1))
                        continue
                    }
                    let resends = unconfirmed.withLock { list -> Int in
                        guard let index = list.firstIndex(where: { $0.range == due }) else { return 0 }
                        if readings.isEmpty { list.remove(at: index); return 0 }  // gone meanwhile (confirmed, or dropped by the quota)
                        list[index].settledAt = nil
                        list[index].resends += 1
                        return list[index].resends
                    }
                    guard !readings.isEmpty else { continue }
                    metrics.resent(batches: 1, readings: readings.count)
                    if !hinted && resends >= 2 && !confirmationsSeen.withLock({ $0 }) {
                        hinted = true
                        let message =
                            "the hub has confirmed no batch on \(WireAcknowledgement.topic(tenant: tenant, gateway: gateway)) since the start: "
                            + "a hub older than wire acknowledgements (set central.confirmation: broker), or a broker ACL that does not let "
                            + "this gateway read that topic (kakehashi-hub gateway add writes it); readings stay in the outbox and are sent again"
                        logger.warning("\(message)")
                        metrics.error(message)
                    } else if resends == 1 {
                        logger.notice(
                            "sending a batch again: the hub did not confirm it in \(configuration.confirmTimeout)",
                            metadata: [
                                "first": "\(due.lowerBound)", "last": "\(due.upperBound)", "readings": "\(readings.count)",
                            ]
                        )
                    }
                    publish(readings, range: due, in: &group)
                    continue
                }
                if configuration.confirmation == .hub && unconfirmed.withLock({ $0.count }) >= configuration.unconfirmedBatches {
                    await slotFreed.wait(timeout: .milliseconds(100))
                    continue
                }
                let readings: [StoredReading]
                do {
                    readings = try outbox.readings(after: cursor, limit: configuration.batchSize)
                } catch {
                    logger.error("\(error)")
                    metrics.error("\(error)")
                    await newData.wait(timeout: .seconds(1))
                    continue
                }
                guard let first = readings.first, let last = readings.last else {
                    // Nothing new: when stopping, wait for what is in flight and unconfirmed, then leave.
                    if stopping && self.inFlight.withLock({ $0 }) == 0 && unconfirmed.withLock({ $0.isEmpty }) { break }
                    // Woken by new readings, a confirmation or a settled publish; at the latest when a resend may be due.
                    await newData.wait(timeout: stopping ? .milliseconds(50) : .milliseconds(500))
                    continue
                }
                cursor = last.sequence
                let range = first.sequence...last.sequence
                if configuration.confirmation == .hub {
                    unconfirmed.withLock { $0.append(UnconfirmedBatch(range: range)) }
                }
                publish(readings, range: range, in: &group)
            }
            group.cancelAll()
        }
    }

    /// Publishes a batch in a task of `group`; with broker confirmation its PUBACK lets the outbox
    /// forget it, otherwise the PUBACK (or a failure) starts its wait for the hub's confirmation.
    private func publish(_ readings: [StoredReading], range: ClosedRange<Int64>, in group: inout DiscardingTaskGroup) {
        let payload = Self.payload(tenant: tenant, gateway: gateway, readings: readings)
        inFlight.withLock { $0 += 1 }
        metrics.sent(readings.count)
        group.addTask {
            do {
                try await self.client.publish(self.observationsTopic, payload: payload, qos: .atLeastOnce)
                if self.configuration.confirmation == .broker { self.outbox.acknowledge(range) }
            } catch {
                self.logger.warning("batch \(range.lowerBound)...\(range.upperBound) not acknowledged by the broker: \(error)")
            }
            // Confirmed meanwhile: already gone from the list.
            self.unconfirmed.withLock { list in
                if let index = list.firstIndex(where: { $0.range == range }) { list[index].settledAt = .now }
            }
            self.inFlight.withLock { $0 -= 1 }
            self.slotFreed.signal()
        }
    }

    /// The oldest batch the broker took (or failed) longer ago than its confirmation wait.
    private func dueForResend() -> ClosedRange<Int64>? {
        guard configuration.confirmation == .hub else { return nil }
        let now = ContinuousClock.now
        return unconfirmed.withLock { list in
            list.first { batch in
                guard let settled = batch.settledAt else { return false }
                return now - settled >= min(configuration.confirmTimeout * (1 << min(batch.resends, 10)), .seconds(600))
            }?.range
        }
    }

    /// Applies the hub's confirmations: the confirmed readings leave the outbox at the next commit.
    func confirmationLoop(_ confirmations: MQTTSubscription) async {
        for await message in confirmations {
            let acknowledgement: WireAcknowledgement
            do {
                acknowledgement = try WireAcknowledgement(payload: message.payload)
            } catch {
                metrics.invalidConfirmation()
                logger.warning("ignored a confirmation on \(message.topic): \(error)")
                continue
            }
            confirmationsSeen.withLock { $0 = true }
            var confirmed = 0
            for range in acknowledgement.ranges {
                guard let low = Int64(exactly: range.lowerBound), let high = Int64(exactly: range.upperBound) else { continue }
                outbox.acknowledge(low...high)
                confirmed += unconfirmed.withLock { list in
                    let before = list.count
                    list.removeAll { $0.range.lowerBound >= low && $0.range.upperBound <= high }
                    return before - list.count
                }
            }
            metrics.confirmed(batches: confirmed, refused: acknowledgement.outcome == .deadLetter)
            if acknowledgement.outcome == .deadLetter {
                logger.warning(
                    "the hub refused readings and keeps them as a dead letter (kakehashi-hub deadletters)",
                    metadata: [
                        "sequences": "\(acknowledgement.ranges.map { "\($0.lowerBound)...\($0.upperBound)" })"
                    ]
                )
            }
            slotFreed.signal()
            newData.signal()
        }
    }
}
