import Foundation
import Hummingbird
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiModel
import KakehashiTestSupport
import Logging
import ServiceLifecycle
import Synchronization

/// NGSI-LD notifications: the hub's ingest rate with 1,000 active subscriptions against the same
/// ingest with none (same run, alternating); the latency from a reading on the edge broker to its
/// notification at an HTTP receiver is measured beside the alert SSE latency (``AlertScenarios``).
enum NotificationScenarios {
    /// `repeats` runs of each, alternating.
    static func run(repeats: Int, readings: Int, subscriptions: Int) async throws -> (rows: [BenchRow], notes: [String]) {
        let payloads = (0..<(readings / HubScenarios.perBatch)).map { HubScenarios.batchPayload($0) }
        var with = [Double](), without = [Double]()
        var delivered = [Int]()
        for round in 0..<repeats {
            AlertScenarios.progress("notifications: run \(round + 1) of \(repeats), \(payloads.count * HubScenarios.perBatch) readings each")
            let order = round % 2 == 0 ? [0, subscriptions] : [subscriptions, 0]
            for count in order {
                let receiver = try await BenchReceiver(readingLevels: false)
                let rate = try await HubScenarios.ingestRun(payloads, subscriptions: count, endpoint: receiver.uri)
                if count == 0 { without.append(rate) } else { with.append(rate); delivered.append(receiver.count) }
                await receiver.stop()
            }
        }
        return (
            [
                BenchRow(
                    scenario:
                        "Hub ingest with \(subscriptions) active NGSI-LD subscriptions (\(subscriptions / HubScenarios.sensors) per gauge, "
                        + "each with its own q on the level), notifications kept and delivered to an HTTP receiver meanwhile",
                    kakehashi: with,
                    baselineName: "the same ingest with no subscription",
                    baseline: without,
                    unit: "readings/s",
                    higherIsBetter: true
                )
            ],
            [
                "Subscriptions: \(subscriptions) over \(HubScenarios.sensors) gauges, q from waterLevel>3.5 to waterLevel>3.9 (the readings run "
                    + "1.00–3.99 m); notifications received during the ingest runs: \(delivered.map(String.init).joined(separator: ", ")) "
                    + "(goal: ingest at least 80% of the rate with none)."
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
/// (monotonic nanoseconds), with the body's first entity's `waterLevel` (when `readingLevels`: a
/// receiver that only counts does not parse, as it shares the machine with the hub measured).
final class BenchReceiver: Sendable {
    let port: Int
    private final class Log: Sendable {
        let arrivals = Mutex<[(at: UInt64, level: Double?)]>([])
    }

    private let log = Log()
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    init(readingLevels: Bool = true) async throws {
        let port = try TestBroker.freePort()
        self.port = port
        let router = Router()
        let log = self.log
        router.post("**") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 16 << 20)
            let at = DispatchTime.now().uptimeNanoseconds
            let body = readingLevels ? try? JSONValue(parsing: String(buffer: bytes)) : nil
            let level = body?["data"]?.arrayValue?.first?["waterLevel"]?.numberValue
            log.arrivals.withLock { $0.append((at, level)) }
            return Response(status: .noContent)
        }
        let bound = Mutex(false)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "bench-receiver"),
            onServerRunning: { _ in bound.withLock { $0 = true } },
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
    }
}
