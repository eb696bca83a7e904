import Foundation
import KakehashiTestSupport
import Testing

@testable import KakehashiMQTT

/// Credentials, ACL and TLS against a real mosquitto.
@Suite(.serialized)
struct SecurityTests {
    static let users = ["gw-01": "correct horse", "reader": "battery staple"]
    static let acl = """
        user gw-01
        topic readwrite kakehashi/v1/kurume/gw-01/#

        user reader
        topic read kakehashi/v1/#
        """

    @Test(arguments: [MQTTProtocolVersion.v5, .v311])
    func wrongPasswordIsATypedRefusal(version: MQTTProtocolVersion) async throws {
        let broker = try Fixtures.startedBroker(.init(users: Self.users))
        var configuration = Fixtures.configuration(broker, id: "gw-01", version: version)
        configuration.credentials = .init(username: "gw-01", password: "wrong")
        let client = try MQTTClient(configuration: configuration)
        do {
            try await client.connect()
            Issue.record("connecting with a wrong password must fail")
        } catch {
            // mosquitto answers a failed password check with "not authorized" (3.1.1 code 5, MQTT 5 0x87);
            // other brokers say "bad user name or password": both are permanent refusals.
            #expect(error.kind == .connectionRefused(.notAuthorized) || error.kind == .connectionRefused(.badCredentials), "\(error)")
            #expect(error.code == (version == .v5 ? 0x87 : 5))
            #expect(error.broker == "127.0.0.1:\(broker.port)")
            #expect(error.description.contains("refused"))
            #expect(!error.description.contains("wrong"), "the password never appears in messages")
        }
        if case .stopped(let error?) = client.state {
            #expect(error.operation == "connect")
        } else {
            Issue.record("client must stop: \(client.state)")
        }
        // A later operation fails clearly instead of hanging.
        await #expect(throws: MQTTError.self) { try await client.publish("kakehashi/v1/kurume/gw-01/obs", payload: [1], qos: .atLeastOnce) }
    }

    @Test func rightPasswordAndACL() async throws {
        let broker = try Fixtures.startedBroker(.init(users: Self.users, acl: Self.acl))
        var gateway = Fixtures.configuration(broker, id: "gw-01")
        gateway.credentials = .init(username: "gw-01", password: "correct horse")
        var reader = Fixtures.configuration(broker, id: "reader")
        reader.credentials = .init(username: "reader", password: "battery staple")
        let gw = try await Fixtures.connectedClient(gateway)
        let hub = try await Fixtures.connectedClient(reader)
        let batches = try await hub.subscribe("kakehashi/v1/+/+/obs", qos: .atLeastOnce)
        try await gw.publish("kakehashi/v1/kurume/gw-01/obs", payload: Array("batch".utf8), qos: .atLeastOnce)
        #expect(try await collect(batches, count: 1).first?.topic == "kakehashi/v1/kurume/gw-01/obs")
        // Outside its ACL the broker rejects the publish (MQTT 5 reason 0x87): a typed error, not silence.
        do {
            try await gw.publish("kakehashi/v1/other/gw-01/obs", payload: [1], qos: .atLeastOnce)
            Issue.record("publishing outside the ACL must fail")
        } catch {
            #expect(error.kind == .publishRejected(reasonCode: 0x87), "\(error)")
            #expect(error.description.contains("kakehashi/v1/other/gw-01/obs"))
        }
        await gw.disconnect()
        await hub.disconnect()
    }

    @Test func tlsWithServerCertificate() async throws {
        let broker = try Fixtures.startedBroker(.init(tls: .serverCertificate))
        let pki = try #require(broker.certificates)
        var configuration = Fixtures.configuration(broker)
        configuration.tls = .init(caFile: pki.caFile)
        let client = try await Fixtures.connectedClient(configuration)
        let subscription = try await client.subscribe("tls/#", qos: .atLeastOnce)
        try await client.publish("tls/x", payload: Array("secret".utf8), qos: .atLeastOnce)
        #expect(try await collect(subscription, count: 1).first?.payload == Array("secret".utf8))
        await client.disconnect()

        // A CA that did not sign the broker's certificate: a TLS error, reported at once.
        var wrongCA = Fixtures.configuration(broker)
        wrongCA.tls = .init(caFile: pki.otherCAFile)
        let untrusting = try MQTTClient(configuration: wrongCA)
        await #expect { try await untrusting.connect() } throws: { ($0 as? MQTTError)?.kind == .tls }
    }

    @Test func tlsWithClientCertificate() async throws {
        let broker = try Fixtures.startedBroker(.init(tls: .clientCertificateRequired))
        let pki = try #require(broker.certificates)
        var configuration = Fixtures.configuration(broker)
        configuration.tls = .init(caFile: pki.caFile, certificateFile: pki.clientCertificateFile, keyFile: pki.clientKeyFile)
        let client = try await Fixtures.connectedClient(configuration)
        let subscription = try await client.subscribe("mtls/#", qos: .exactlyOnce)
        try await client.publish("mtls/x", payload: [42], qos: .exactlyOnce)
        #expect(try await collect(subscription, count: 1).first?.payload == [42])
        await client.disconnect()

        // Without a certificate the broker ends the handshake: the client does not get in.
        var anonymous = Fixtures.configuration(broker)
        anonymous.tls = .init(caFile: pki.caFile)
        let refused = try MQTTClient(configuration: anonymous)
        let outcome = Task { try await refused.connect() }
        try await waitUntil {
            refused.statistics.connectionFailures > 0
                || {
                    if case .stopped = refused.state { return true }; return false
                }()
        }
        #expect(refused.statistics.connections == 0)
        await refused.disconnect()
        await #expect(throws: MQTTError.self) { try await outcome.value }
    }

    @Test func missingCertificateFileIsAClearConfigurationError() throws {
        var configuration = MQTTConfiguration(host: "127.0.0.1", port: 1, clientID: "x")
        configuration.tls = .init(caFile: "/nonexistent/ca.pem")
        #expect { _ = try MQTTClient(configuration: configuration) } throws: { error in
            let error = error as? MQTTError
            return error?.kind == .invalidArgument && error?.description.contains("/nonexistent/ca.pem") == true
        }
    }
}
