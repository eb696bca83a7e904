import Foundation
import KakehashiGateway
import KakehashiModel
import Testing

/// Sensors without a clock (`timestamp: arrival`): a burst that arrives within one millisecond
/// still gives one reading per message, 1 ms apart, so the hub's exactly-once key keeps them all.
struct ArrivalTimeTests {
    @Test func aBurstOfOneSensorInOneMillisecondGivesStrictlyIncreasingTimes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-arrival-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let devices = """
            devices:
              - { id: c1, type: CrowdFlowObserved, location: { lat: 33.3, lon: 130.5 } }
              - { id: c2, type: CrowdFlowObserved, location: { lat: 33.3, lon: 130.5 } }

            """
        try devices.write(to: directory.appendingPathComponent("devices.yaml"), atomically: true, encoding: .utf8)
        let yaml = """
            tenant: kurume
            gateway: gw-1
            central: { host: 127.0.0.1 }
            outbox: { path: \(directory.appendingPathComponent("outbox.sqlite").path) }
            devices: devices.yaml
            sources:
              - name: edge
                kind: mqtt
                broker: { host: 127.0.0.1 }
                topics:
                  - pattern: counters/{sensor}
                    format: json
                    timestamp: arrival
                    values:
                      - { attribute: peopleCount, field: count }
            """
        let configuration = try GatewayConfiguration.parse(yaml: yaml, file: "gw.yaml", baseDirectory: directory.path, environment: [:])
        guard case .mqtt(let mqtt) = configuration.sources[0].kind else { Issue.record("an MQTT source"); return }
        let ingest = Ingest(
            factory: EntityFactory(tenant: configuration.tenant, registry: configuration.registry),
            outbox: configuration.outbox,
            limits: configuration.limits,
            metrics: GatewayMetrics()
        )
        let now = Timestamp(millisecondsSinceEpoch: 1_780_400_000_000)
        var times = [String: [Int64]]()
        for index in 0..<1_000 {
            let sensor = index % 10 == 0 ? "c2" : "c1"
            let outcome = ingest.readings(
                payload: Array(#"{"count": \#(index)}"#.utf8),
                topic: "counters/\(sensor)",
                route: mqtt.routes[0],
                source: "edge",
                receivedAt: now
            )
            guard case .readings(let readings) = outcome, let reading = readings.first else { Issue.record("\(outcome)"); return }
            let entity = try NGSIEntity(json: JSONValue(parsing: reading.entity), form: .normalized)
            let observedAt = try #require(entity.attributes["peopleCount"]?.observedAt)
            times[sensor, default: []].append(observedAt.millisecondsSinceEpoch)
        }
        // 900 of c1 and 100 of c2, all arriving at the same millisecond: each sensor's times 1 ms apart from `now`.
        #expect(times["c1"] == (0..<900).map { now.millisecondsSinceEpoch + Int64($0) })
        #expect(times["c2"] == (0..<100).map { now.millisecondsSinceEpoch + Int64($0) })
        // A later arrival after the burst goes on from the sensor's last time, never back.
        let later = ingest.readings(
            payload: Array(#"{"count": 1}"#.utf8),
            topic: "counters/c2",
            route: mqtt.routes[0],
            source: "edge",
            receivedAt: now.advanced(byMilliseconds: 50)
        )
        guard case .readings(let readings) = later, let reading = readings.first else { Issue.record("\(later)"); return }
        let entity = try NGSIEntity(json: JSONValue(parsing: reading.entity), form: .normalized)
        #expect(entity.attributes["peopleCount"]?.observedAt == now.advanced(byMilliseconds: 100))
    }
}
