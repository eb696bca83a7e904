import Foundation
import KakehashiMQTT
import KakehashiModel
import Yams

extension GatewayConfiguration {
    /// Reads and validates `file`; the error lists every problem with its line and key.
    /// Secrets named by `*_env` keys come from `environment`.
    public static func load(file: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) -> GatewayConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ConfigurationError([ConfigurationIssue(file: file, line: nil, column: nil, key: "", problem: "cannot read the file (\(error.localizedDescription))")])
        }
        let base = (file as NSString).deletingLastPathComponent
        return try parse(yaml: text, file: file, baseDirectory: base.isEmpty ? "." : base, environment: environment)
    }

    /// Validates configuration text; relative paths are resolved against `baseDirectory`.
    public static func parse(yaml: String, file: String, baseDirectory: String, environment: [String: String]) throws(ConfigurationError) -> GatewayConfiguration {
        let reader = ConfigReader(file: file, environment: environment)
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw ConfigurationError([ConfigurationIssue(file: file, line: nil, column: nil, key: "", problem: "the file is empty")])
            }
            root = node
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError([Self.yamlIssue(error, file: file)])
        }
        let loader = ConfigurationLoader(reader: reader, baseDirectory: baseDirectory)
        let configuration = loader.gateway(ConfigNode(node: root, path: "", reader: reader))
        guard reader.issues.isEmpty, let configuration else {
            throw ConfigurationError(reader.issues.isEmpty
                ? [ConfigurationIssue(file: file, line: nil, column: nil, key: "", problem: "the configuration is incomplete")]
                : reader.issues)
        }
        return configuration
    }

    static func yamlIssue(_ error: any Error, file: String) -> ConfigurationIssue {
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
    static func resolve(_ path: String, against base: String) -> String {
        path.hasPrefix("/") ? path : (base as NSString).appendingPathComponent(path)
    }
}
