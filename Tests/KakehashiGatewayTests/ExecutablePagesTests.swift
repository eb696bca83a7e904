import Foundation
import Testing

@testable import KakehashiGateway

/// The gateway gives back the code pages that only starting up needed: only read-only code of a
/// file that was never written is dropped, and the process goes on running what it dropped.
struct ExecutablePagesTests {
    /// Mappings copied from a running gateway's `/proc/PID/smaps` (sizes trimmed to what matters),
    /// with the cases that must be left alone: written code (a debugger's breakpoint, text
    /// relocations), data, the vDSO, anonymous memory.
    static let smaps = """
        55eff76ba000-55eff923f000 r-xp 00000000 fe:00 5482705                    /usr/local/bin/kakehashi-gateway
        Size:              28180 kB
        Rss:               15564 kB
        Private_Dirty:         0 kB
        Anonymous:             0 kB
        55eff923f000-55eff92fb000 r--p 01b84000 fe:00 5482705                    /usr/local/bin/kakehashi-gateway
        Rss:                 752 kB
        Private_Dirty:       752 kB
        Anonymous:           752 kB
        55eff92fb000-55effb784000 rw-p 01c40000 fe:00 5482705                    /usr/local/bin/kakehashi-gateway
        Rss:                2356 kB
        Private_Dirty:      1200 kB
        Anonymous:          1200 kB
        7f0a1c028000-7f0a1c1bd000 r-xp 00028000 fe:00 1312                       /usr/lib/x86_64-linux-gnu/libc.so.6
        Rss:                1632 kB
        Private_Dirty:         0 kB
        Anonymous:             0 kB
        7f0a1c400000-7f0a1c500000 r-xp 00000000 fe:00 1400                       /usr/lib/x86_64-linux-gnu/libpatched.so
        Rss:                 120 kB
        Private_Dirty:         4 kB
        Anonymous:             4 kB
        7f0a1c600000-7f0a1c700000 r-xp 00000000 fe:00 1401                       /usr/lib/x86_64-linux-gnu/libcold.so
        Rss:                   0 kB
        Private_Dirty:         0 kB
        Anonymous:             0 kB
        7ffd4f1c6000-7ffd4f1c8000 r-xp 00000000 00:00 0                          [vdso]
        Rss:                   4 kB
        Private_Dirty:         0 kB
        Anonymous:             0 kB
        7ffd4f0a0000-7ffd4f0c1000 rw-p 00000000 00:00 0                          [stack]
        Rss:                  12 kB
        Private_Dirty:        12 kB
        Anonymous:            12 kB

        """

    @Test func onlyCleanReadOnlyCodeOfAFileIsReleasable() {
        let mappings = ExecutablePages.mappings(inSmaps: Self.smaps)
        #expect(mappings.count == 8)
        let releasable = mappings.filter(\.releasable).map { "\($0.path.split(separator: "/").last ?? "")" }
        #expect(releasable == ["kakehashi-gateway", "libc.so.6"])
        #expect(mappings[0].start == 0x55ef_f76b_a000 && mappings[0].end == 0x55ef_f923_f000 && mappings[0].resident == 15564)
        #expect(mappings[4].privateDirty == 4)
    }

    /// In this very process: the resident code drops to a fraction, and the code that was dropped
    /// (parsing smaps, Foundation, the test library) runs again afterwards.
    @Test func releasingDropsResidentCodeAndTheProcessRunsOn() throws {
        let before = try #require(ExecutablePages.readSmaps())
        let releasable = ExecutablePages.mappings(inSmaps: before).filter(\.releasable)
        let residentBefore = releasable.reduce(0) { $0 + $1.resident }
        let released = ExecutablePages.release()
        let after = try #require(ExecutablePages.readSmaps())
        let starts = Set(releasable.map(\.start))
        let residentAfter = ExecutablePages.mappings(inSmaps: after).filter { starts.contains($0.start) }.reduce(0) { $0 + $1.resident }
        #expect(residentBefore > 4096, "this test process runs more than 4 MB of code")
        #expect(released >= residentBefore / 2)
        #expect(residentAfter < residentBefore / 2, "\(residentAfter) kB of code resident after release, \(residentBefore) kB before")
        // Dropped pages read back intact: decode and encode JSON through Foundation.
        let data = try JSONSerialization.data(withJSONObject: ["level": 2.5, "id": "urn:ngsi-ld:WaterObserved:x"], options: [.sortedKeys])
        #expect(String(decoding: data, as: UTF8.self) == #"{"id":"urn:ngsi-ld:WaterObserved:x","level":2.5}"#)
    }
}
