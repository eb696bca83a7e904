import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

/// `kakehashi-bench`: Kakehashi's operations measured side by side with a baseline, in one run.
@main
struct KakehashiBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kakehashi-bench",
        abstract: "Measure Kakehashi side by side with its baselines and print a Markdown table.",
        discussion: "Build in release mode (deploy/bench does). Each figure is the median of --repeats runs, with min–max.")

    @Option(help: "Timed runs per scenario (the median is reported).")
    var repeats: Int = 7

    @Option(help: "Operations per timed run of the encoding scenarios.")
    var iterations: Int = 20_000

    @Option(name: .customLong("qos0"), help: "QoS 0 messages per MQTT run.")
    var qos0Messages: Int = 200_000

    @Option(name: .customLong("qos1"), help: "QoS 1 messages per MQTT run.")
    var qos1Messages: Int = 100_000

    @Option(help: "Readings per gateway run.")
    var gatewayReadings: Int = 50_000

    @Option(help: "Runs per MQTT scenario (each starts its own broker).")
    var mqttRepeats: Int = 5

    @Option(help: "Readings per hub ingest run.")
    var hubReadings: Int = 100_000

    @Option(help: "Rows in the database of the temporal query scenario.")
    var hubRows: Int = 10_000_000

    @Option(help: "Alerts measured in the alert latency run.")
    var alertProbes: Int = 200

    @Option(help: "Other readings per second flowing during the alert latency run.")
    var alertBackground: Int = 2000

    enum Scenario: String, ExpressibleByArgument, CaseIterable { case all, model, ble, mqtt, gateway, hub, alerts }

    @Option(help: "Which scenarios: all, model, ble, mqtt, gateway, hub, alerts.")
    var only: Scenario = .all

    func validate() throws {
        guard repeats >= 1, iterations >= 1 else { throw ValidationError("--repeats and --iterations must be at least 1") }
    }

    func run() async throws {
        var rows = [BenchRow]()
        var notes = [String]()
        if only == .all || only == .model {
            rows += try ModelScenarios.run(repeats: repeats, iterations: iterations)
        }
        if only == .all || only == .ble {
            rows += try BLEScenarios.run(repeats: repeats)
        }
        if only == .all || only == .mqtt {
            rows += try await MQTTScenarios.run(repeats: mqttRepeats, qos0: qos0Messages, qos1: qos1Messages)
        }
        if only == .all || only == .gateway {
            let gateway = try await GatewayScenarios.run(repeats: mqttRepeats, count: gatewayReadings)
            rows += gateway.rows
            notes += gateway.notes
        }
        if only == .all || only == .hub {
            let hub = try await HubScenarios.run(repeats: mqttRepeats, readings: hubReadings, rows: hubRows)
            rows += hub.rows
            notes += hub.notes
        }
        if only == .all || only == .alerts {
            let alerts = try await AlertScenarios.run(probes: alertProbes, backgroundRate: alertBackground)
            rows += alerts.rows
            notes += alerts.notes
        }
        print("| Scenario | Kakehashi | Baseline | Baseline figure | Kakehashi vs baseline |")
        print("| --- | --- | --- | --- | --- |")
        for row in rows { print(row.markdown) }
        print("")
        for note in notes { print(note) }
        print("Medians with min–max in brackets; encoding: \(repeats) runs of \(iterations) operations; MQTT: \(mqttRepeats) runs, each with a fresh local mosquitto; \(machine()).")
    }

    func machine() -> String {
        let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        let gib = Double(pages) * Double(pageSize) / 1_073_741_824
        return "\(cores) cores, \(Int(gib.rounded())) GiB"
    }
}
