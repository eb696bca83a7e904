import Foundation
import KakehashiHubCore
import KakehashiHubTestSupport
import KakehashiModel
import KakehashiTestSupport
import Testing

/// A standard NGSI-LD client, unmodified: the PyPI `ngsildclient` 0.5.2 lifecycle
/// (`Tests/Tools/ngsild_lifecycle.py`) against a live hub over HTTP. `deploy/test` installs the
/// client in `.build/ngsild-venv` and names its Python in `KAKEHASHI_NGSILD_PYTHON`.
@Suite struct NGSILDClientTests {
    static var python: String? {
        if let named = ProcessInfo.processInfo.environment["KAKEHASHI_NGSILD_PYTHON"] { return named }
        let venv = RepositoryPaths.root.appendingPathComponent(".build/ngsild-venv/bin/python").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
    }

    @Test(.timeLimit(.minutes(3)))
    func theClientsLifecycleWorksUnmodified() async throws {
        let python = try #require(Self.python, "ngsildclient is not installed: run deploy/test (it installs it in .build/ngsild-venv)")
        let live = try await LiveHub(HubHarness.configuration())
        defer { Task { await live.stop() } }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ngsild-lifecycle-\(UUID().uuidString.prefix(8)).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let script = RepositoryPaths.root.appendingPathComponent("Tests/Tools/ngsild_lifecycle.py").path
        let status = await
            (try ChildProcess(executable: python, arguments: [script, "127.0.0.1", String(live.port), Readings.kurume.name], logFile: log))
            .exit()
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let steps = output.split(separator: "\n").filter { $0.hasPrefix("ok   ") || $0.hasPrefix("FAIL ") }
        #expect(status == 0, "\(output.suffix(4000))\nthe hub: \(live.endedEarly ?? "still running")")
        #expect(output.contains("lifecycle passed"))
        // Every step ran (one per check( call in the script): one broken call would stop it early.
        let checks = try String(contentsOfFile: script, encoding: .utf8).components(separatedBy: "\ncheck(").count - 1
        #expect(checks >= 25 && steps.filter { $0.hasPrefix("ok   ") }.count == checks, "\(steps.joined(separator: "\n"))")
        // The client's ids have no tenant inside: the entity left is the tenant's own, under its id.
        let left = try await live.hub.store.entities(tenant: Readings.kurume, types: ["WaterObserved"], ids: nil).map(\.id.rawValue)
        #expect(left == ["urn:ngsi-ld:WaterObserved:b0", "urn:ngsi-ld:WaterObserved:b1"])
        #expect(try await live.hub.store.entities(tenant: Readings.omuta, types: nil, ids: nil).isEmpty)
    }
}
