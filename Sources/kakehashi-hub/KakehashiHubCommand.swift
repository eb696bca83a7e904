import ArgumentParser

/// `kakehashi-hub`: the central hub.
@main
struct KakehashiHubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kakehashi-hub",
        abstract: "Kakehashi's central hub: MQTT ingest, time-series storage and the NGSI-LD API.",
        discussion: """
            The hub subscribes to kakehashi/v1/+/+/obs on the central broker, stores each reading once per \
            (tenant, entity, attribute, observedAt), keeps per-minute and per-hour rollups, and serves the \
            NGSI-LD API (entities, temporal, upsert), /healthz and /metrics. A sample configuration is in \
            deploy/hub/hub.yaml.
            """,
        subcommands: [
            Run.self, CheckConfig.self, Migrate.self, TenantCommand.self, GatewayCommand.self, KeyCommand.self, ShareCommand.self, DeadLetters.self,
            Rules.self, Copy.self,
        ]
    )
}

/// A failure while running a command (not a usage mistake): printed as `Error: …`, exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The `--config FILE` option shared by subcommands.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "The hub configuration file (YAML).")
    var config: String
}
