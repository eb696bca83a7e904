import Foundation
import KakehashiModel

/// Validates NGSI-LD entities against the official Smart Data Models JSON Schemas in
/// `Tests/Fixtures/smart-data-models`, by running `Tests/Tools/validate_sdm.py` (Python
/// `jsonschema`). The interpreter is `$KAKEHASHI_PYTHON` or `python3`; `deploy/test` installs
/// what it needs.
public enum SmartDataModelValidator {
    /// What the validator found.
    public struct Report: Sendable {
        /// Entities checked.
        public let checked: Int
        /// Entities without failures.
        public let valid: Int
        /// Known, documented deviations counted by kind (not failures).
        public let deviations: [String: Int]
        /// Failures: entity id and the schema's messages.
        public let failures: [(id: String?, errors: [String])]
    }

    /// An error running the validator itself (not a validation failure).
    public struct ToolError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Validates `entities` (NGSI-LD JSON in `form`).
    /// The validator runs on a thread of its own (see ``offThePool(_:)``).
    public static func validate(_ entities: [JSONValue], form: NGSIForm) async throws -> Report {
        try await offThePool { try validateBlocking(entities, form: form) }
    }

    private static func validateBlocking(_ entities: [JSONValue], form: NGSIForm) throws -> Report {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kakehashi-sdm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("entities.ndjson")
        var lines = [UInt8]()
        for entity in entities {
            entity.write(into: &lines)
            lines.append(0x0A)
        }
        try Data(lines).write(to: input)

        let python = ProcessInfo.processInfo.environment["KAKEHASHI_PYTHON"] ?? "python3"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            python, RepositoryPaths.root.appendingPathComponent("Tests/Tools/validate_sdm.py").path,
            "--schemas", RepositoryPaths.fixture("smart-data-models").path, "--form", form.rawValue, input.path,
        ]
        let output = directory.appendingPathComponent("report.json")
        let errors = directory.appendingPathComponent("stderr.txt")
        try Data().write(to: output)
        try Data().write(to: errors)
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        process.waitUntilExit()
        let stderrText = String(decoding: (try? Data(contentsOf: errors)) ?? Data(), as: UTF8.self)
        guard process.terminationStatus == 0 || process.terminationStatus == 1,
            let object = try? JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any]
        else {
            throw ToolError(
                description:
                    "validate_sdm.py with \(python) exited \(process.terminationStatus): \(stderrText) (run deploy/test, which installs "
                    + "Python jsonschema)"
            )
        }
        let failures = (object["failures"] as? [[String: Any]] ?? []).map {
            (id: $0["id"] as? String, errors: $0["errors"] as? [String] ?? [])
        }
        return Report(
            checked: object["checked"] as? Int ?? 0,
            valid: object["valid"] as? Int ?? 0,
            deviations: object["deviations"] as? [String: Int] ?? [:],
            failures: failures
        )
    }
}
