import ArgumentParser
import KakehashiMQTT
import KakehashiModel
import KakehashiSimulation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The messages of one replay, produced in sending order.
protocol MessageSource {
    /// How many messages `next()` will give.
    var total: Int { get }
    /// The time of the first message (the schedule counts from it).
    var firstTime: Timestamp? { get }
    /// The time of the last one.
    var lastTime: Timestamp? { get }
    /// The next message; a reading that cannot be put in the payload format throws and is skipped.
    mutating func next() -> Result<SimMessage, SimulationError>?
}

/// Readings of a trace, encoded as they are sent.
struct TimelineSource: MessageSource {
    let timeline: ReplayTimeline
    let format: DevicePayload
    let template: TopicTemplate
    let offsetSeconds: Int
    private var index = 0

    init(timeline: ReplayTimeline, format: DevicePayload, template: TopicTemplate, offsetSeconds: Int) {
        self.timeline = timeline
        self.format = format
        self.template = template
        self.offsetSeconds = offsetSeconds
    }

    var total: Int { timeline.readings.count }
    var firstTime: Timestamp? { timeline.readings.first?.time }
    var lastTime: Timestamp? { timeline.readings.last?.time }

    mutating func next() -> Result<SimMessage, SimulationError>? {
        guard index < timeline.readings.count else { return nil }
        let reading = timeline.readings[index]
        index += 1
        do {
            let payload = try format.encode(reading, offsetSeconds: offsetSeconds)
            return .success(SimMessage(topic: template.topic(sensor: reading.sensor), payload: payload, time: reading.time))
        } catch {
            return .failure(error)
        }
    }
}

/// Set by SIGINT/SIGTERM: the replay stops sending, settles what is in flight and reports.
let interruption = Atomic<Int32>(0)

func installInterruptHandlers() {
    _ = interruption.load(ordering: .relaxed)
    signal(SIGINT) { interruption.store($0, ordering: .relaxed) }
    signal(SIGTERM) { interruption.store($0, ordering: .relaxed) }
}

/// Sends a replay's messages to a broker (or prints them), on schedule, with progress.
struct Replayer {
    let label: String
    let broker: BrokerOptions
    let output: OutputOptions
    /// Trace seconds per second; nil: as fast as possible.
    let pace: Double?

    struct Counters {
        var acknowledged = 0
        var failed = 0
        var firstError: String?
    }

    /// Runs the replay; exits non-zero (by throwing) when messages failed or it was interrupted.
    func run<Source: MessageSource>(_ source: inout Source) async throws {
        installInterruptHandlers()
        let meter = ProgressMeter(style: output.dryRun && isatty(1) == 1 && output.progress == .auto ? .none : output.style, label: label)
        let total = source.total
        var skipped = 0
        var skipNotes = [String]()
        let counters = Mutex(Counters())
        let client: MQTTClient?
        let qos: MQTTQoS = broker.qos == 0 ? .atMostOnce : .atLeastOnce
        var out = [UInt8]()
        if output.dryRun {
            client = nil
        } else {
            var logger = Logger(label: "kakehashi-sim.mqtt")
            logger.logLevel = .error
            let made = try MQTTClient(configuration: broker.configuration(), logger: logger)
            try await connect(made)
            client = made
        }
        let clock = ContinuousClock()
        let start = clock.now
        var sent = 0
        var lastTime: Timestamp?
        let step: Duration = meter.style == .bar ? .milliseconds(100) : .seconds(output.progressInterval)
        var nextDraw = start + step
        func snapshot() -> ProgressMeter.Snapshot {
            let elapsed = (clock.now - start).seconds
            var remaining: Double?
            if let pace, let first = source.firstTime, let last = source.lastTime {
                remaining = Double(last.millisecondsSinceEpoch - first.millisecondsSinceEpoch) / 1000 / pace - elapsed
            }
            let c = counters.withLock { $0 }
            return .init(
                sent: sent,
                total: total,
                failed: c.failed,
                elapsedSeconds: elapsed,
                remainingSeconds: remaining,
                traceTime: lastTime.map { String($0.iso8601.prefix(19)) + "Z" }
            )
        }
        func draw(force: Bool = false) {
            let now = clock.now
            guard force || now >= nextDraw else { return }
            nextDraw = now + step
            if let text = meter.render(snapshot()) { writeAll(2, Array(text.utf8)) }
        }

        while interruption.load(ordering: .relaxed) == 0, let next = source.next() {
            let message: SimMessage
            switch next {
            case .success(let m): message = m
            case .failure(let error):
                skipped += 1
                if skipNotes.count < 10 { skipNotes.append(error.description) }
                continue
            }
            if let pace, let first = source.firstTime {
                let due = start + .milliseconds(Int64((Double(message.time.millisecondsSinceEpoch - first.millisecondsSinceEpoch) / pace).rounded()))
                while clock.now < due, interruption.load(ordering: .relaxed) == 0 {
                    try? await Task.sleep(until: min(due, clock.now + .milliseconds(100)), clock: clock)
                    draw()
                }
                if interruption.load(ordering: .relaxed) != 0 { break }
            }
            if let client {
                try await client.enqueue(message.topic, payload: message.payload, qos: qos) { error in
                    counters.withLock { c in
                        if let error {
                            c.failed += 1
                            if c.firstError == nil { c.firstError = error.description }
                        } else {
                            c.acknowledged += 1
                        }
                    }
                }
            } else {
                out += Array(message.line.utf8)
                out.append(0x0A)
                if out.count >= 1 << 16 { writeAll(1, out); out.removeAll(keepingCapacity: true) }
            }
            sent += 1
            lastTime = message.time
            draw()
        }
        if !out.isEmpty { writeAll(1, out) }
        if let client {
            // Every message settled (acknowledged or failed), or 30 s.
            let deadline = clock.now + .seconds(30)
            while counters.withLock({ $0.acknowledged + $0.failed }) < sent, clock.now < deadline {
                try? await Task.sleep(for: .milliseconds(10))
                draw()
            }
            await client.disconnect(drainTimeout: .seconds(2))
        }
        if meter.style == .bar {
            draw(force: true)
            writeAll(2, Array("\n".utf8))
        }
        let c = counters.withLock { $0 }
        let unsettled = client == nil ? 0 : sent - c.acknowledged - c.failed
        let elapsed = (clock.now - start).seconds
        let rate = elapsed > 0 ? Double(sent) / elapsed : 0
        var summary = "\(label): \(output.dryRun ? "printed" : "sent") \(ProgressMeter.grouped(sent)) messages"
        if let client { summary += " to \(client.broker)" }
        summary += " in \(ProgressMeter.duration(elapsed)) (\(Int(rate.rounded()))/s)"
        if client != nil && qos == .atLeastOnce { summary += ", \(ProgressMeter.grouped(c.acknowledged)) acknowledged" }
        if c.failed > 0 { summary += ", \(c.failed) failed (first: \(c.firstError ?? "?"))" }
        if unsettled > 0 { summary += ", \(unsettled) not acknowledged within 30 s" }
        if skipped > 0 { summary += ", \(skipped) readings skipped" }
        note(summary)
        for line in skipNotes { note("  skipped: \(line)") }
        let signal = interruption.load(ordering: .relaxed)
        if signal != 0 {
            note("\(label): interrupted after \(sent) of \(total) messages")
            throw ExitCode(128 + signal)
        }
        if c.failed > 0 || unsettled > 0 { throw ExitCode(1) }
    }

    /// Connects, giving up after --connect-timeout (the client itself retries forever).
    private func connect(_ client: MQTTClient) async throws {
        let timeout = broker.connectTimeout
        let timedOut = Atomic<Bool>(false)
        let timer = Task {
            try await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
            timedOut.store(true, ordering: .relaxed)
            await client.disconnect(drainTimeout: .zero)
        }
        defer { timer.cancel() }
        do {
            try await client.connect()
        } catch {
            if timedOut.load(ordering: .relaxed) {
                throw SimulationError(
                    "no MQTT broker answered at \(client.broker) within \(ProgressMeter.duration(timeout)) (is it running? see --broker)"
                )
            }
            throw SimulationError("cannot connect to \(client.broker): \(error)")
        }
    }
}

func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return }
        offset += n
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
