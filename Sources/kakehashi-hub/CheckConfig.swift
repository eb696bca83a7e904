import ArgumentParser
import KakehashiConfig
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite

/// `kakehashi-hub check-config --config FILE` (or `check-config FILE`)
struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check a configuration file without starting; print every problem with its line.",
        discussion: """
            Secrets whose environment variables are unset are reported as warnings (run needs them). \
            Exits 1 when there is a problem.
            """
    )

    @Option(name: .long, help: "The hub configuration file (YAML).")
    var config: String?

    @Argument(help: ArgumentHelp("The configuration file, as --config (kept for older scripts).", visibility: .hidden))
    var positional: String?

    func validate() throws {
        if config != nil && positional != nil { throw ValidationError("give the file once: --config FILE") }
        if config == nil && positional == nil { throw ValidationError("Missing expected argument '--config <config>'") }
    }

    var file: String { config ?? positional ?? "" }

    func run() throws {
        var warnings = [ConfigurationIssue]()
        do {
            let configuration = try HubConfiguration.load(file: file, secrets: .deferred) { warnings = $0 }
            let tenants = configuration.tenants.keys.sorted().map { "\($0) (\(configuration.tenants[$0]!.gateways.count) gateway(s))" }
            let storage: String
            switch configuration.storageKind {
            case .sqlite: storage = "storage \(configuration.storagePath) (sync \(configuration.storage.sync.rawValue))"
            case .postgres(let postgres):
                storage =
                    "storage PostgreSQL \(postgres.url) (pool \(postgres.poolSize)\(postgres.tls ? ", TLS" : "")), "
                    + "keys and subscriptions in \(configuration.storagePath)"
            }
            print(
                """
                \(file): OK — HTTP on \(configuration.http.host):\(configuration.http.port), \(storage), broker \(configuration.broker?.brokerAddress ?? "none (HTTP only)"), \
                tenants: \(tenants.joined(separator: ", "))
                """
            )
            for warning in warnings { print("warning: \(warning)") }
        } catch {
            print(error.description)
            for warning in warnings { print("warning: \(warning)") }
            throw ExitCode(1)
        }
    }
}
