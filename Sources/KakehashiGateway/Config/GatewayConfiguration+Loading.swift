import Foundation
import KakehashiConfig

extension GatewayConfiguration {
    /// Reads and validates `file`; the error lists every problem with its line and key.
    /// Secrets named by `*_env` keys come from `environment`.
    public static func load(
        file: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> GatewayConfiguration {
        try ConfigDocument.load(file: file, environment: environment) { root, base in
            ConfigurationLoader(reader: root.reader, baseDirectory: base).gateway(root)
        }
    }

    /// Validates configuration text; relative paths are resolved against `baseDirectory`.
    public static func parse(
        yaml: String,
        file: String,
        baseDirectory: String,
        environment: [String: String]
    ) throws(ConfigurationError) -> GatewayConfiguration {
        try ConfigDocument.parse(yaml: yaml, file: file, environment: environment) { root in
            ConfigurationLoader(reader: root.reader, baseDirectory: baseDirectory).gateway(root)
        }
    }
}
