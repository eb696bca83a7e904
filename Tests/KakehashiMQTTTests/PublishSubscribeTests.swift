import Foundation
import KakehashiTestSupport
import Testing

@testable import KakehashiMQTT

/// Publish and subscribe against a real mosquitto on loopback.
@Suite(.serialized)
struct PublishSubscribeTests {
    @Test(arguments: MQTTQoS.allCases, [MQTTProtocolVersion.v5, .v311])
    func roundTripAtEachQoS(qos: MQTTQoS, version: MQTTProtocolVersion) async throws {
        let broker = try Fixtures.startedBroker()
        let subscriber = try await Fixtures.connectedClient(Fixtures.configuration(broker, version: version))
        let publisher = try await Fixtures.connectedClient(Fixtures.configuration(broker, version: version))
        let subscription = try await subscriber.subscribe("kakehashi/test/qos", qos: qos)
        for i in 0..<20 {
            try await publisher.publish("kakehashi/test/qos", payload: Array("reading \(i)".utf8), qos: qos)
        }
        let messages = try await collect(subscription, count: 20)
        #expect(messages.map { String(decoding: $0.payload, as: UTF8.self) } == (0..<20).map { "reading \($0)" })
        #expect(messages.allSatisfy { $0.qos == qos && !$0.retain })
        #expect(publisher.statistics.messagesPublished == 20)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test func wildcardsDeliverExactlyTheMatchingTopics() async throws {
        let broker = try Fixtures.startedBroker()
        let client = try await Fixtures.connectedClient(Fixtures.configuration(broker))
        let levels = try await client.subscribe("flood/+/level", qos: .atLeastOnce)
        let city = try await client.subscribe("city/#", qos: .atLeastOnce)
        let topics = ["flood/g1/level", "flood/g2/level", "flood/g1/battery", "flood/g1/level/raw", "city", "city/a/b/c", "other/x"]
        for topic in topics { try await client.publish(topic, payload: Array(topic.utf8), qos: .atLeastOnce) }
        #expect(try await collect(levels, count: 2).map(\.topic) == ["flood/g1/level", "flood/g2/level"])
        // `city/#` matches the parent level `city` too (MQTT 3.1.1 §4.7.1.2).
        #expect(try await collect(city, count: 2).map(\.topic) == ["city", "city/a/b/c"])
        #expect(levels.received == 2 && city.received == 2)
        await client.disconnect()
    }

    /// Two sessions on one `$share/<group>/<filter>` subscription: the broker hands each message
    /// to exactly one of them, and each routes it to its subscription although the topic does
    /// not start with `$share`.
    @Test func sharedSubscriptionSplitsMessagesBetweenSessions() async throws {
        let broker = try Fixtures.startedBroker()
        let first = try await Fixtures.connectedClient(Fixtures.configuration(broker))
        let second = try await Fixtures.connectedClient(Fixtures.configuration(broker))
        let a = try await first.subscribe("$share/hub/flood/+/level", qos: .atLeastOnce)
        let b = try await second.subscribe("$share/hub/flood/+/level", qos: .atLeastOnce)
        let publisher = try await Fixtures.connectedClient(Fixtures.configuration(broker))
        let topics = (0..<20).map { "flood/g\($0)/level" }
        for topic in topics { try await publisher.publish(topic, payload: Array(topic.utf8), qos: .atLeastOnce) }
        try await waitUntil("all 20 messages are delivered", timeout: .seconds(10)) { a.received + b.received >= 20 }
        let got = try await collect(a, count: a.received).map(\.topic) + (try await collect(b, count: b.received).map(\.topic))
        #expect(got.sorted() == topics.sorted())
        #expect(a.received > 0 && b.received > 0)
        #expect(ClientCore.matches(filter: "$share/hub/flood/+/level", topic: "flood/g1/level"))
        #expect(!ClientCore.matches(filter: "$share/hub/flood/+/level", topic: "flood/g1/battery"))
        for client in [first, second, publisher] { await client.disconnect() }
    }

    @Test func invalidFiltersAndTopicsAreRejectedBeforeSending() async throws {
        let broker = try Fixtures.startedBroker()
        let client = try await Fixtures.connectedClient(Fixtures.configuration(broker))
        for filter in ["flood/#/level", "flood/g+/level", ""] {
            await #expect(throws: MQTTError.self) { _ = try await client.subscribe(filter, qos: .atMostOnce) }
        }
        for topic in ["flood/+/level", "city/#", ""] {
            do {
                try await client.publish(topic, payload: [1], qos: .atLeastOnce)
                Issue.record("publishing to \(topic) must fail")
            } catch {
                #expect(error.kind == .invalidArgument)
                #expect(topic.isEmpty || error.description.contains(topic))
            }
        }
        await client.disconnect()
    }

    @Test func retainedMessageReachesALateSubscriber() async throws {
        let broker = try Fixtures.startedBroker()
        let publisher = try await Fixtures.connectedClient(Fixtures.configuration(broker))
        try await publisher.publish("kakehashi/v1/kurume/gw-01/status", payload: Array("online".utf8), qos: .atLeastOnce, retain: true)
        let late = try await Fixtures.connectedClient(Fixtures.configuration(broker))
        let status = try await late.subscribe("kakehashi/v1/+/+/status", qos: .atLeastOnce)
        let messages = try await collect(status, count: 1)
        #expect(messages.first?.retain == true)
        #expect(messages.first?.payload == Array("online".utf8))
        await publisher.disconnect()
        await late.disconnect()
    }

    @Test func lastWillIsPublishedOnAnAbruptDisconnect() async throws {
        let broker = try Fixtures.startedBroker()
        let watcher = try await Fixtures.connectedClient(Fixtures.configuration(broker))
        let status = try await watcher.subscribe("kakehashi/v1/kurume/gw-07/status", qos: .atLeastOnce)
        var configuration = Fixtures.configuration(broker, id: "gw-07")
        configuration.keepAlive = 5
        configuration.will = .init(topic: "kakehashi/v1/kurume/gw-07/status", payload: Array("offline".utf8), qos: .atLeastOnce, retain: true)
        let gateway = try await Fixtures.connectedClient(configuration)
        try await gateway.publish("kakehashi/v1/kurume/gw-07/status", payload: Array("online".utf8), qos: .atLeastOnce, retain: true)
        gateway.simulateNetworkFailure()
        let messages = try await collect(status, count: 2)
        #expect(messages.map { String(decoding: $0.payload, as: UTF8.self) } == ["online", "offline"])
        await gateway.disconnect()
        await watcher.disconnect()
    }

    @Test func cleanDisconnectDoesNotPublishTheWill() async throws {
        let broker = try Fixtures.startedBroker()
        let watcher = try await Fixtures.connectedClient(Fixtures.configuration(broker))
        let status = try await watcher.subscribe("will/#", qos: .atLeastOnce)
        var configuration = Fixtures.configuration(broker)
        configuration.will = .init(topic: "will/gw", payload: Array("offline".utf8))
        let gateway = try await Fixtures.connectedClient(configuration)
        await gateway.disconnect()
        // A marker published after the disconnect arrives; the will, had it been sent, would precede it.
        try await watcher.publish("will/marker", payload: [1], qos: .atLeastOnce)
        #expect(try await collect(status, count: 1).map(\.topic) == ["will/marker"])
        await watcher.disconnect()
    }

    @Test func largeEmptyAndMultibytePayloadsAndTopics() async throws {
        let broker = try Fixtures.startedBroker()
        let client = try await Fixtures.connectedClient(Fixtures.configuration(broker))
        let topic = "都市/久留米/水位センサー/🌊"
        let subscription = try await client.subscribe("都市/+/水位センサー/#", qos: .exactlyOnce)
        var large = [UInt8](repeating: 0, count: 1 << 20)
        for i in large.indices { large[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13) }
        try await client.publish(topic, payload: large, qos: .atLeastOnce)
        try await client.publish(topic, payload: [UInt8](), qos: .exactlyOnce)
        let messages = try await collect(subscription, count: 2)
        #expect(messages[0].topic == topic)
        #expect(messages[0].payload.count == 1 << 20)
        #expect(messages[0].payload == large)
        #expect(messages[1].payload.isEmpty)
        await client.disconnect()
    }

    @Test func mqtt5PropertiesAreDelivered() async throws {
        let broker = try Fixtures.startedBroker()
        let client = try await Fixtures.connectedClient(Fixtures.configuration(broker))
        let subscription = try await client.subscribe("props/#", qos: .atLeastOnce)
        let properties = MQTTMessageProperties(
            contentType: "application/json",
            payloadIsUTF8: true,
            messageExpiryInterval: 600,
            responseTopic: "props/reply",
            correlationData: [1, 2, 3],
            userProperties: [("tenant", "kurume"), ("gateway", "gw-01")]
        )
        try await client.publish("props/x", payload: Array("{}".utf8), qos: .atLeastOnce, properties: properties)
        let received = try #require(try await collect(subscription, count: 1).first?.properties)
        #expect(received.contentType == "application/json")
        #expect(received.payloadIsUTF8 == true)
        #expect(received.responseTopic == "props/reply")
        #expect(received.correlationData == [1, 2, 3])
        #expect(received.userProperties.map(\.name) == ["tenant", "gateway"])
        #expect(received.userProperties.map(\.value) == ["kurume", "gw-01"])
        #expect((received.messageExpiryInterval ?? 0) > 0 && (received.messageExpiryInterval ?? 0) <= 600)
        await client.disconnect()
    }

    @Test func dropNewestPolicyCountsWhatASlowConsumerMissed() async throws {
        let broker = try Fixtures.startedBroker()
        var configuration = Fixtures.configuration(broker)
        configuration.bufferCapacity = 10
        configuration.overflowPolicy = .dropNewest
        let client = try await Fixtures.connectedClient(configuration)
        let subscription = try await client.subscribe("burst/#", qos: .atLeastOnce)
        let publisher = try await Fixtures.connectedClient(Fixtures.configuration(broker))
        for i in 0..<100 { try await publisher.publish("burst/\(i)", payload: [UInt8(i)], qos: .atLeastOnce) }
        // Nobody reads: 10 are kept, 90 counted as dropped, none lost silently.
        try await waitUntil { subscription.received + subscription.dropped == 100 }
        #expect(subscription.received == 10)
        #expect(subscription.dropped == 90)
        #expect(try await collect(subscription, count: 10).map(\.topic) == (0..<10).map { "burst/\($0)" })
        await publisher.disconnect()
        await client.disconnect()
    }
}
