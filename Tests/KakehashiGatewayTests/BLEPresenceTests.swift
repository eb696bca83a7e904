import Foundation
import KakehashiModel
import KakehashiTestSupport
import Logging
import Testing

@testable import KakehashiGateway

/// A recorded capture replayed through the BLE source: besides the per-window sightings, each
/// tag's arrival and departure is committed as a `presence` observation the hub's absence rules can read.
struct BLEPresenceTests {
    @Test func replayedTagsArriveAndLeaveAsPresenceObservations() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kk-presence-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outbox = try Outbox(configuration: OutboxConfiguration(path: directory.appendingPathComponent("outbox.sqlite").path))
        let metrics = GatewayMetrics()
        let committer = Committer(outbox: outbox, metrics: metrics, logger: Logger(label: "test"), onCommit: {})
        let capture = RepositoryPaths.trace("ble/yeelock.btsnoop").path
        let source = BLESource(
            name: "ble",
            configuration: BLESourceConfiguration(input: .btsnoop(path: capture, speed: 0), secret: Array("a-secret-of-sixteen-bytes".utf8)),
            tenant: try Tenant("kurume"),
            priority: 1,
            committer: committer,
            metrics: metrics,
            logger: Logger(label: "test"),
            clock: { Timestamp(Date()) }
        )
        let committing = Task { try await committer.run() }
        try await source.run()
        committer.commitPending()
        committing.cancel()
        let entities = try outbox.readings(after: 0, limit: 100_000).map { try NGSIEntity(bytes: $0.entity, form: .normalized) }
        let tags = Set(entities.map(\.id))
        let presence = entities.compactMap { entity -> (EntityID, String, Timestamp?)? in
            guard case .property(let property)? = entity.attributes["presence"], case .text(let text) = property.value else { return nil }
            return (entity.id, text, property.observedAt)
        }
        #expect(!tags.isEmpty)
        // Every tag heard entered; per tag, arrivals and departures alternate, in time order.
        #expect(Set(presence.map(\.0)) == tags)
        for tag in tags {
            let changes = presence.filter { $0.0 == tag }
            #expect(changes.enumerated().allSatisfy { $0.element.1 == ($0.offset % 2 == 0 ? "present" : "absent") }, "\(tag)")
            let times = changes.compactMap(\.2)
            #expect(times.count == changes.count && zip(times, times.dropFirst()).allSatisfy { $0 < $1 }, "\(tag)")
        }
        #expect(presence.contains { $0.1 == "absent" })
        #expect(entities.allSatisfy { $0.type == "Device" })
    }
}
