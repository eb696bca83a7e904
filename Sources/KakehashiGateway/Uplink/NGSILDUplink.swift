import Foundation
import KakehashiHTTP
import KakehashiModel
import Logging
import ServiceLifecycle
import Synchronization

/// Sends the outbox to an NGSI-LD broker (this hub, or another vendor's platform) over HTTP:
/// each batch of readings is one `POST /ngsi-ld/v1/entityOperations/upsert?options=update`,
/// in order, one at a time. A batch leaves the outbox when the broker answered it:
///
/// - 201 or 204: every reading was taken.
/// - 207: the readings of the entities in `errors` are kept as dead letters with the broker's
///   reason (`refused_by_broker`), the others were taken.
/// - 400, 413 or 422 for the whole request: the batch is split in halves and each sent again, down
///   to single readings, so one bad reading is dead-lettered and the rest go through.
/// - Anything else (no connection, a timeout, 401/403, 404, 429, 5xx): nothing leaves the
///   outbox; the same batch is sent again after a wait that doubles from 1 s up to `retry_max`
///   (or the broker's `Retry-After`), and the uplink is reported down with the reason.
///
/// A batch answered and then sent again (the answer lost) stores nothing twice: an upsert of the
/// same values at the same times is the same upsert.
public final class NGSILDUplink: Service, UplinkService, Sendable {
    let configuration: UplinkConfiguration
    let settings: NGSILDUplinkConfiguration
    let outbox: Outbox
    let metrics: GatewayMetrics
    let logger: Logger
    let clock: @Sendable () -> Timestamp
    let client: HTTPClient?
    /// Why the URL cannot be used (checked at load; kept for the log).
    let invalidURL: String?
    let newData = Signal()
    let stopping = Mutex(false)
    let health: SourceHealth

    public init(
        configuration: UplinkConfiguration,
        settings: NGSILDUplinkConfiguration,
        outbox: Outbox,
        metrics: GatewayMetrics,
        logger: Logger,
        clock: @escaping @Sendable () -> Timestamp
    ) {
        self.configuration = configuration
        self.settings = settings
        self.outbox = outbox
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
        self.health = metrics.health
        health.register("uplink")
        do {
            client = HTTPClient(endpoint: try HTTPClient.Endpoint(url: settings.url), timeout: settings.timeout, caFile: settings.caFile)
            invalidURL = nil
        } catch {
            client = nil
            invalidURL = error.description
        }
    }

    public func readingsCommitted() { newData.signal() }

    /// Nothing waits for a confirmation apart from the request in flight.
    public var unconfirmedCount: Int { 0 }

    public func run() async throws {
        logger.info("sending readings to the NGSI-LD broker", metadata: ["url": "\(settings.upsertURL)", "tenant": "\(settings.tenant ?? "-")"])
        await withGracefulShutdownHandler {
            await self.sendLoop()
        } onGracefulShutdown: {
            self.stopping.withLock { $0 = true }
            self.newData.signal()
        }
        metrics.uplink(connected: false)
        logger.info("uplink stopped", metadata: ["outbox_depth": "\(outbox.depth)"])
    }

    /// What one request came to.
    enum Outcome: Equatable {
        /// Taken: these entity ids were refused (with the broker's reason), the rest stored.
        case answered(refused: [String: String])
        /// The request as a whole was refused for its content (400, 413, 422): split it.
        case refusedWhole(status: Int, reason: String)
        /// Not taken this time: send it again after a wait.
        case retry(reason: String, after: Duration?)
    }

    func sendLoop() async {
        var cursor: Int64 = 0
        var failures = 0
        var flushDeadline: ContinuousClock.Instant?
        var connected = false
        while true {
            let stopping = self.stopping.withLock { $0 }
            if stopping && flushDeadline == nil { flushDeadline = .now + configuration.shutdownFlushTimeout }
            if let flushDeadline, ContinuousClock.now >= flushDeadline {
                logger.warning("shutdown: \(outbox.depth) readings stay in the outbox for the next start")
                return
            }
            let readings: [StoredReading]
            do { readings = try outbox.readings(after: cursor, limit: configuration.batchSize) } catch {
                logger.error("\(error)")
                metrics.error("\(error)")
                await newData.wait(timeout: .seconds(1))
                continue
            }
            guard let last = readings.last else {
                if stopping { return }
                health.up("uplink")
                health.beat("uplink")
                await newData.wait(timeout: .milliseconds(500))
                continue
            }
            health.beat("uplink")
            switch await deliver(readings) {
            case .none:
                failures = 0
                cursor = last.sequence
                if !connected {
                    connected = true
                    metrics.uplink(connected: true)
                    metrics.clearError()
                }
                health.up("uplink")
            case .some((let reason, let after)):
                failures += 1
                if connected || failures == 1 {
                    logger.warning("the NGSI-LD broker did not take a batch; readings stay in the outbox", metadata: ["reason": "\(reason)"])
                }
                connected = false
                metrics.uplink(connected: false)
                metrics.error(reason)
                health.down("uplink", reason: "\(reason) (retrying; readings wait in the outbox)")
                let backoff = min(Duration.seconds(1) * (1 << min(failures - 1, 16)), settings.retryMax)
                let wait = max(after ?? .zero, backoff)
                let until = ContinuousClock.now + wait
                while ContinuousClock.now < until && !self.stopping.withLock({ $0 }) {
                    try? await Task.sleep(for: min(.milliseconds(250), until - .now))
                    health.beat("uplink")
                }
                if self.stopping.withLock({ $0 }) { return }
            }
        }
    }

    /// Sends `readings`, splitting what the broker refuses as a whole; nil once every reading was
    /// taken or dead-lettered (and acknowledged in the outbox), else why to try again.
    func deliver(_ readings: [StoredReading]) async -> (String, Duration?)? {
        guard let first = readings.first, let last = readings.last else { return nil }
        metrics.sent(readings.count)
        switch await send(readings) {
        case .answered(let refused):
            for reading in readings {
                guard let id = Self.entityID(reading.entity), let reason = refused[id] else { continue }
                deadLetter(reading, reason: reason)
            }
            outbox.acknowledge(first.sequence...last.sequence)
            metrics.confirmed(batches: 1, refused: !refused.isEmpty)
            if !refused.isEmpty {
                logger.warning("the NGSI-LD broker refused readings; kept as dead letters", metadata: ["entities": "\(refused.keys.sorted())"])
            }
            return nil
        case .refusedWhole(let status, let reason):
            guard readings.count > 1 else {
                deadLetter(first, reason: "HTTP \(status): \(reason)")
                outbox.acknowledge(first.sequence...first.sequence)
                metrics.confirmed(batches: 1, refused: true)
                logger.warning(
                    "the NGSI-LD broker refused a reading; kept as a dead letter",
                    metadata: ["sequence": "\(first.sequence)", "reason": "\(reason)"]
                )
                return nil
            }
            let half = readings.count / 2
            if let failed = await deliver(Array(readings[..<half])) { return failed }
            return await deliver(Array(readings[half...]))
        case .retry(let reason, let after):
            return (reason, after)
        }
    }

    /// The entity id of a stored reading (its JSON's `id`).
    static func entityID(_ entity: [UInt8]) -> String? {
        (try? JSONValue(parsing: entity))?["id"]?.stringValue
    }

    func deadLetter(_ reading: StoredReading, reason: String) {
        outbox.recordDeadLetter(
            DeadLetter(
                receivedAt: clock(),
                source: "uplink",
                topic: settings.upsertURL,
                reason: "refused_by_broker",
                detail: reason,
                size: reading.entity.count,
                payload: Array(reading.entity.prefix(4096))
            )
        )
    }

    /// One upsert request and what its answer means.
    func send(_ readings: [StoredReading]) async -> Outcome {
        guard let client else { return .retry(reason: invalidURL ?? "no client", after: nil) }
        var body = [UInt8]()
        body.reserveCapacity(readings.reduce(2) { $0 + $1.entity.count + 1 })
        body.append(UInt8(ascii: "["))
        for (index, reading) in readings.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += reading.entity
        }
        body.append(UInt8(ascii: "]"))
        var headers: [(String, String)] = [("Content-Type", "application/json"), ("Accept", "application/json")]
        if let tenant = settings.tenant { headers.append(("NGSILD-Tenant", tenant)) }
        if let token = settings.token { headers.append(("Authorization", "Bearer \(token)")) }
        for (name, value) in settings.headers.sorted(by: { $0.key < $1.key }) { headers.append((name, value)) }
        do {
            let response = try await client.post(NGSILDUplinkConfiguration.upsertPath, headers: headers, body: body)
            return Self.outcome(status: response.status, body: response.body, retryAfter: response.header("retry-after"))
        } catch {
            return .retry(reason: "POST \(settings.upsertURL): \(error)", after: nil)
        }
    }

    /// What an answer means (see the type's description).
    static func outcome(status: Int, body: [UInt8], retryAfter: String?) -> Outcome {
        let problem = (try? JSONValue(parsing: body)).flatMap(problemText) ?? String(decoding: body.prefix(300), as: UTF8.self)
        switch status {
        case 200, 201, 204:
            return .answered(refused: [:])
        case 207:
            guard let json = try? JSONValue(parsing: body) else { return .retry(reason: "HTTP 207 with a body that is not JSON", after: nil) }
            var refused = [String: String]()
            for error in json["errors"]?.arrayValue ?? [] {
                guard let id = error["entityId"]?.stringValue else { continue }
                refused[id] = error["error"].flatMap(problemText) ?? "refused"
            }
            return .answered(refused: refused)
        case 400, 413, 422:
            return .refusedWhole(status: status, reason: problem)
        default:
            let after = retryAfter.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }.map { Duration.seconds(min(max($0, 0), 3600)) }
            let hint: String
            switch status {
            case 401, 403: hint = " (check central.token and the key's rights)"
            case 404: hint = " (check central.url and central.tenant)"
            default: hint = ""
            }
            return .retry(reason: "the NGSI-LD broker answered HTTP \(status): \(problem)\(hint)", after: after)
        }
    }

    /// A ProblemDetails as one line: its type's last part and its detail (or title).
    static func problemText(_ json: JSONValue) -> String? {
        guard case .object = json else { return nil }
        let type = json["type"]?.stringValue.map { String($0.split(separator: "/").last ?? Substring($0)) }
        let detail = json["detail"]?.stringValue ?? json["title"]?.stringValue ?? json["reason"]?.stringValue
        switch (type, detail) {
        case (let type?, let detail?): return "\(type): \(detail)"
        case (let type?, nil): return type
        case (nil, let detail?): return detail
        default: return nil
        }
    }
}

/// What the gateway's parts need of an uplink, MQTT or NGSI-LD.
public protocol UplinkService: Service, Sendable {
    /// New readings were committed to the outbox.
    func readingsCommitted()
    /// Batches sent and waiting for a confirmation (the committer's report).
    var unconfirmedCount: Int { get }
}

extension Uplink: UplinkService {
    public var unconfirmedCount: Int { unconfirmed.withLock { $0.count } }
}
