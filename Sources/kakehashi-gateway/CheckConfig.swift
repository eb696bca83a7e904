import ArgumentParser
import KakehashiGateway

/// `kakehashi-gateway check-config FILE`: validate without starting.
struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check a configuration file and its device registry without starting; print every problem with its line."
    )

    @Argument(help: "The configuration file (YAML).")
    var file: String

    func run() throws {
        do {
            let configuration = try GatewayConfiguration.load(file: file)
            var notes = [String]()
            for record in configuration.registry.records.values.sorted(by: { $0.sensor < $1.sensor }) {
                for problem in record.thresholds?.inconsistencies ?? [] { notes.append("note: sensor \(record.sensor): \(problem)") }
            }
            print(
                """
                \(file): OK — gateway \(configuration.gateway) of \(configuration.tenant), \(configuration.sources.count) source(s), \
                \(configuration.registry.count) device(s), outbox \(configuration.outbox.path) (quota \(configuration.outbox.quotaBytes) bytes), \
                central \(configuration.uplink.mqtt.brokerAddress)
                """
            )
            for note in notes { print(note) }
        } catch {
            print(error.description)
            throw ExitCode(1)
        }
    }
}
