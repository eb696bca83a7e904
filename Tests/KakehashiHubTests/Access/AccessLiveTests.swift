import Foundation
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiHubTestSupport
import KakehashiMQTT
import KakehashiModel
import KakehashiTestSupport
import Logging
import Testing

/// Access on the wire: feeds of a real HTTP server, and the central broker's password file and
/// ACL as `kakehashi-hub gateway add` writes them, enforced by a real mosquitto.
@Suite(.serialized) struct AccessLiveTests {
    @Test func revokingAKeyClosesItsOpenFeedAndFeedsPerKeyAreBounded() async throws {
        let configuration = try AccessTests.configuration(limits: "limits: { feeds_per_key: 1 }")
        let keys = try AccessTests.Keys(path: configuration.storagePath)
        let live = try await LiveHub(configuration, access: true)
        defer { Task { await live.stop() } }

        let sse = try SSEClient(port: live.port, path: "/feeds/alerts", headers: ["Authorization": "Bearer \(keys.kurumeReader)"])
        defer { sse.close() }
        try await waitUntil("the feed answers", timeout: .seconds(20)) { sse.status != nil }
        #expect(sse.status == 200)

        // A second feed of the same key is over its limit; another key has its own.
        let second = try SSEClient(port: live.port, path: "/feeds/alerts", headers: ["Authorization": "Bearer \(keys.kurumeReader)"])
        defer { second.close() }
        try await waitUntil("the second feed answers", timeout: .seconds(20)) { second.status != nil }
        #expect(second.status == 429)
        #expect(second.headers["retry-after"] != nil)
        let other = try SSEClient(port: live.port, path: "/feeds/alerts", headers: ["Authorization": "Bearer \(keys.kurumeOperator)"])
        defer { other.close() }
        try await waitUntil("the other key's feed answers", timeout: .seconds(20)) { other.status != nil }
        #expect(other.status == 200)

        // The WebSocket feed: not upgraded without a key (the upgrade handler answers 400) nor
        // with another tenant's name; upgraded with a key that has no feed open yet (one each here).
        let upgrade = [
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        ]
        for (path, key) in [("/feeds/alerts/ws", nil), ("/feeds/alerts/ws?tenant=omuta", keys.kurumeAdmin), ("/feeds/alerts/ws", keys.kurumeAdmin)] {
            var headers = upgrade
            if let key { headers["Authorization"] = "Bearer \(key)" }
            let socket = try SSEClient(port: live.port, path: path, headers: headers)
            defer { socket.close() }
            try await waitUntil("the WebSocket request is answered", timeout: .seconds(20)) { socket.status != nil }
            if key == nil || path.contains("omuta") {
                #expect(socket.status == 400, "\(path)")
            } else {
                #expect(socket.status == 101, "\(path)")
            }
        }

        // Revoked while the feed is open: the hub ends it, and the key's slot is free again
        // for nobody (the key is refused).
        #expect(!sse.ended)
        try keys.store.revokeKey(id: try #require(APIKeySecret(keys.kurumeReader)).id)
        try await waitUntil("the revoked key's feed ends", timeout: .seconds(10)) { sse.ended }
        #expect(!other.ended, "another key's feed stays open")
        let again = try SSEClient(port: live.port, path: "/feeds/alerts", headers: ["Authorization": "Bearer \(keys.kurumeReader)"])
        defer { again.close() }
        try await waitUntil("the revoked key is answered", timeout: .seconds(20)) { again.status != nil }
        #expect(again.status == 401)
    }

    @Test func aGatewayPublishesOnlyUnderItsOwnTenantAndId() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-acl-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let files = BrokerAccessFiles(
            passwordFile: directory.appendingPathComponent("passwd").path,
            aclFile: directory.appendingPathComponent("acl").path,
            hubUser: "kakehashi-hub"
        )
        let mie = try Tenant("mie"), kurume = Readings.kurume
        let gwMie = try GatewayID("gw-mie-01"), gwKurume = try GatewayID("gw-kurume-01")
        try files.setPassword(user: "kakehashi-hub", password: "hub-secret")
        try files.setPassword(user: gwMie.rawValue, password: "mie-secret")
        try files.writeACL(gateways: [(mie, gwMie)])
        let broker = try TestBroker(.init(accessFiles: (files.passwordFile, files.aclFile)))
        try broker.start()
        defer { broker.stop() }

        func client(_ user: String, _ password: String) throws -> MQTTClient {
            var settings = MQTTConfiguration(host: broker.host, port: broker.port, clientID: "\(user)-\(UUID().uuidString.prefix(4))")
            settings.credentials = .init(username: user, password: password)
            return try MQTTClient(configuration: settings, logger: Logger(label: "test"))
        }
        let hub = try client("kakehashi-hub", "hub-secret")
        try await hub.connect()
        let batches = try await hub.subscribe("kakehashi/v1/#", qos: .atLeastOnce)
        let gateway = try client(gwMie.rawValue, "mie-secret")
        try await gateway.connect()

        // Under another tenant's topic (or another gateway's): refused by the broker.
        for forged in [
            WireTopic(tenant: kurume, gateway: gwKurume, kind: .observations), WireTopic(tenant: mie, gateway: gwKurume, kind: .observations),
        ] {
            do {
                try await gateway.publish(forged.name, payload: Array("forged".utf8), qos: .atLeastOnce)
                Issue.record("publishing on \(forged.name) must be refused")
            } catch {
                #expect(error.kind == .publishRejected(reasonCode: 0x87), "\(error)")
            }
        }
        // Its own topic goes through; the hub receives that and nothing else.
        let own = WireTopic(tenant: mie, gateway: gwMie, kind: .observations).name
        try await gateway.publish(own, payload: Array("own".utf8), qos: .atLeastOnce)
        var received = [MQTTMessage]()
        for await message in batches {
            received.append(message)
            if message.topic == own { break }
        }
        #expect(received.map(\.topic) == [own])
        #expect(received.map { String(decoding: $0.payload, as: UTF8.self) } == ["own"])

        // A wrong password is refused.
        let impostor = try client(gwMie.rawValue, "guess")
        await #expect(throws: MQTTError.self) { try await impostor.connect() }

        // A gateway added later can publish once the broker reloads its files.
        try files.setPassword(user: gwKurume.rawValue, password: "kurume-secret")
        try files.writeACL(gateways: [(mie, gwMie), (kurume, gwKurume)])
        broker.reload()
        let deadline = ContinuousClock.now + .seconds(10)
        var connected: MQTTClient?
        while connected == nil {
            let attempt = try client(gwKurume.rawValue, "kurume-secret")
            do {
                try await attempt.connect()
                connected = attempt
            } catch {
                guard ContinuousClock.now < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let newcomer = try #require(connected)
        let kurumeTopic = WireTopic(tenant: kurume, gateway: gwKurume, kind: .observations).name
        try await newcomer.publish(kurumeTopic, payload: Array("k".utf8), qos: .atLeastOnce)
        for await message in batches where message.topic == kurumeTopic { break }
        await newcomer.disconnect()
        await gateway.disconnect()
        await hub.disconnect()
    }
}
