import Foundation
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiHubTestSupport
import KakehashiMQTT
import KakehashiModel
import KakehashiTestSupport
import Logging
import Synchronization
import Testing
import WSClient

/// The same alert events over WebSocket and MQTT, from a running hub.
@Suite(.serialized) struct AlertFeedTransportTests {
    final class Received: Sendable {
        let messages = Mutex<[JSONValue]>([])
        var all: [JSONValue] { messages.withLock { $0 } }
        var ids: [Int64] { all.compactMap { $0["id"]?.numberValue.map { Int64($0) } } }
        func add(_ text: String) { if let json = try? JSONValue(parsing: text) { messages.withLock { $0.append(json) } } }
        /// Why the client's connection ended with an error, if it did.
        let failure = Mutex<String?>(nil)
        var failed: String? { failure.withLock { $0 } }
    }

    static func webSocket(port: Int, query: String, into received: Received) -> Task<Void, any Error> {
        Task {
            do {
                let url = "ws://127.0.0.1:\(port)/feeds/alerts/ws?\(query)"
                try await WebSocketClient.connect(url: url, logger: Logger(label: "ws")) { inbound, _, _ in
                    for try await message in inbound.messages(maxSize: 1 << 16) {
                        if case .text(let text) = message { received.add(text) }
                    }
                }
            } catch {
                received.failure.withLock { $0 = "\(error)" }
                throw error
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func webSocketAndMQTTCarryTheSameEventsAndWebSocketResumes() async throws {
        let broker = try TestBroker()
        try broker.start()
        defer { broker.stop() }
        var configuration = try HubAlertTests.configuration()
        configuration.broker = MQTTConfiguration(host: broker.host, port: broker.port, clientID: "hub-alerts-test")
        let listener = try MQTTClient(configuration: MQTTConfiguration(host: broker.host, port: broker.port, clientID: "alert-listener"))
        try await listener.connect()
        let topic = try #require(WireTopic.alerts(tenant: Readings.kurume) as String?)
        #expect(topic == "kakehashi/v1/kurume/alerts")
        let subscription = try await listener.subscribe(topic, qos: .atLeastOnce)
        let overMQTT = Received()
        let listening = Task { for await message in subscription { overMQTT.add(String(decoding: message.payload, as: UTF8.self)) } }
        defer { listening.cancel() }

        let live = try await LiveHub(configuration)
        let overWebSocket = Received()
        let first = Self.webSocket(port: live.port, query: "tenant=kurume", into: overWebSocket)
        // The upgrade is in place once the feed has a client (30 s: the whole suite runs beside it on 2 cores).
        try await waitUntil("the WebSocket client is connected", timeout: .seconds(30)) {
            live.hub.alerts.feed.clientCount == 1 || overWebSocket.failed != nil
        }
        #expect(overWebSocket.failed == nil, "the WebSocket connection failed: \(overWebSocket.failed ?? "")")
        for (minutes, level) in [(0, 2.5), (5, 3.2), (10, 1.0)] {
            try await HubAlertTests.upsert([HubAlertTests.gauge("g1", level, minutes: Int64(minutes))], port: live.port)
        }
        try await waitUntil("three events over WebSocket", timeout: .seconds(30)) { overWebSocket.ids.count >= 3 }
        try await waitUntil("three events over MQTT", timeout: .seconds(30)) { overMQTT.ids.count >= 3 }
        #expect(overWebSocket.ids == [1, 2, 3])
        #expect(overWebSocket.all.compactMap { $0["kind"]?.stringValue } == ["raised", "escalated", "cleared"])
        #expect(overMQTT.all == overWebSocket.all)
        first.cancel()

        // A second connection resuming after event 1 gets 2 and 3 from storage, then live ones.
        let resumed = Received()
        let second = Self.webSocket(port: live.port, query: "tenant=kurume&lastEventId=1", into: resumed)
        try await waitUntil("the stored events", timeout: .seconds(30)) { resumed.ids.count >= 2 }
        try await HubAlertTests.upsert([HubAlertTests.gauge("g1", 2.2, minutes: 15)], port: live.port)
        try await waitUntil("the live event", timeout: .seconds(30)) { resumed.ids.count >= 3 }
        #expect(resumed.ids == [2, 3, 4])
        second.cancel()
        await live.stop()
        await listener.disconnect()
    }
}
