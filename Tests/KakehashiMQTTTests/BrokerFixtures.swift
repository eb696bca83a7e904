import Foundation
import KakehashiTestSupport

@testable import KakehashiMQTT

/// Client configurations and collection helpers for tests against a real broker.
enum Fixtures {
    static func configuration(
        _ broker: TestBroker,
        id: String = "t-\(UUID().uuidString.prefix(8))",
        version: MQTTProtocolVersion = .v5
    ) -> MQTTConfiguration {
        var configuration = MQTTConfiguration(host: broker.host, port: broker.port, clientID: id)
        configuration.protocolVersion = version
        configuration.reconnect = Backoff(initial: .milliseconds(50), maximum: .milliseconds(500), multiplier: 2, jitter: 0.5)
        return configuration
    }

    static func startedBroker(_ options: TestBroker.Options = .init()) throws -> TestBroker {
        let broker = try TestBroker(options)
        try broker.start()
        return broker
    }

    static func connectedClient(_ configuration: MQTTConfiguration) async throws -> MQTTClient {
        let client = try MQTTClient(configuration: configuration)
        try await client.connect()
        return client
    }
}

/// Collects `count` messages from a subscription, failing after `timeout`.
func collect(_ subscription: MQTTSubscription, count: Int, timeout: Duration = .seconds(10)) async throws -> [MQTTMessage] {
    try await withThrowingTaskGroup(of: [MQTTMessage]?.self) { group in
        group.addTask {
            var messages = [MQTTMessage]()
            for await message in subscription {
                messages.append(message)
                if messages.count == count { break }
            }
            return messages
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        let first = try await group.next()!
        group.cancelAll()
        subscription.cancel()
        guard let messages = first else { throw CollectTimeout(expected: count) }
        return messages
    }
}

struct CollectTimeout: Error, CustomStringConvertible {
    let expected: Int
    var description: String { "fewer than \(expected) messages arrived before the deadline" }
}
