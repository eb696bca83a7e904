import Foundation
import KakehashiMQTT
import KakehashiModel
import KakehashiTestSupport
import Synchronization
import Testing

@testable import KakehashiGateway

/// The gateway process between two real mosquitto brokers.
@Suite(.serialized) struct GatewayIntegrationTests {
    @Test func threeFormatsBecomeExactEntitiesOnTheCentralBroker() async throws {
        let harness = try GatewayHarness()
        try await harness.prepareEdgeSession()
        let collector = try await harness.collector()
        try harness.start()
        let sensors = try await harness.sensorClient()
        // JSON, centimetres, local time without zone (+09:00 assumed).
        try await sensors.publish("flood/s3/level", payload: Array(#"{"level":123.4,"ts":"2026-06-02T09:10:00"}"#.utf8), qos: .atLeastOnce)
        // CSV: epoch seconds, people, occupancy in percent.
        try await sensors.publish("counters/station-east", payload: Array("1780358400,42,12.5".utf8), qos: .atLeastOnce)
        // Binary: u32 epoch seconds 1780366080 (02:08Z), i16 -1234 mm.
        try await sensors.publish("lpwa/s7/up", payload: [0x6A, 0x1E, 0x3B, 0x00, 0xFB, 0x2E], qos: .atLeastOnce)
        do {
            try await waitUntil("three entities arrived", timeout: .seconds(20)) { collector.all.count >= 3 }
        } catch {
            print(harness.log)
            for letter in (try? Outbox(configuration: OutboxConfiguration(path: harness.outboxFile)).deadLetters()) ?? [] {
                print("dead letter: \(letter.topic) \(letter.reason): \(letter.detail)")
            }
            print("received: \(collector.all.map(\.id))")
            print(harness.edge.log)
            print((try? String(contentsOfFile: harness.directory.appendingPathComponent("gateway.prom").path, encoding: .utf8)) ?? "no metrics")
            throw error
        }

        let tenant = try Tenant("kurume")
        let expected: [NGSIEntity] = [
            try WaterObserved(
                id: EntityID(type: "WaterObserved", tenant: tenant, localID: "s3"),
                location: GeoPoint(latitude: 33.13, longitude: 130.5),
                dateObserved: Timestamp(iso8601: "2026-06-02T00:10:00Z"),
                waterLevel: Quantity(1.234, .metre),
                name: "gauge 3",
                thresholds: FloodThresholds(alertLevel: 2.1, dangerLevel: 2.8)
            ).ngsiEntity,
            try CrowdFlowObserved(
                id: EntityID(type: "CrowdFlowObserved", tenant: tenant, localID: "station-east"),
                location: GeoPoint(latitude: 33.3199, longitude: 130.5238),
                dateObservedFrom: Timestamp(iso8601: "2026-06-01T23:59:00Z"),
                dateObservedTo: Timestamp(iso8601: "2026-06-02T00:00:00Z"),
                peopleCount: 42,
                occupancy: 0.125
            ).ngsiEntity,
            try WaterObserved(
                id: EntityID(type: "WaterObserved", tenant: tenant, localID: "s7"),
                location: GeoPoint(latitude: 33.17, longitude: 130.5),
                dateObserved: Timestamp(iso8601: "2026-06-02T02:08:00Z"),
                waterLevel: Quantity(-1234, .millimetre),
                name: "gauge 7",
                thresholds: FloodThresholds(alertLevel: 2.1, dangerLevel: 2.8)
            ).ngsiEntity,
        ]
        // Topics are consumed concurrently: match by entity id.
        let received = collector.all.sorted { $0.id < $1.id }
        #expect(Set(received.map(\.sequence)) == [1, 2, 3])
        #expect(received.count == 3)
        for (entry, entity) in zip(received, expected.sorted { $0.id.rawValue < $1.id.rawValue }) {
            var want = entity
            want.context = []
            #expect(entry.entity.json(.normalized) == want.json(.normalized), "\(entry.entity.id)")
        }
        #expect(harness.terminate() == 0)
        await collector.stop()
    }

    /// Readings that waited on the edge broker while the gateway was down arrive right after
    /// CONNACK, before the grants of its subscriptions: more than a subscription buffer holds must
    /// not stall the start.
    @Test(.timeLimit(.minutes(3)))
    func aBacklogWaitingOnTheEdgeBrokerIsTakenInAtStart() async throws {
        let harness = try GatewayHarness()
        try await harness.prepareEdgeSession()
        let collector = try await harness.collector()
        let sensors = try await harness.sensorClient()
        for i in 0..<1_000 {
            try await sensors.publish(
                "flood/s\(i % 4)/level",
                payload: GatewayHarness.floodPayload(level: Double(i) / 10, second: i),
                qos: .atLeastOnce
            )
        }
        try harness.start()
        do {
            try await waitUntil("the backlog reached the central broker", timeout: .seconds(60)) { collector.distinctSequences.count >= 1_000 }
        } catch {
            print(String(harness.log.suffix(4_000)))
            throw error
        }
        #expect(collector.distinctSequences == Set(1...1_000))
        #expect(harness.terminate() == 0)
        await collector.stop()
        await sensors.disconnect()
    }

    /// A gateway runs for months: its memory must not grow with the readings it has sent. One wire
    /// batch per reading makes a per-batch leak plain (each batch task kept after it ended cost
    /// ~2 KB: 10 MB over these 5,000 batches).
    @Test(.timeLimit(.minutes(3)))
    func memoryStaysFlatAsBatchesAreSent() async throws {
        let harness = try GatewayHarness(batchSize: 1)
        try await harness.prepareEdgeSession()
        let collector = try await harness.collector()
        let sensors = try await harness.sensorClient()
        try harness.start()
        let pid = try #require(harness.process?.pid)
        var sent = 0
        func send(_ count: Int) async throws {
            for _ in 0..<count {
                try await sensors.publish(
                    "flood/s\(sent % 20)/level",
                    payload: GatewayHarness.floodPayload(level: Double(sent % 300) / 100, second: sent),
                    qos: .atLeastOnce
                )
                sent += 1
            }
            let expected = sent
            try await waitUntil("\(expected) readings on the central broker", timeout: .seconds(90)) { collector.distinctSequences.count >= expected }
        }
        try await send(1_000)  // warmed up: connections, statements, caches
        let before = Self.residentKilobytes(pid)
        try await send(5_000)
        let after = Self.residentKilobytes(pid)
        #expect(after - before < 4_096, "resident memory grew from \(before) kB to \(after) kB over 5,000 batches")
        #expect(harness.terminate() == 0)
        await collector.stop()
        await sensors.disconnect()
    }

    static func residentKilobytes(_ pid: pid_t) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// SIGTERM while the central broker is gone: the gateway gives up saying "offline" after the
    /// flush timeout and exits 0, instead of waiting for an acknowledgement that cannot come.
    @Test(.timeLimit(.minutes(2)))
    func sigtermWithTheCentralBrokerGoneStillExits() async throws {
        let harness = try GatewayHarness()
        try await harness.prepareEdgeSession()
        let collector = try await harness.collector()
        try harness.start()
        let sensors = try await harness.sensorClient()
        try await sensors.publish("flood/s0/level", payload: GatewayHarness.floodPayload(level: 1, second: 1), qos: .atLeastOnce)
        try await waitUntil("the gateway forwards", timeout: .seconds(20)) { collector.all.count == 1 }
        await collector.stop()
        harness.central.stop()
        let process = try #require(harness.process)
        let stopping = ContinuousClock.now
        process.signal(SIGTERM)
        try await waitUntil("the gateway exits", timeout: .seconds(20)) { !process.isRunning }
        // The flush timeout is 5 s and saying offline waits at most 2 s more.
        #expect(ContinuousClock.now - stopping < .seconds(10), "\(harness.log.suffix(1500))")
        #expect(process.wait() == 0)
        harness.process = nil
        await sensors.disconnect()
    }

    @Test(.timeLimit(.minutes(5)), .enabled(if: SlowTests.enabled, "slow: deploy/test --fast skips it"))
    func aSixtySecondCentralOutageLosesNothing() async throws {
        let harness = try GatewayHarness()
        try await harness.prepareEdgeSession()
        let collector = try await harness.collector()
        try harness.start()
        let sensors = try await harness.sensorClient()
        try await sensors.publish("flood/s0/level", payload: GatewayHarness.floodPayload(level: 1, second: -1), qos: .atLeastOnce)
        try await waitUntil("the gateway forwards", timeout: .seconds(20)) { collector.all.count == 1 }

        try await waitUntil("the metrics say connected", timeout: .seconds(10)) { harness.metric("kakehashi_gateway_uplink_connected") == 1 }
        harness.central.stop()
        let outageStarted = ContinuousClock.now
        // The metrics say so within seconds (not only after a status publish that cannot complete).
        try await waitUntil("the metrics say disconnected", timeout: .seconds(10)) { harness.metric("kakehashi_gateway_uplink_connected") == 0 }
        // 10,000 readings from 10 sensors, each sensor's in time order.
        let sensorsUsed = Array(GatewayHarness.sensors.prefix(10))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, sensor) in sensorsUsed.enumerated() {
                group.addTask {
                    for i in 0..<1000 {
                        try await sensors.publish(
                            "flood/\(sensor)/level",
                            payload: GatewayHarness.floodPayload(level: Double(index * 1000 + i) / 10, second: i),
                            qos: .atLeastOnce
                        )
                    }
                }
            }
            try await group.waitForAll()
        }
        // A fresh look at the file each time (an Outbox reads its counters when opened).
        let outbox = { try Outbox(configuration: OutboxConfiguration(path: harness.outboxFile)) }
        try await waitUntil("all 10,000 are in the outbox", timeout: .seconds(55)) { try outbox().lastSequence >= 10_001 }
        #expect(try outbox().depth >= 10_000)
        try await Task.sleep(until: outageStarted + .seconds(60))
        try harness.central.start()

        try await waitUntil("every sequence arrived", timeout: .seconds(90)) { collector.distinctSequences.count >= 10_001 }
        try await waitUntil("the metrics say connected again", timeout: .seconds(10)) { harness.metric("kakehashi_gateway_uplink_connected") == 1 }
        #expect(harness.log.contains("central broker connection lost") && harness.log.contains("central broker connection back"))
        let entries = collector.all
        #expect(collector.distinctSequences == Set(1...10_001))
        // Duplicates may arrive, but each carries the sequence of its reading.
        var sequenceOf = [String: Int64]()
        for entry in entries {
            let key = "\(entry.id)@\(entry.observedAt ?? "?")"
            if let known = sequenceOf[key] { #expect(known == entry.sequence, "\(key)") } else { sequenceOf[key] = entry.sequence }
        }
        #expect(sequenceOf.count == 10_001)
        // Per sensor, first arrivals are in the sensor's time order, none missing.
        var lastTime = [String: String]()
        var seen = Set<Int64>()
        var counts = [String: Int]()
        for entry in entries where seen.insert(entry.sequence).inserted {
            let time = entry.observedAt ?? ""
            if let previous = lastTime[entry.id] { #expect(previous < time, "\(entry.id): \(time) after \(previous)") }
            lastTime[entry.id] = time
            counts[entry.id, default: 0] += 1
        }
        for (index, sensor) in sensorsUsed.enumerated() {
            #expect(counts["urn:ngsi-ld:WaterObserved:kurume:\(sensor)"] == 1000 + (index == 0 ? 1 : 0), "\(sensor)")
        }
        try await waitUntil("the outbox is empty", timeout: .seconds(30)) { try outbox().depth == 0 }
        #expect(harness.terminate() == 0)
        await collector.stop()
        await sensors.disconnect()
    }

    @Test(.timeLimit(.minutes(5)), .enabled(if: SlowTests.enabled, "slow: deploy/test --fast skips it"))
    func killedAtRandomMomentsTheGatewayLosesNoAcceptedReading() async throws {
        let harness = try GatewayHarness()
        try await harness.prepareEdgeSession()
        let collector = try await harness.collector()
        try harness.start()
        let sensors = try await harness.sensorClient()
        let total = 20_000
        let finished = Flag()
        let publisher = Task {
            defer { finished.set() }
            // 20 sensors × 1,000 readings, paced so that the run spans the kills.
            for round in 0..<100 {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, sensor) in GatewayHarness.sensors.enumerated() {
                        group.addTask {
                            for i in (round * 10)..<(round * 10 + 10) {
                                try await sensors.publish(
                                    "flood/\(sensor)/level",
                                    payload: GatewayHarness.floodPayload(level: Double(index * 1000 + i) / 10, second: i),
                                    qos: .atLeastOnce
                                )
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                try await Task.sleep(for: .milliseconds(60))
            }
        }
        var generator = SystemRandomNumberGenerator()
        var kills = 0
        while kills < 5 || (kills < 12 && !finished.isSet) {
            try await Task.sleep(for: .milliseconds(Int.random(in: 300...1200, using: &generator)))
            harness.kill()
            kills += 1
            try harness.start()
        }
        try await publisher.value
        // Let the last start take in what waited on the edge broker, then stop it cleanly.
        let outbox = { try Outbox(configuration: OutboxConfiguration(path: harness.outboxFile)) }
        do {
            try await waitUntil("the gateway drained the edge broker and the outbox", timeout: .seconds(120)) {
                let box = try outbox()
                return box.depth == 0 && collector.distinctSequences.count >= Int(box.lastSequence) && box.lastSequence >= Int64(total) - 5_000
            }
        } catch {
            let box = try? outbox()
            let distinct = collector.distinctSequences
            let missing = (1...max(1, box?.lastSequence ?? 1)).filter { !distinct.contains($0) }
            print(
                "kill test stuck after \(kills) kills, \(harness.starts) starts: outbox depth \(box?.depth ?? -1), "
                    + "last sequence \(box?.lastSequence ?? -1), \(distinct.count) distinct at the collector, "
                    + "\(missing.count) missing (first \(missing.prefix(20))), \(collector.malformed) malformed"
            )
            print(String(harness.log.suffix(6_000)))
            print(String(harness.edge.log.suffix(6_000)))
            throw error
        }
        #expect(harness.terminate() == 0)
        let last = try outbox().lastSequence
        // Every accepted reading (every sequence number ever given) reached the central broker.
        #expect(collector.distinctSequences == Set(1...last))
        var sequenceOf = [String: Int64]()
        for entry in collector.all {
            let key = "\(entry.id)@\(entry.observedAt ?? "?")"
            if let known = sequenceOf[key] { #expect(known == entry.sequence, "\(key)") } else { sequenceOf[key] = entry.sequence }
        }
        let lostBeforeAcceptance = total - sequenceOf.count
        print(
            "kill test: \(kills) kills, \(harness.starts) starts, \(last) readings accepted and all delivered; "
                + "\(lostBeforeAcceptance) of \(total) sensor messages were acknowledged by libmosquitto but not yet committed when killed; "
                + "\(collector.all.count - sequenceOf.count) duplicates at the wire"
        )
        #expect(kills >= 5)
        // Accepted readings never repeat a sensor time under another sequence number (no double acceptance).
        #expect(Int(last) == sequenceOf.count)
        await collector.stop()
        await sensors.disconnect()
    }

    @Test(.timeLimit(.minutes(3)))
    func badPayloadsAreDeadLetteredWithTheirReasonAndThePipelineGoesOn() async throws {
        let harness = try GatewayHarness()
        try await harness.prepareEdgeSession()
        let collector = try await harness.collector()
        try harness.start()
        let sensors = try await harness.sensorClient()
        let corpus = BadPayloadCorpus.cases
        #expect(corpus.count >= 50)
        for item in corpus {
            try await sensors.publish(item.topic, payload: item.payload, qos: .atLeastOnce)
        }
        try await sensors.publish("flood/s1/level", payload: GatewayHarness.floodPayload(level: 50, second: 0), qos: .atLeastOnce)
        try await waitUntil("the good reading after the corpus arrived", timeout: .seconds(30)) { collector.all.count == 1 }
        #expect(collector.all.first?.id == "urn:ngsi-ld:WaterObserved:kurume:s1")

        // Topics are consumed concurrently: the good reading may arrive before the last bad
        // payloads of other topics are dead-lettered.
        let outbox = try Outbox(configuration: OutboxConfiguration(path: harness.outboxFile))
        try await waitUntil("every bad payload dead-lettered", timeout: .seconds(30)) {
            ((try? outbox.deadLetters(limit: 1000).count) ?? 0) >= corpus.count
        }
        let letters = try outbox.deadLetters(limit: 1000)
        #expect(letters.count == corpus.count)
        // Compare without order: each payload by topic, size and
        // its first bytes kept, with its reason.
        func key(_ topic: String, _ size: Int, _ head: [UInt8], _ reason: String) -> String {
            "\(topic) \(size) \(head.prefix(4096).hashValue) \(reason)"
        }
        let got = letters.map { key($0.topic, $0.size, $0.payload, $0.reason) }.sorted()
        let want = corpus.map { key($0.topic, $0.payload.count, $0.payload, $0.reason.rawValue) }.sorted()
        #expect(got == want)
        if got != want {
            for letter in letters { print("dead letter: \(letter.topic) \(letter.reason): \(letter.detail)") }
        }
        #expect(harness.process?.isRunning == true)
        // The command lists them.
        let listing = directoryFile(harness, "deadletters.txt")
        let lister = try ChildProcess(
            executable: GatewayHarness.executable,
            arguments: ["deadletters", harness.configurationFile, "--limit", "100"],
            logFile: listing
        )
        #expect(lister.wait() == 0)
        let text = try String(contentsOfFile: listing, encoding: .utf8)
        #expect(text.contains("payload_too_large: 1048576 bytes, the limit is 65536"))
        #expect(text.contains("\(corpus.count) dead letter(s) shown"))
        // The metrics file counts them by reason.
        try await waitUntil("the metrics file counts the rejections", timeout: .seconds(10)) {
            let metrics = (try? String(contentsOfFile: directoryFile(harness, "gateway.prom"), encoding: .utf8)) ?? ""
            return metrics.contains(
                "kakehashi_gateway_rejected_total{reason=\"unknown_sensor\"} \(corpus.filter { $0.reason == .unknownSensor }.count)"
            )
        }
        #expect(harness.terminate() == 0)
        await collector.stop()
    }

    func directoryFile(_ harness: GatewayHarness, _ name: String) -> String {
        harness.directory.appendingPathComponent(name).path
    }
}

final class Flag: Sendable {
    let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
