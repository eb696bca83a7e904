import ArgumentParser
import Foundation
import KakehashiGateway
import Logging

/// `kakehashi-gateway run FILE`: the gateway service, until SIGTERM or SIGINT.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway with a configuration file until SIGTERM or SIGINT.",
        discussion: """
            On SIGTERM the sources stop first, received readings are committed, and the outbox is sent as far \
            as the central broker allows within central.shutdown_flush_timeout; the rest waits in the outbox \
            for the next start. Secrets named by *_env keys are read from the environment.
            """
    )

    @Argument(help: "The configuration file (YAML).")
    var file: String

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        ExecutablePages.release()  // what loading the program needed
        let configuration: GatewayConfiguration
        do {
            configuration = try GatewayConfiguration.load(file: file)
        } catch {
            throw CommandFailure("the configuration has problems:\n\(error)")
        }
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "kakehashi.gateway")
        let gateway: Gateway
        do {
            gateway = try Gateway(configuration: configuration, logger: logger)
        } catch {
            throw CommandFailure("\(error)")
        }
        ExecutablePages.release()  // what reading the configuration and opening the outbox needed
        do {
            try await gateway.run()
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
