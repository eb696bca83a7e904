import Foundation
import KakehashiModel

/// Validates CAP 1.2 messages against the OASIS schema (`Tests/Fixtures/cap/CAP-v1.2.xsd`) and
/// reads them back with another XML library (Python lxml), by running `Tests/Tools/validate_cap.py`.
/// The interpreter is `$KAKEHASHI_PYTHON` or `python3`; `deploy/test` installs lxml.
public enum CAPValidator {
    /// The tool's report: `messages` (one per CAP text, with `valid`, `errors` and the fields lxml
    /// read) and `atom` when an Atom document was given.
    /// The tool runs on a thread of its own (see ``offThePool(_:)``).
    public static func check(messages: [String], atom: String? = nil) async throws -> JSONValue {
        try await offThePool { try checkBlocking(messages: messages, atom: atom) }
    }

    private static func checkBlocking(messages: [String], atom: String?) throws -> JSONValue {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kakehashi-cap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var arguments = [
            ProcessInfo.processInfo.environment["KAKEHASHI_PYTHON"] ?? "python3",
            RepositoryPaths.root.appendingPathComponent("Tests/Tools/validate_cap.py").path,
            "--schema", RepositoryPaths.fixture("cap/CAP-v1.2.xsd").path,
        ]
        if let atom {
            let file = directory.appendingPathComponent("alerts.atom")
            try atom.write(to: file, atomically: true, encoding: .utf8)
            arguments += ["--atom", file.path]
        }
        for (index, message) in messages.enumerated() {
            let file = directory.appendingPathComponent("\(index).cap")
            try message.write(to: file, atomically: true, encoding: .utf8)
            arguments.append(file.path)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = directory.appendingPathComponent("report.json"), errors = directory.appendingPathComponent("stderr.txt")
        try Data().write(to: output)
        try Data().write(to: errors)
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        process.waitUntilExit()
        let report = try? JSONValue(parsing: [UInt8](Data(contentsOf: output)))
        guard process.terminationStatus <= 1, let report else {
            let stderrText = String(decoding: (try? Data(contentsOf: errors)) ?? Data(), as: UTF8.self)
            throw TestSupportError("validate_cap.py exited \(process.terminationStatus): \(stderrText) (run deploy/test, which installs Python lxml)")
        }
        return report
    }
}
