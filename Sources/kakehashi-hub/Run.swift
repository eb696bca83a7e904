import ArgumentParser
import KakehashiConfig
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import Logging
import Metrics

/// `kakehashi-hub run --config FILE`
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the hub until SIGTERM or SIGINT.",
        discussion: """
            On SIGTERM the HTTP server stops accepting requests, the batch being stored is finished and \
            acknowledged, and the broker connection closes; batches not yet stored wait in the broker's \
            persistent session for the next start.
            """
    )

    @OptionGroup var options: ConfigOption

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let configuration: HubConfiguration
        do { configuration = try HubConfiguration.load(file: options.config) } catch {
            throw CommandFailure("the configuration has problems:\n\(error)")
        }
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = MetricsRegistry()
        MetricsSystem.bootstrap(registry.factory)
        let logger = Logger(label: "kakehashi.hub")
        let hub: Hub
        do { hub = try await Hub.open(configuration: configuration, logger: logger, registry: registry) } catch {
            throw CommandFailure("\(error)")
        }
        let http = configuration.http
        let app = hub.application { port in
            logger.info("kakehashi-hub listening", metadata: ["address": "http://\(http.host):\(port)"])
        }
        try await app.runService()
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
