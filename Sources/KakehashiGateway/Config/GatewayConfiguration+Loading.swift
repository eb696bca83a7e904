import Foundation
import KakehashiConfig

extension GatewayConfiguration {
    /// Reads and validates `file`; the error lists every problem with its line and key, files
    /// named that are missing or cannot be written included. Secrets named by `*_env` keys come
    /// from `environment`; with `secrets: .deferred` an unset one goes to `warnings` instead (for
    /// `check-config` before the secrets are set, and for commands that only read).
    public static func load(
        file: String,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        secrets: SecretPolicy = .required,
        warnings: (_ warnings: [ConfigurationIssue]) -> Void = { _ in }
    ) throws(ConfigurationError) -> GatewayConfiguration {
        try ConfigDocument.load(file: file, environment: environment, secrets: secrets, warnings: warnings) { root, base in
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
