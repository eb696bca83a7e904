import ArgumentParser
import KakehashiConfig
import KakehashiGateway

/// `kakehashi-gateway check-config FILE`: validate without starting.
struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check a configuration file and its device registry without starting; print every problem with its line.",
        discussion: """
            Checks everything run needs that can be checked without starting: keys and values, the device \
            registry, the files named (registry, captures, TLS files; the outbox and metrics directories \
            writable). Secrets whose environment variables are unset are reported as warnings, so a \
            configuration can be checked before its secrets are set; run refuses to start without them. \
            Exits 1 when there is a problem, 0 otherwise (warnings included).
            """
    )

    @Argument(help: "The configuration file (YAML).")
    var file: String

    func run() throws {
        var warnings = [ConfigurationIssue]()
        do {
            let configuration = try GatewayConfiguration.load(file: file, secrets: .deferred) { warnings = $0 }
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
            for warning in warnings { print("warning: \(warning)") }
        } catch {
            print(error.description)
            for warning in warnings { print("warning: \(warning)") }
            throw ExitCode(1)
        }
    }
}
