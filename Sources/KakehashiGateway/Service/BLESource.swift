import Foundation
import KakehashiBLE
import KakehashiBLEScanner
import KakehashiModel
import Logging
import ServiceLifecycle

/// BLE tags from a live adapter or a btsnoop replay: each advertiser's address (or beacon
/// identity) becomes a keyed pseudonym, sightings are summarized per window, and each window
/// yields one `Device` (deviceCategory beacon) entity per tag heard, with its smoothed RSSI, and
/// a `presence` observation ("present"/"absent") when a tag enters or leaves.
/// Raw addresses never leave this type.
public final class BLESource: Service, Sendable {
    let name: String
    let configuration: BLESourceConfiguration
    let tenant: Tenant
    let priority: Int
    let committer: Committer
    let metrics: GatewayMetrics
    let logger: Logger
    let clock: @Sendable () -> Timestamp

    public init(
        name: String,
        configuration: BLESourceConfiguration,
        tenant: Tenant,
        priority: Int,
        committer: Committer,
        metrics: GatewayMetrics,
        logger: Logger,
        clock: @escaping @Sendable () -> Timestamp
    ) {
        self.name = name
        self.configuration = configuration
        self.tenant = tenant
        self.priority = priority
        self.committer = committer
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
    }

    public func run() async throws {
        let health = metrics.health
        health.register(name)
        let pseudonymizer = Pseudonymizer(secret: configuration.secret)
        var tracker = TagTracker(configuration: .init(window: configuration.window))
        switch configuration.input {
        case .btsnoop(let path, let speed):
            let capture: BTSnoopReader
            do throws(SourceError) {
                let bytes = try Self.readCapture(path)
                do {
                    capture = try BTSnoopReader(bytes: bytes)
                } catch {
                    throw SourceError(source: name, detail: "\(path) is not a btsnoop capture: \(error)")
                }
            } catch {
                health.down(name, reason: error.detail)
                throw SourceError(source: name, detail: error.detail)
            }
            health.up(name)
            var replay = ReplayPacketSource(capture: capture, speed: speed == 0 ? .infinity : speed)
            var decoded = DecodedCapture()
            var index = 0
            var last: Timestamp?
            while index < replay.schedule.count && !(Task.isCancelled || Task.isShuttingDownGracefully) {
                health.beat(name)
                let entry = replay.schedule[index]
                guard let packet = try replay.nextPacket(timeoutMilliseconds: 50) else {
                    await Task.yield()
                    continue
                }
                index += 1
                last = entry.timestamp
                guard packet.first == 0x04 else { continue }
                CaptureDecoder.decode(event: Array(packet.dropFirst()), at: entry.timestamp, record: index, into: &decoded)
                await handle(&decoded, tracker: &tracker, pseudonymizer: pseudonymizer)
            }
            if let last { await emit(tracker.advance(to: last.advanced(byMilliseconds: tracker.configuration.windowMilliseconds * 2))) }
            health.finished(name)
            logger.info("source \(name): replayed \(index) packets")
        case .pipe(let path):
            let pipe: NamedPipeReader
            do { pipe = try NamedPipeReader(path: path) } catch {
                health.down(name, reason: error.detail)
                throw SourceError(source: name, detail: error.detail)
            }
            health.up(name)
            logger.info("source \(name): reading btsnoop captures written into the pipe \(path)")
            // The reader waits for writers; its own thread is alive while the pipe is open.
            let beating = Task {
                while !Task.isCancelled {
                    health.beat(name)
                    try? await Task.sleep(for: .milliseconds(250))
                }
            }
            defer { beating.cancel() }
            try await withTaskCancellationHandler {
                try await withGracefulShutdownHandler {
                    try await readPipe(pipe, tracker: &tracker, pseudonymizer: pseudonymizer)
                } onGracefulShutdown: {
                    pipe.stop()
                }
            } onCancel: {
                pipe.stop()
            }
            health.finished(name)
        case .adapter(let adapter, let passive):
            // An adapter that is missing, unplugged or failing is retried with backoff (1 s
            // doubling to 30 s) while the source is reported down; SIGTERM ends the wait.
            var failures = 0
            while !(Task.isCancelled || Task.isShuttingDownGracefully) {
                let reason: String
                do {
                    var socket = try HCISocket(adapter: adapter, active: !passive)
                    if failures > 0 { logger.notice("source \(name): adapter \(adapter ?? "default") is scanning again") }
                    failures = 0
                    health.up(name)
                    var loop = BLEScanLoop(watchdogTimeout: .seconds(30))
                    while !(Task.isCancelled || Task.isShuttingDownGracefully) {
                        health.beat(name)
                        let now = clock()
                        var decoded = DecodedCapture()
                        decoded.advertisements = try loop.step(&socket, now: now, timeoutMilliseconds: 20)
                        if decoded.advertisements.isEmpty {
                            await emit(tracker.advance(to: now))
                            await Task.yield()
                            continue
                        }
                        await handle(&decoded, tracker: &tracker, pseudonymizer: pseudonymizer)
                    }
                    break
                } catch {
                    // Missing permissions or kernel support are not fixed by waiting.
                    if error.kind == .notPermitted || error.kind == .notSupported {
                        health.down(name, reason: error.description)
                        throw SourceError(source: name, detail: error.description)
                    }
                    reason = error.description
                }
                failures += 1
                let delay = Duration.seconds(min(30, 1 << min(failures - 1, 5)))
                health.down(name, reason: reason)
                logger.error(
                    "source \(name): adapter \(adapter ?? "default") is not scanning; retrying in \(delay)",
                    metadata: ["reason": "\(reason)"]
                )
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
                health.beat(name)
            }
            await emit(tracker.advance(to: clock().advanced(byMilliseconds: tracker.configuration.windowMilliseconds)))
            health.finished(name)
        }
    }

    /// The bytes of the capture at `path`, or why they cannot be read.
    static func readCapture(_ path: String) throws(SourceError) -> [UInt8] {
        let full = URL(fileURLWithPath: path).standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: full) else {
            throw SourceError(source: path, detail: "the capture \(full) does not exist")
        }
        guard let data = FileManager.default.contents(atPath: full) else {
            throw SourceError(source: path, detail: "cannot read the capture \(full) (\(String(cString: strerror(errno))))")
        }
        return Array(data)
    }

    /// Captures arriving through a named pipe, one after another; their (writer-shifted) times are
    /// the sightings' times. When a writer closes the pipe, the tracker is closed as at the end of
    /// a file, so the tags of that capture leave.
    func readPipe(_ pipe: NamedPipeReader, tracker: inout TagTracker, pseudonymizer: Pseudonymizer) async throws {
        var stream = BTSnoopStream()
        var decoded = DecodedCapture()
        var records = 0, captures = 0
        var last: Timestamp?
        for await chunk in pipe.chunks {
            switch chunk {
            case .writerClosed:
                if let time = last {
                    await emit(tracker.advance(to: time.advanced(byMilliseconds: tracker.configuration.windowMilliseconds * 2)))
                }
                logger.info("source \(name): the writer closed \(pipe.path) after \(records) records of \(captures) capture(s)")
                last = nil
                stream = BTSnoopStream()
            case .bytes(let bytes):
                let items: [BTSnoopStream.Item]
                do { items = try stream.feed(bytes) } catch {
                    metrics.rejected(.malformedCapture)
                    logger.warning("source \(name): skipped corrupt bytes in \(pipe.path): \(error)")
                    continue
                }
                for item in items {
                    switch item {
                    case .captureStarted:
                        captures += 1
                    case .record(let record):
                        records += 1
                        guard record.type == .event && record.received else { continue }
                        last = record.timestamp
                        CaptureDecoder.decode(event: record.packet, at: record.timestamp, record: record.index + 1, into: &decoded)
                        await handle(&decoded, tracker: &tracker, pseudonymizer: pseudonymizer)
                    }
                }
            }
        }
        if let last { await emit(tracker.advance(to: last.advanced(byMilliseconds: tracker.configuration.windowMilliseconds * 2))) }
        logger.info("source \(name): read \(records) records of \(captures) capture(s) from \(pipe.path)")
    }

    func handle(_ decoded: inout DecodedCapture, tracker: inout TagTracker, pseudonymizer: Pseudonymizer) async {
        metrics.ble(decoded)
        for advertisement in decoded.advertisements {
            metrics.received(source: name)
            let pseudonym =
                advertisement.beacon.flatMap { pseudonymizer.pseudonym(for: $0) }
                ?? pseudonymizer.pseudonym(for: advertisement.report.address)
            await emit(tracker.observe(pseudonym: pseudonym, rssi: advertisement.report.rssi, at: advertisement.timestamp))
        }
        decoded.clearCounts()
    }

    func emit(_ output: TagTracker.Output) async {
        guard !output.sightings.isEmpty || !output.events.isEmpty else { return }
        var readings = [PendingReading]()
        for sighting in output.sightings {
            let end = sighting.windowStart.advanced(byMilliseconds: configuration.window.milliseconds)
            do {
                let device = try BeaconDevice(
                    id: EntityID(type: BeaconDevice.entityType, tenant: tenant, localID: sighting.pseudonym),
                    dateLastValueReported: end,
                    rssi: (sighting.smoothedRSSI ?? sighting.maxRSSI.map(Double.init)).map { min(20, max(-127, $0)) },
                    location: configuration.location
                )
                readings.append(Ingest.pending(device.ngsiEntity, priority: priority))
            } catch {
                metrics.rejected(.invalidEntity)
                logger.warning("source \(name): a sighting was not a valid Device: \(error)")
            }
        }
        // Presence changes (decided k-of-n by the tracker) as a `presence` observation of the tag:
        // "present" when it enters, "absent" when it leaves; the hub's absence rules read it.
        for event in output.events {
            let (pseudonym, at, lastSeen, present): (String, Timestamp, Timestamp, Bool)
            switch event {
            case .entered(let tag, let start): (pseudonym, at, lastSeen, present) = (tag, start, start, true)
            case .left(let tag, let time, let seen): (pseudonym, at, lastSeen, present) = (tag, time, seen, false)
            }
            do {
                var entity = try BeaconDevice(
                    id: EntityID(type: BeaconDevice.entityType, tenant: tenant, localID: pseudonym),
                    dateLastValueReported: lastSeen,
                    location: configuration.location
                ).ngsiEntity
                entity.attributes["presence"] = .property(NGSIProperty(.text(present ? "present" : "absent"), observedAt: at))
                readings.append(Ingest.pending(entity, priority: priority))
            } catch {
                metrics.rejected(.invalidEntity)
                logger.warning("source \(name): a presence change was not a valid Device: \(error)")
            }
        }
        await committer.submit(readings)
    }
}

/// A BLE source could not start.
/// Why a source stopped for good (the gateway then stops and exits non-zero).
public struct SourceError: Error, Sendable, CustomStringConvertible {
    public let source: String
    public let detail: String
    public init(source: String, detail: String) {
        self.source = source
        self.detail = detail
    }
    public var description: String { "source \(source): \(detail)" }
}
