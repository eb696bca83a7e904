import ArgumentParser
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite

/// `kakehashi-hub check-config FILE`
struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check a configuration file without starting; print every problem with its line."
    )

    @Argument(help: "The configuration file (YAML).")
    var file: String

    func run() throws {
        do {
            let configuration = try HubConfiguration.load(file: file)
            let tenants = configuration.tenants.keys.sorted().map { "\($0) (\(configuration.tenants[$0]!.gateways.count) gateway(s))" }
            print(
                """
                \(file): OK — HTTP on \(configuration.http.host):\(configuration.http.port), storage \(configuration.storagePath) \
                (sync \(configuration.storage.sync.rawValue)), broker \(configuration.broker?.brokerAddress ?? "none (HTTP only)"), \
                tenants: \(tenants.joined(separator: ", "))
                """
            )
        } catch {
            print(error.description)
            throw ExitCode(1)
        }
    }
}
