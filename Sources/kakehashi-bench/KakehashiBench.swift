import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `kakehashi-bench`: Kakehashi's operations measured side by side with a baseline, in one run.
@main
struct KakehashiBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kakehashi-bench",
        abstract: "Measure Kakehashi side by side with its baselines and print a Markdown table.",
        discussion: "Build in release mode (deploy/bench does). Each figure is the median of --repeats runs, with min–max."
    )

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

    @Option(help: "Alerts measured in each alert latency run.")
    var alertProbes: Int = 200

    @Option(help: "Runs of the alert latency scenario (each starts its own brokers, gateway and hub).")
    var alertRepeats: Int = 3

    @Option(help: "Other readings per second flowing during the alert latency run.")
    var alertBackground: Int = 2000

    @Option(help: ArgumentHelp("The gateway binary to measure (default: kakehashi-gateway beside this program).", valueName: "path"))
    var gateway: String?

    @Option(
        help: ArgumentHelp(
            "ThingsBoard IoT Gateway's `thingsboard-gateway` executable, in a virtual environment (deploy/bench installs one); without it "
                + "that comparison is skipped.",
            valueName: "path"
        )
    )
    var thingsboard: String?

    @Option(help: "Readings per run of the ThingsBoard IoT Gateway comparison.")
    var thingsboardReadings: Int = 20_000

    @Option(help: "Readings per second in the gateway memory scenario.")
    var memoryRate: Int = 1000

    @Option(help: "Seconds of load in the gateway memory scenario.")
    var memorySeconds: Int = 15

    @Option(help: "Readings per NGSI-LD upsert run (HTTP and MQTT each).")
    var ngsiReadings = 20_000

    @Option(help: "Readings per run of the notification ingest scenario.")
    var notifyReadings = 200_000

    @Option(help: "Active NGSI-LD subscriptions in the notification ingest scenario.")
    var notifySubscriptions = 1000

    @Option(help: "Entities in the NGSI-LD query scenario.")
    var ngsiEntities = 5_000

    @Option(help: "Hubs killed in the failover scenario (p50 and p99 of the time to the next alert).")
    var failoverKills = 10

    @Option(help: ArgumentHelp("The hub binary for the failover scenario (default: kakehashi-hub beside this program).", valueName: "path"))
    var hub: String?

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case all, model, ble, mqtt, gateway, thingsboard, memory, hub, ngsi, notify, alerts, postgres, failover
    }

    @Option(help: "Which scenarios: all, model, ble, mqtt, gateway, thingsboard, memory, hub, ngsi, notify, alerts, postgres, failover.")
    var only: Scenario = .all

    func validate() throws {
        guard repeats >= 1, iterations >= 1 else { throw ValidationError("--repeats and --iterations must be at least 1") }
    }

    func run() async throws {
        var rows = [BenchRow]()
        var notes = [String]()
        let began = ContinuousClock.now
        /// Whether `scenario` is selected; says so on standard error with the time so far.
        func selected(_ scenario: Scenario, _ what: String) -> Bool {
            guard only == .all || only == scenario else { return false }
            AlertScenarios.progress("[\(Int((ContinuousClock.now - began).components.seconds)) s] \(what)")
            return true
        }
        if selected(.model, "encoding and decoding NGSI-LD") {
            rows += try ModelScenarios.run(repeats: repeats, iterations: iterations)
        }
        if selected(.ble, "decoding the BLE captures") {
            rows += try BLEScenarios.run(repeats: repeats)
        }
        if selected(.mqtt, "MQTT publish → subscribe against the C loop") {
            rows += try await MQTTScenarios.run(repeats: mqttRepeats, qos0: qos0Messages, qos1: qos1Messages)
        }
        if selected(.gateway, "gateway edge → central against mosquitto_sub | mosquitto_pub") {
            let measured = try await GatewayScenarios.run(binary: try gatewayBinary(), repeats: mqttRepeats, count: gatewayReadings)
            rows += measured.rows
            notes += measured.notes
        }
        if selected(.thingsboard, "gateway against ThingsBoard IoT Gateway") {
            if let thingsboard {
                let compared = try await ThingsBoardScenarios.run(
                    gatewayBinary: try gatewayBinary(),
                    thingsboard: thingsboard,
                    repeats: mqttRepeats,
                    count: thingsboardReadings
                )
                rows += compared.rows
                notes += compared.notes
            } else {
                notes.append("ThingsBoard IoT Gateway comparison skipped: no --thingsboard executable.")
            }
        }
        if selected(.memory, "gateway memory at a steady rate and idle") {
            let memory = try await GatewayMemoryScenarios.run(
                gatewayBinary: try gatewayBinary(),
                thingsboard: thingsboard,
                repeats: 3,
                rate: memoryRate,
                seconds: memorySeconds
            )
            rows += memory.rows
            notes += memory.notes
        }
        if selected(.hub, "hub ingest and temporal queries") {
            let hub = try await HubScenarios.run(repeats: mqttRepeats, readings: hubReadings, rows: hubRows)
            rows += hub.rows
            notes += hub.notes
        }
        if selected(.postgres, "hub ingest into PostgreSQL against raw INSERTs and SQLite") {
            let postgres = try await PostgresScenarios.run(repeats: mqttRepeats, readings: hubReadings)
            rows += postgres.rows
            notes += postgres.notes
        }
        if selected(.failover, "three hubs over PostgreSQL, one killed at a time: time to the next alert") {
            let binary =
                hub ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kakehashi-hub").path
            let failover = try await FailoverScenarios.run(kills: failoverKills, hubBinary: binary)
            rows += failover.rows
            notes += failover.notes
        }
        if selected(.ngsi, "NGSI-LD upsert over HTTP against MQTT ingest, and entity queries") {
            let ngsi = try await NGSIScenarios.run(repeats: mqttRepeats, readings: ngsiReadings, entities: ngsiEntities)
            rows += ngsi.rows
            notes += ngsi.notes
        }
        if selected(.notify, "hub ingest with NGSI-LD subscriptions against none") {
            let notify = try await NotificationScenarios.run(repeats: mqttRepeats, readings: notifyReadings, subscriptions: notifySubscriptions)
            rows += notify.rows
            notes += notify.notes
        }
        if selected(.alerts, "alert and notification latency under load") {
            let alerts = try await AlertScenarios.run(
                gatewayBinary: try gatewayBinary(),
                probes: alertProbes,
                backgroundRate: alertBackground,
                repeats: alertRepeats
            )
            rows += alerts.rows
            notes += alerts.notes
        }
        print("| Scenario | Kakehashi | Baseline | Baseline figure | Kakehashi vs baseline |")
        print("| --- | --- | --- | --- | --- |")
        for row in rows { print(row.markdown) }
        print("")
        for note in notes { print(note) }
        print(
            "Medians with min–max in brackets; encoding: \(repeats) runs of \(iterations) operations; MQTT: \(mqttRepeats) runs, each with a "
                + "fresh local mosquitto; \(machine())."
        )
    }

    /// The gateway to run: `--gateway`, or the one built beside this program.
    func gatewayBinary() throws -> String {
        let path =
            gateway ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kakehashi-gateway").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ValidationError("\(path) is not an executable gateway: build it (deploy/bench does) or name one with --gateway")
        }
        return path
    }

    func machine() -> String {
        let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        let gib = Double(pages) * Double(pageSize) / 1_073_741_824
        return "\(cores) cores, \(Int(gib.rounded())) GiB"
    }
}
