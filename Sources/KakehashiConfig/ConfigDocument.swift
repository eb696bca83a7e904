import Foundation
import Yams

/// Reads a YAML configuration file into a ``ConfigNode`` tree and turns what a loader reports
/// into one ``ConfigurationError`` listing every problem.
///
/// ```swift
/// let configuration = try ConfigDocument.load(file: "hub.yaml") { root in HubLoader(root).hub() }
/// ```
public enum ConfigDocument {
    /// Reads `file` and runs `read` on its root; relative paths resolve against the file's folder,
    /// which `read` receives.
    public static func load<T>(
        file: String,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        secrets: SecretPolicy = .required,
        warnings: (_ warnings: [ConfigurationIssue]) -> Void = { _ in },
        _ read: (_ root: ConfigNode, _ baseDirectory: String) -> T?
    ) throws(ConfigurationError) -> T {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ConfigurationError([
                ConfigurationIssue(file: file, line: nil, column: nil, key: "", problem: "cannot read the file (\(error.localizedDescription))")
            ])
        }
        let base = (file as NSString).deletingLastPathComponent
        return try parse(yaml: text, file: file, environment: environment, secrets: secrets, warnings: warnings) {
            read($0, base.isEmpty ? "." : base)
        }
    }

    /// Parses configuration text named `file` and runs `read` on its root.
    public static func parse<T>(
        yaml: String,
        file: String,
        environment: [String: String],
        secrets: SecretPolicy = .required,
        warnings: (_ warnings: [ConfigurationIssue]) -> Void = { _ in },
        _ read: (ConfigNode) -> T?
    ) throws(ConfigurationError) -> T {
        let reader = ConfigReader(file: file, environment: environment, secrets: secrets)
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw ConfigurationError([ConfigurationIssue(file: file, line: nil, column: nil, key: "", problem: "the file is empty")])
            }
            root = node
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError([yamlIssue(error, file: file)])
        }
        let value = read(ConfigNode(node: root, path: "", reader: reader))
        warnings(reader.warnings)
        guard reader.issues.isEmpty, let value else {
            throw ConfigurationError(
                reader.issues.isEmpty
                    ? [ConfigurationIssue(file: file, line: nil, column: nil, key: "", problem: "the configuration is incomplete")]
                    : reader.issues
            )
        }
        return value
    }

    /// The issue for a Yams error, located when Yams knows where.
    public static func yamlIssue(_ error: any Error, file: String) -> ConfigurationIssue {
        if let error = error as? YamlError {
            switch error {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
                return ConfigurationIssue(file: file, line: mark.line, column: mark.column, key: "", problem: "not valid YAML: \(problem)")
            default: break
            }
        }
        return ConfigurationIssue(file: file, line: nil, column: nil, key: "", problem: "not valid YAML: \(error)")
    }

    /// Resolves `path` against `base` unless it is absolute.
    public static func resolve(_ path: String, against base: String) -> String {
        path.hasPrefix("/") ? path : (base as NSString).appendingPathComponent(path)
    }
}
