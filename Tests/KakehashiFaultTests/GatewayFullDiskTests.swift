import Foundation
import KakehashiTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The gateway's outbox on a small filesystem that something else fills: the gateway holds new
/// readings (its sources wait, the edge broker keeps them), says so once rather than on every
/// attempt, stays up, and delivers everything once space returns. Needs root (a tmpfs mount), as
/// CI and deploy/test run.
@Suite(
    .serialized,
    .enabled(if: getuid() == 0, "mounting a small tmpfs needs root"),
    .enabled(if: SlowTests.enabled, "slow: deploy/test --fast skips it")
)
struct GatewayFullDiskTests {
    static func shell(_ command: String) async -> Int32 {
        guard let child = try? ChildProcess(executable: "/bin/sh", arguments: ["-c", command], logFile: "/dev/null") else { return -1 }
        return await child.exit()
    }

    /// A fresh tmpfs of `size` (e.g. `32m`), and how to take it away again.
    static func tmpfs(_ size: String) async throws -> (URL, @Sendable () async -> Void) {
        let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("kk-gwdisk-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        guard await shell("mount -t tmpfs -o size=\(size) tmpfs '\(mountPoint.path)'") == 0 else {
            throw TestSupportError("mounting a \(size) tmpfs failed")
        }
        let path = mountPoint.path
        return (
            mountPoint,
            {
                _ = await shell("umount -l '\(path)'"); try? FileManager.default.removeItem(atPath: path)
            }
        )
    }

    @Test(.timeLimit(.minutes(4)))
    func aFullDiskHoldsReadingsAtTheEdgeAndLosesNothing() async throws {
        let (mountPoint, unmount) = try await Self.tmpfs("32m")
        defer { Task { await unmount() } }
        // min_free above what the gateway can give back itself (its WAL, under an eighth of the free
        // space before the disk filled): truncating it must not end the hold.
        let chain = try Chain(consumers: 2, outbox: mountPoint.appendingPathComponent("outbox.sqlite").path, minFree: "8MiB")
        try await chain.startHub()
        try await chain.startGateway()

        // Readings flow; then another program fills the filesystem to the last block.
        let first = Publisher()
        try await first.run(chain: chain, total: 500, perSecond: 500)
        try await waitUntil("the first readings are stored", timeout: .seconds(60)) { try chain.stored().count == 500 }
        let ballast = mountPoint.appendingPathComponent("ballast").path
        _ = await Self.shell("dd if=/dev/zero of='\(ballast)' bs=1M count=64 2>/dev/null")
        var info = statvfs()
        _ = statvfs(mountPoint.path, &info)
        #expect(Int64(info.f_bavail) * Int64(info.f_frsize) < 1 << 20, "the filesystem is full")

        // 2,000 more readings: the edge broker accepts them, the gateway cannot commit and holds them.
        let second = Publisher(offset: 500)
        try await second.run(chain: chain, total: 2_000, perSecond: 1_000)
        try await waitUntil("the gateway says it cannot commit", timeout: .seconds(30)) { chain.gatewayLog.contains("the outbox cannot commit") }
        try await Task.sleep(for: .seconds(5))  // a stretch of a full disk, not a synchronization
        #expect(chain.gateway?.isRunning == true, "\(chain.gatewayLog.suffix(2000))")
        let lines = chain.gatewayLog.split(separator: "\n").filter { $0.contains("cannot commit") }
        #expect(lines.count == 1, "said \(lines.count) times in 5 s: \(lines.joined(separator: "\n"))")
        #expect(try chain.stored().count == 500)
        // Held at the edge: the gateway stopped taking messages (a buffer of 64 and one commit's worth at most).
        let received = chain.gatewayMetric("kakehashi_gateway_received_total{source=\"edge\"}") ?? .infinity
        #expect(received < 500 + 1_000, "the gateway took \(received) messages while it could not commit")

        // Space returns: the gateway takes up what the edge broker kept, and everything is stored once.
        try FileManager.default.removeItem(atPath: ballast)
        let accepted = first.accepted.withLock { $0 }.union(second.accepted.withLock { $0 })
        #expect(accepted.count == 2_500)
        var stored = Set<String>()
        try await waitUntil("every accepted reading is stored", timeout: .seconds(120)) {
            stored = try chain.stored()
            return stored.isSuperset(of: accepted)
        }
        #expect(stored == accepted)
        try await waitUntil("the gateway says it commits again", timeout: .seconds(30)) { chain.gatewayLog.contains("the outbox commits again") }
        #expect(chain.gatewayMetric("kakehashi_gateway_dropped_total{priority=\"3\"}") == nil)
        #expect(await chain.stopGateway() == 0)
        await chain.stopHub()
    }

    /// A long central outage on a small filesystem: the outbox itself fills it. With `min_free`
    /// the quota shrinks to what fits: the oldest readings are dropped and counted, every commit
    /// succeeds, and what was kept reaches the hub once the broker is back: every reading missing
    /// there was dropped and counted, nothing silently lost.
    @Test(.timeLimit(.minutes(4)))
    func anOutboxThatFillsItsFilesystemDropsOnlyWhatItCounts() async throws {
        let (mountPoint, unmount) = try await Self.tmpfs("8m")
        defer { Task { await unmount() } }
        let chain = try Chain(consumers: 1, outbox: mountPoint.appendingPathComponent("outbox.sqlite").path, minFree: "2MiB")
        try await chain.startHub()
        try await chain.startGateway()
        chain.central.stop()
        // About 20,000 readings at ~700 bytes each on disk: twice what the filesystem holds.
        let publisher = Publisher()
        try await publisher.run(chain: chain, total: 20_000, perSecond: 4_000)
        try await waitUntil("the outbox dropped readings to keep min_free", timeout: .seconds(60)) {
            (chain.gatewayMetric("kakehashi_gateway_dropped_total{priority=\"3\"}") ?? 0) > 0
                && (chain.gatewayMetric("kakehashi_gateway_committed_total") ?? 0) >= 20_000
        }
        var info = statvfs()
        _ = statvfs(mountPoint.path, &info)
        let free = Int64(info.f_bavail) * Int64(info.f_frsize)
        #expect(free >= 1 << 20, "free \(free) bytes")
        #expect(!chain.gatewayLog.contains("cannot commit"), "\(chain.gatewayLog.suffix(2000))")
        try chain.central.start()
        try await waitUntil("the outbox is empty", timeout: .seconds(120)) { chain.outboxDepth == 0 }
        let dropped = Int(chain.gatewayMetric("kakehashi_gateway_dropped_total{priority=\"3\"}") ?? 0)
        let stored = try chain.stored()
        let accepted = publisher.accepted.withLock { $0 }
        #expect(stored.isSubset(of: accepted))
        // Every reading missing at the hub was dropped and counted (a dropped reading may still
        // arrive: the batch carrying it was already on its way when the outage began).
        #expect(accepted.count - stored.count <= dropped, "\(stored.count) stored, \(dropped) dropped, of \(accepted.count)")
        // And the outbox kept what fits: the 6 MiB above min_free hold about 13,000 readings. Pages
        // the outbox's own deletes left free count as room; when they did not, the quota shrank
        // with every drop and a run kept anywhere from 3,800 to 12,800.
        #expect(stored.count >= 12_000, "\(stored.count) stored, \(dropped) dropped, of \(accepted.count)")
        print(
            "outbox on 8 MiB: \(stored.count) of \(accepted.count) readings kept and stored, \(dropped) dropped and counted, \(free) bytes left free"
        )
        #expect(await chain.stopGateway() == 0)
        await chain.stopHub()
    }
}
