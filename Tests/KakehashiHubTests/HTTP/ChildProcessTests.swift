import Foundation
import KakehashiHubTestSupport
import KakehashiTestSupport
import Testing

/// A child process started by the tests holds none of the test process's descriptors: SwiftNIO
/// opens its sockets without close-on-exec, and a child that kept a test server's listening
/// socket kept its port after the server stopped (a receiver could not listen again).
@Suite struct ChildProcessTests {
    @Test func aChildHoldsNoneOfTheParentsDescriptors() async throws {
        let receiver = try await NotificationReceiver()
        defer { Task { await receiver.down() } }
        let log = URL(fileURLWithPath: Readings.temporaryDatabase()).deletingLastPathComponent().appendingPathComponent("fds.log").path
        let child = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "ls /proc/$$/fd"], logFile: log)
        #expect(await child.exit() == 0)
        let listed = try String(contentsOfFile: log, encoding: .utf8).split(whereSeparator: \.isNewline).compactMap { Int($0) }
        // The shell's own: standard input, output and error (and one it may open for itself).
        #expect(listed.filter { $0 > 2 }.count <= 1, "the child holds \(listed)")
        await receiver.down()
        try await receiver.up()
    }
}
