import Foundation
import KakehashiGateway
import KakehashiTestSupport
import Testing

/// Every registry `kakehashi-sim devices` writes, the gateway reads: the same sensors, names with
/// commas and quotes whole (one RFC 4180 CSV reader on both sides).
@Suite(.serialized)
struct RegistryRoundTripTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let arguments: [String]
        let sensors: Int
        /// A sensor and its name as the gateway must read it.
        let check: (id: String, name: String)?
        var testDescription: String { arguments.prefix(2).joined(separator: " ") }
    }

    @Test(arguments: [
        Case(
            arguments: ["devices", "usgs", RepositoryPaths.trace("usgs/03287500-2014-01.rdb").path, "--location", "38.2367,-84.8742"],
            sensors: 1,
            check: ("03287500", "KENTUCKY RIVER AT LOCK 4 AT FRANKFORT, KY")
        ),
        Case(
            arguments: ["devices", "river", "--stations", RepositoryPaths.trace("river-jp/storm-2026-06-02-stations.csv").path],
            sensors: 0,
            check: nil
        ),
        Case(
            arguments: ["devices", "pedestrians", "--sensors", RepositoryPaths.trace("pedestrian-melbourne/sensor-locations.csv").path],
            sensors: 0,
            check: nil
        ),
        Case(arguments: ["devices", "load", "--sensors", "500"], sensors: 500, check: nil),
    ])
    func theGatewayReadsWhatTheSimulatorWrites(_ test: Case) async throws {
        let directory = try SimulatorProcessTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (status, stdout, stderr) = try await SimulatorProcessTests.run(test.arguments, in: directory)
        #expect(status == 0, "\(stderr)")
        let file = directory.appendingPathComponent("devices.csv")
        try stdout.write(to: file, atomically: true, encoding: .utf8)
        let registry = try DeviceRegistry.load(file: file.path)
        let rows = stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.count - 1
        #expect(registry.count == rows)
        if test.sensors > 0 { #expect(registry.count == test.sensors) } else { #expect(registry.count > 10) }
        if let check = test.check { #expect(registry[check.id]?.name == check.name) }
    }
}
