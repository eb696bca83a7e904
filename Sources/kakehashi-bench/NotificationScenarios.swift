import Foundation
import Hummingbird
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiModel
import KakehashiTestSupport
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

/// NGSI-LD notifications: the hub's ingest rate with 1,000 active subscriptions against the same
/// ingest with none (same run, alternating); the latency from a reading on the edge broker to its
/// notification at an HTTP receiver is measured beside the alert SSE latency (``AlertScenarios``).
enum NotificationScenarios {
    /// `repeats` runs of each, in turn: no subscription; the subscriptions notifying a web server
    /// (Hummingbird, as a city's webhook would be); the same notifying a receiver that only counts
    /// (so fast that the hub delivers nearly every notification while it ingests).
    static func run(repeats: Int, readings: Int, subscriptions: Int) async throws -> (rows: [BenchRow], notes: [String]) {
        let payloads = (0..<(readings / HubScenarios.perBatch)).map { HubScenarios.batchPayload($0) }
        var without = [Double](), server = [Double](), counting = [Double]()
        // CPU seconds per 100,000 readings of each kind (the bench process: hub and receiver).
        var cpu: [[Double]] = [[], [], []]
        var deliveredToServer = [Int](), deliveredToCounter = [Int]()
        let per100k = 100_000 / Double(payloads.count * HubScenarios.perBatch)
        for round in 0..<repeats {
            AlertScenarios.progress("notifications: run \(round + 1) of \(repeats), \(payloads.count * HubScenarios.perBatch) readings each")
            let order = [0, 1, 2].map { ($0 + round) % 3 }
            for kind in order {
                switch kind {
                case 0:
                    let run = try await HubScenarios.measuredIngestRun(payloads, subscriptions: 0, endpoint: "")
                    without.append(run.rate)
                    cpu[0].append(run.cpuSeconds * per100k)
                case 1:
                    let receiver = try await BenchReceiver(niceness: 10)
                    let run = try await HubScenarios.measuredIngestRun(payloads, subscriptions: subscriptions, endpoint: receiver.uri)
                    server.append(run.rate)
                    cpu[1].append(run.cpuSeconds * per100k)
                    deliveredToServer.append(receiver.count)
                    await receiver.stop()
                default:
                    let receiver = try CountingReceiver()
                    let run = try await HubScenarios.measuredIngestRun(payloads, subscriptions: subscriptions, endpoint: receiver.uri)
                    counting.append(run.rate)
                    cpu[2].append(run.cpuSeconds * per100k)
                    deliveredToCounter.append(receiver.count)
                    receiver.stop()
                }
            }
        }
        func median(_ values: [Double]) -> String { String(format: "%.2f", values.sorted()[values.count / 2]) }
        let shape =
            "\(subscriptions) active NGSI-LD subscriptions (\(subscriptions / HubScenarios.sensors) per gauge, each with its own q on the level)"
        return (
            [
                BenchRow(
                    scenario: "Hub ingest with \(shape), notifications kept and delivered meanwhile to a web server (Hummingbird) on the same cores",
                    kakehashi: server,
                    baselineName: "the same ingest with no subscription",
                    baseline: without,
                    unit: "readings/s",
                    higherIsBetter: true
                ),
                BenchRow(
                    scenario:
                        "Hub ingest with the same subscriptions, delivered meanwhile to a receiver that only counts",
                    kakehashi: counting,
                    baselineName: "the same ingest with no subscription",
                    baseline: without,
                    unit: "readings/s",
                    higherIsBetter: true
                ),
            ],
            [
                "Subscriptions: \(subscriptions) over \(HubScenarios.sensors) gauges, q from waterLevel>3.5 to waterLevel>3.9 (the readings run "
                    + "1.00–3.99 m): about \(payloads.count * HubScenarios.perBatch / 5) notifications per run; received during the ingest runs by the web server: "
                    + "\(deliveredToServer.map(String.init).joined(separator: ", ")), by the counting receiver: "
                    + "\(deliveredToCounter.map(String.init).joined(separator: ", ")) (goal: ingest at least 80% of the rate with none). "
                    + "Both receivers run at nice 10 (they stand for the endpoint's own machine, and take what the hub leaves). "
                    + "CPU seconds of the hub process per 100,000 readings (medians, receiver included): no subscription \(median(cpu[0])), "
                    + "web server \(median(cpu[1])), counting receiver \(median(cpu[2]))."
            ]
        )
    }

    /// The subscriptions of the ingest scenario: `count` over the gauges, each on one gauge with a
    /// level of its own.
    static func subscriptions(_ count: Int, endpoint: String) -> [Subscription] {
        (0..<count).map { k in
            let gauge = try! EntityID(type: "WaterObserved", tenant: HubScenarios.tenant, localID: "g\(k % HubScenarios.sensors)")
            var subscription = Subscription(id: "urn:ngsi-ld:Subscription:bench-\(k)", endpoint: Subscription.Endpoint(uri: endpoint))
            subscription.entities = [.init(type: "WaterObserved", id: gauge.rawValue)]
            subscription.watchedAttributes = ["waterLevel"]
            subscription.q = "waterLevel>\(String(format: "%.1f", 3.5 + Double(k / HubScenarios.sensors % 5) / 10))"
            subscription.format = .keyValues
            return subscription
        }
    }
}

/// An HTTP server on a loopback port that answers every POST 204 and stamps when each arrived
/// (monotonic nanoseconds), with the body's first entity's `waterLevel`.
final class BenchReceiver: Sendable {
    let port: Int
    private final class Log: Sendable {
        let arrivals = Mutex<[(at: UInt64, level: Double?)]>([])
    }

    private let log = Log()
    private let group: ServiceGroup
    private let task: Task<Void, any Error>
    private let loops: MultiThreadedEventLoopGroup

    /// `niceness` 10 runs its event loop at nice 10 (see ``lowerPriority(_:)``).
    init(niceness: Int32 = 0) async throws {
        let port = try TestBroker.freePort()
        self.port = port
        let router = Router()
        let log = self.log
        router.post("**") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 16 << 20)
            let at = DispatchTime.now().uptimeNanoseconds
            let body = try? JSONValue(parsing: String(buffer: bytes))
            let level = body?["data"]?.arrayValue?.first?["waterLevel"]?.numberValue
            log.arrivals.withLock { $0.append((at, level)) }
            return Response(status: .noContent)
        }
        let bound = Mutex(false)
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.loops = loops
        if niceness > 0 { try await loops.next().submit { Self.lowerPriority(niceness) }.get() }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "bench-receiver"),
            onServerRunning: { _ in bound.withLock { $0 = true } },
            eventLoopGroupProvider: .shared(loops),
            logger: GatewayScenarios.quiet
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: GatewayScenarios.quiet))
        self.group = group
        task = Task { try await group.run() }
        while !bound.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
    }

    var uri: String { "http://127.0.0.1:\(port)/notify" }
    var count: Int { log.arrivals.withLock { $0.count } }
    var received: [(at: UInt64, level: Double?)] { log.arrivals.withLock { $0 } }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        try? await loops.shutdownGracefully()
    }

    /// A receiver stands for the endpoint's own machine: on the two cores it shares with the hub
    /// measured, its threads run at nice 10, so that it takes what the hub leaves rather than the
    /// hub's share (the hub's own notification POSTs run at nice 10 too).
    static func lowerPriority(_ niceness: Int32 = 10) {
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
    }
}

/// A receiver that only counts: HTTP/1.1 on a loopback port, each request read (head and
/// `Content-Length` body) and answered 204 on the kept connection, one thread per connection. It
/// shares the two cores with the hub measured, so it does as little as a receiver can.
final class CountingReceiver: Sendable {
    let port: Int
    private let listener: Int32
    private let received = Atomic<Int>(0)

    init() throws {
        port = try TestBroker.freePort()
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 64) == 0 else { throw TestSupportError("the counting receiver cannot listen on \(port)") }
        let server = listener
        Thread.detachNewThread { [self] in
            while true {
                let connection = accept(server, nil, nil)
                guard connection >= 0 else { return }
                Thread.detachNewThread { [self] in
                    BenchReceiver.lowerPriority()
                    serve(connection)
                }
            }
        }
    }

    var uri: String { "http://127.0.0.1:\(port)/notify" }
    var count: Int { received.load(ordering: .relaxed) }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    /// Reads requests into one buffer, finds each head's end and `Content-Length` by scanning
    /// bytes, and answers all the requests of one read in one write: the receiver should cost the
    /// shared cores as little as a receiver can, so that the figure is the hub's.
    private func serve(_ connection: Int32) {
        defer { close(connection) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var start = 0, end = 0
        let answer = Array("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n".utf8)
        var answers = [UInt8]()
        while true {
            if start == end {
                start = 0
                end = 0
            } else if end == buffer.count {
                if start > 0 {
                    buffer.replaceSubrange(0..<(end - start), with: buffer[start..<end])
                    end -= start
                    start = 0
                } else {
                    buffer += [UInt8](repeating: 0, count: buffer.count)
                }
            }
            let n = buffer.withUnsafeMutableBytes { read(connection, $0.baseAddress! + end, $0.count - end) }
            guard n > 0 else { return }
            end += n
            var count = 0
            while let length = Self.requestLength(buffer, from: start, to: end) {
                start += length
                count += 1
            }
            guard count > 0 else { continue }
            received.add(count, ordering: .relaxed)
            answers.removeAll(keepingCapacity: true)
            for _ in 0..<count { answers += answer }
            _ = answers.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
        }
    }

    /// The length of the whole request (head and body) at `start`, or nil when it is not all in.
    static func requestLength(_ bytes: [UInt8], from start: Int, to end: Int) -> Int? {
        let name = Array("content-length:".utf8)
        var i = start, lineStart = start, length = 0
        while i + 3 < end {
            guard bytes[i] == 0x0D, bytes[i + 1] == 0x0A else {
                i += 1
                continue
            }
            // A line ends at i: Content-Length?
            if i - lineStart > name.count {
                var matches = true
                for k in 0..<name.count where bytes[lineStart + k] | 0x20 != name[k] {
                    matches = false
                    break
                }
                if matches {
                    var j = lineStart + name.count
                    while bytes[j] == 0x20 { j += 1 }
                    while j < i, bytes[j] >= 0x30, bytes[j] <= 0x39 {
                        length = length * 10 + Int(bytes[j] - 0x30)
                        j += 1
                    }
                }
            }
            if bytes[i + 2] == 0x0D, bytes[i + 3] == 0x0A {
                let total = i + 4 - start + length
                return start + total <= end ? total : nil
            }
            i += 2
            lineStart = i
        }
        return nil
    }
}
