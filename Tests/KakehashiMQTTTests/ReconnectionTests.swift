import Foundation
import KakehashiTestSupport
import Synchronization
import Testing

@testable import KakehashiMQTT

/// The broker goes away and comes back: nothing accepted is lost, subscriptions return by themselves.
@Suite(.serialized)
struct ReconnectionTests {
    static let total = 10_000

    @Test(.enabled(if: SlowTests.enabled, "slow: deploy/test --fast skips it")) func brokerRestartDuringTenThousandQoS1MessagesLosesNone()
        async throws
    {
        let broker = try Fixtures.startedBroker()
        var subscriberConfiguration = Fixtures.configuration(broker, id: "restart-subscriber")
        subscriberConfiguration.session = .persistent
        subscriberConfiguration.bufferCapacity = Self.total
        var publisherConfiguration = Fixtures.configuration(broker, id: "restart-publisher")
        publisherConfiguration.session = .persistent
        publisherConfiguration.inflightWindow = 64
        let subscriber = try await Fixtures.connectedClient(subscriberConfiguration)
        let subscription = try await subscriber.subscribe("load/#", qos: .atLeastOnce)
        let publisher = try await Fixtures.connectedClient(publisherConfiguration)

        let receiving = Task { () -> (distinct: Int, deliveries: Int) in
            var seen = Set<Int>()
            var deliveries = 0
            for await message in subscription {
                deliveries += 1
                if let id = Int(String(decoding: message.payload, as: UTF8.self)) { seen.insert(id) }
                if seen.count == Self.total { break }
            }
            return (seen.count, deliveries)
        }
        let sending = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<32 {
                    group.addTask {
                        for id in stride(from: lane, to: Self.total, by: 32) {
                            try await publisher.publish("load/\(id % 10)", payload: Array(String(id).utf8), qos: .atLeastOnce)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }

        try await waitUntil(timeout: .seconds(60)) { publisher.statistics.messagesPublished >= 3000 }
        broker.stop()  // SIGTERM: mosquitto saves its sessions and queues, as on a service restart
        #expect(!broker.acceptsConnections())
        try broker.start()

        try await sending.value
        try await waitUntil(timeout: .seconds(60)) { subscription.received >= Self.total }
        let outcome = await receiving.value
        #expect(outcome.distinct == Self.total, "every message arrived (duplicates allowed at QoS 1)")
        #expect(outcome.deliveries >= Self.total)
        #expect(publisher.statistics.messagesPublished == Self.total)
        #expect(publisher.statistics.connections >= 2, "the publisher reconnected by itself")
        #expect(subscriber.statistics.connections >= 2, "the subscriber reconnected by itself")
        #expect(subscriber.statistics.subscriptionsGranted >= 2, "and renewed its subscription")
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test func cleanSessionSubscriptionComesBackAfterTheBrokerForgotIt() async throws {
        let broker = try Fixtures.startedBroker()
        let subscriber = try await Fixtures.connectedClient(Fixtures.configuration(broker))
        let subscription = try await subscriber.subscribe("after/#", qos: .atLeastOnce)
        #expect(subscriber.statistics.subscriptionsGranted == 1)
        broker.stop(signal: SIGKILL)  // a crash: the broker keeps nothing of a clean session
        try broker.start()
        try await waitUntil(timeout: .seconds(20)) { subscriber.statistics.subscriptionsGranted >= 2 }
        let publisher = try await Fixtures.connectedClient(Fixtures.configuration(broker))
        try await publisher.publish("after/restart", payload: Array("back".utf8), qos: .atLeastOnce)
        #expect(try await collect(subscription, count: 1).first?.payload == Array("back".utf8))
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// A QoS 2 publish made while the broker is down completes once it is back, and the message
    /// reaches a subscriber (whose persistent session kept its subscription across the restart).
    @Test func publishWhileTheBrokerIsDownCompletesOnceItIsBack() async throws {
        let broker = try Fixtures.startedBroker()
        var configuration = Fixtures.configuration(broker, id: "patient")
        configuration.session = .persistent
        let publisher = try await Fixtures.connectedClient(configuration)
        var watching = Fixtures.configuration(broker, id: "watcher")
        watching.session = .persistent
        let watcher = try await Fixtures.connectedClient(watching)
        let subscription = try await watcher.subscribe("down/x", qos: .exactlyOnce)
        let received = Mutex<[[UInt8]]>([])
        let reading = Task { for await message in subscription { received.withLock { $0.append(message.payload) } } }
        broker.stop()
        let pending = Task { try await publisher.publish("down/x", payload: [7], qos: .exactlyOnce) }
        try await waitUntil {
            if case .waitingToRetry = publisher.state { return true }; if case .connecting = publisher.state { return true }; return false
        }
        try broker.start()
        try await waitUntil(timeout: .seconds(20)) { publisher.statistics.messagesPublished == 1 }
        try await pending.value
        // The delivery it names: the subscriber gets the message, once.
        try await waitUntil(timeout: .seconds(20)) { received.withLock { $0 } == [[7]] }
        await publisher.disconnect()
        await watcher.disconnect()
        reading.cancel()
        #expect(received.withLock { $0 } == [[7]])
    }
}
