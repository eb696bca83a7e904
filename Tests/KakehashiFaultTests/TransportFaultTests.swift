import Foundation
import KakehashiTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Faults where readings used to be lost, on the whole chain of real processes: each run counts
/// what the sensors' edge broker accepted against what the hub's database holds. Nothing may be
/// missing (a reading accepted is a reading stored) and the database cannot hold a reading twice
/// (its key is tenant, entity, attribute and observation time), so the sets must be equal.
@Suite(.serialized, .enabled(if: SlowTests.enabled, "slow: deploy/test --fast skips it")) struct TransportFaultTests {
    static let total = 4_000
    static let rate = 250

    /// Runs the publisher, applies `fault` once a third of the readings are out, then waits until
    /// the hub stored everything accepted (or the deadline) and checks the sets.
    func run(
        consumers: Int,
        _ name: String,
        expectResends: Bool = false,
        ngsiLD: Bool = false,
        fault: @escaping @Sendable (Chain) async throws -> Void
    ) async throws {
        let chain = try Chain(consumers: consumers, ngsiLD: ngsiLD)
        try await chain.startHub()
        try await chain.startGateway()
        let publisher = Publisher()
        let publishing = Task { try await publisher.run(chain: chain, total: Self.total, perSecond: Self.rate) }
        // A bound for failure only (about 6 s when the machine is free): started at the peak of a
        // full run, the brokers, gateway and hub were once not all up within 60 s.
        try await waitUntil("a third of the readings are out", timeout: .seconds(180)) { publisher.accepted.withLock { $0.count } >= Self.total / 3 }
        try await fault(chain)
        try await publishing.value
        let accepted = publisher.accepted.withLock { $0 }
        let attempted = publisher.attempted.withLock { $0 }
        #expect(accepted.count == Self.total)
        var stored = Set<String>()
        do {
            try await waitUntil("the hub stored every accepted reading", timeout: .seconds(120)) {
                stored = try chain.stored()
                return stored.isSuperset(of: accepted)
            }
        } catch {
            let missing = accepted.subtracting(stored).count
            let gatewayLog = String(chain.gatewayLog.suffix(3000)), hubLog = String(chain.hubLog.suffix(2000))
            Issue.record("\(name): \(missing) of \(accepted.count) accepted readings missing at the hub\ngateway: \(gatewayLog)\nhub: \(hubLog)")
        }
        #expect(stored.isSubset(of: attempted), "\(name): readings the sensors never sent")
        // The outbox empties: every batch confirmed.
        try await waitUntil("the outbox is empty", timeout: .seconds(60)) { chain.outboxDepth == 0 }
        let resent = chain.gatewayMetric("kakehashi_gateway_batches_resent_total") ?? -1
        print("fault \(name): \(stored.count) of \(accepted.count) accepted readings stored, \(Int(resent)) batches sent again")
        // The metrics say what happened: batches the hub could not confirm in time went again.
        if expectResends { #expect(resent > 0) }
        #expect(await chain.stopGateway() == 0)
        await chain.stopHub()
    }

    /// The central broker restarts and the hub comes back last: with two ingest sessions sharing
    /// a subscription, mosquitto acknowledges the gateway's batches and routes them to no one until
    /// a hub session is back; the hub's confirmation is what makes the gateway send them again.
    @Test(.timeLimit(.minutes(4)), arguments: [1, 2])
    func centralBrokerRestartWithTheHubBackLast(consumers: Int) async throws {
        try await run(consumers: consumers, "central restart, hub last, \(consumers) consumer(s)", expectResends: true) { chain in
            await chain.stopHub()
            chain.central.stop()
            try chain.central.start()
            // The gateway reconnects first and publishes for a while with no hub session online.
            try await waitUntil("the gateway publishes again", timeout: .seconds(30)) {
                (chain.gatewayMetric("kakehashi_gateway_uplink_connected") ?? 0) == 1
            }
            try await Task.sleep(for: .seconds(3))  // an outage of the hub, not a synchronization
            try await chain.startHub()
        }
    }

    /// The gateway sends to the hub's NGSI-LD API over HTTP (`central.kind: ngsi-ld`), and the hub
    /// is killed and comes back after an outage: the batches it did not answer are sent again
    /// from the outbox; nothing is lost and nothing stored twice.
    @Test(.timeLimit(.minutes(4)))
    func ngsiLDUplinkAcrossAHubOutage() async throws {
        try await run(consumers: 1, "ngsi-ld uplink, hub SIGKILL", ngsiLD: true) { chain in
            await chain.stopHub(SIGKILL)
            try await waitUntil("the gateway sees the broker gone", timeout: .seconds(30)) {
                (chain.gatewayMetric("kakehashi_gateway_uplink_connected") ?? 1) == 0
            }
            try await Task.sleep(for: .seconds(3))  // an outage of the hub, not a synchronization
            try await chain.startHub()
        }
    }

    /// Readings the NGSI-LD broker refuses (here: older than the hub's `max_reading_age`) leave
    /// the outbox as dead letters with the broker's reason; the uplink goes on.
    @Test(.timeLimit(.minutes(3)))
    func readingsAnNGSILDBrokerRefusesAreDeadLettered() async throws {
        let chain = try Chain(consumers: 1, ngsiLD: true, hubLimits: "{ max_reading_age: 30d }")
        try await chain.startHub()
        try await chain.startGateway()
        let publisher = Publisher()
        try await publisher.run(chain: chain, total: 300, perSecond: 300)
        let accepted = publisher.accepted.withLock { $0.count }
        #expect(accepted == 300)
        var letters = [(reason: String, detail: String)]()
        do {
            try await waitUntil("every reading is a dead letter at the gateway", timeout: .seconds(60)) {
                letters = try chain.gatewayDeadLetters()
                return letters.count >= accepted
            }
        } catch {
            Issue.record("\(letters.count) of \(accepted) dead letters\ngateway: \(chain.gatewayLog.suffix(3000))")
        }
        #expect(letters.count == accepted)
        #expect(
            letters.allSatisfy { $0.reason == "refused_by_broker" && $0.detail.contains("max_reading_age") },
            "\(letters.first.map { "\($0)" } ?? "")"
        )
        try await waitUntil("the outbox is empty", timeout: .seconds(30)) { chain.outboxDepth == 0 }
        #expect(try chain.stored().isEmpty)
        #expect(await chain.stopGateway() == 0)
        await chain.stopHub()
    }

    /// The central broker is killed (no chance to save) and started again.
    @Test(.timeLimit(.minutes(4)))
    func centralBrokerKilled() async throws {
        try await run(consumers: 2, "central SIGKILL") { chain in
            chain.central.stop(signal: SIGKILL)
            try chain.central.start()
        }
    }

    /// The edge broker restarts mid-burst (its persistence keeps what waits for the gateway).
    @Test(.timeLimit(.minutes(4)))
    func edgeBrokerRestarted() async throws {
        try await run(consumers: 2, "edge restart") { chain in
            chain.edge.stop()
            try chain.edge.start()
        }
    }

    /// The hub is killed mid-burst and started again a little later.
    @Test(.timeLimit(.minutes(4)))
    func hubKilled() async throws {
        try await run(consumers: 2, "hub SIGKILL") { chain in
            await chain.stopHub(SIGKILL)
            try await Task.sleep(for: .seconds(2))  // an outage of the hub, not a synchronization
            try await chain.startHub()
        }
    }
}
