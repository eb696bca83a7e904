import ArgumentParser
import KakehashiModel
import KakehashiSimulation
import KakehashiTraces

/// `kakehashi-sim devices …`: the device registry a gateway needs for a trace's sensors.
struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the gateway device registry (CSV) for the sensors of a trace.",
        discussion: """
            A gateway turns a reading into an entity only for sensors in its registry (type, location, \
            name, thresholds). These commands write that registry for the sensors a replay sends, in \
            the CSV form of deploy/gateway/devices.csv, on standard output.

            Examples:
              kakehashi-sim devices river --stations simulators/traces/river-jp/storm-2026-06-02-stations.csv --prefecture 三重県 > devices.csv
              kakehashi-sim devices pedestrians --sensors simulators/traces/pedestrian-melbourne/sensor-locations.csv
            """,
        subcommands: [RiverDevices.self, PedestrianDevices.self, USGSDevices.self, LoadDevices.self]
    )
}

struct RiverDevices: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "river",
        abstract: "Gauges of an MLIT stations file, with their levels as thresholds (WaterObserved)."
    )

    @Option(help: "The stations file.")
    var stations: String

    @Option(help: "Only gauges of this prefecture (repeatable).")
    var prefecture: [String] = []

    func run() throws {
        let gauges = try RiverGaugeStations(text: readText(stations), file: stations)
        var registry = DeviceRegistryCSV()
        for station in gauges.byCode.values.sorted(by: { $0.code < $1.code })
        where prefecture.isEmpty || prefecture.contains(station.prefecture) {
            registry.add(
                id: station.code,
                type: "WaterObserved",
                entityID: station.code,
                name: station.name,
                location: station.location,
                thresholds: station.thresholds
            )
        }
        guard !registry.rows.isEmpty else {
            throw SimulationError("no gauge of \(stations) matches --prefecture \(prefecture.joined(separator: ", "))")
        }
        print(registry.text, terminator: "")
        for problem in gauges.rejected.prefix(5) { note("skipped: \(problem)") }
    }
}

struct PedestrianDevices: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pedestrians",
        abstract: "Melbourne pedestrian counters (CrowdFlowObserved, hourly counts)."
    )

    @Option(help: "The sensor-locations file.")
    var sensors: String

    @Option(help: "Only the sensors this counts file has a column for.")
    var counts: String?

    @Option(
        name: .customLong("move-to"),
        help: ArgumentHelp(
            "Move the whole network, layout kept, so its centre is at LAT,LON (to replay the counts in another city).",
            valueName: "lat,lon"
        )
    )
    var moveTo: String?

    func run() throws {
        let locations = try PedestrianSensorLocations(text: readText(sensors), file: sensors)
        var chosen = locations.sensors
        if let counts {
            let file = try PedestrianCounts(text: readText(counts), file: counts, utcOffsetSeconds: 0)
            chosen = TraceReadings.pedestrians(file, locations: locations).sensors
        }
        var positions = chosen.map(\.location)
        if let moveTo { positions = try Relocation.move(positions, centerTo: parsePoint(moveTo)) }
        var registry = DeviceRegistryCSV()
        for (sensor, position) in zip(chosen, positions) {
            registry.add(
                id: sensor.id,
                type: "CrowdFlowObserved",
                entityID: sensor.id,
                name: sensor.description,
                location: position,
                intervalSeconds: 3600
            )
        }
        print(registry.text, terminator: "")
    }
}

struct USGSDevices: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usgs",
        abstract: "The site of a USGS RDB file (WaterObserved); RDB files carry no position, so give it."
    )

    @Argument(help: "The RDB file.")
    var file: String

    @Option(help: ArgumentHelp("The site's position: LAT,LON (from the site's page on waterdata.usgs.gov).", valueName: "lat,lon"))
    var location: String

    func run() throws {
        let values = try USGSInstantaneousValues(text: readText(file), file: file, parameter: .gageHeight)
        let point = try parsePoint(location)
        var registry = DeviceRegistryCSV()
        for site in Set(values.readings.map(\.site)).sorted() {
            registry.add(id: site, type: "WaterObserved", entityID: site, name: values.siteNames[site], location: point)
        }
        print(registry.text, terminator: "")
    }
}

struct LoadDevices: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "The synthetic gauges of `kakehashi-sim load`, on a grid around --center."
    )

    @Option(help: "How many sensors (as given to load).")
    var sensors: Int = 100

    @Option(help: ArgumentHelp("Centre of the synthetic grid: LAT,LON.", valueName: "lat,lon"))
    var center: String = "33.3193,130.5083"

    func run() throws {
        guard sensors >= 1, sensors <= 1_000_000 else { throw ValidationError("--sensors must be 1...1000000") }
        let origin = try parsePoint(center)
        let side = Int(Double(sensors).squareRoot().rounded(.up))
        var registry = DeviceRegistryCSV()
        for index in 0..<sensors {
            let point = try GeoPoint(
                latitude: origin.latitude + Double(index / side - side / 2) * 0.002,
                longitude: origin.longitude + Double(index % side - side / 2) * 0.002
            )
            let id = SyntheticLoad.sensorID(index)
            registry.add(
                id: id,
                type: "WaterObserved",
                entityID: id,
                name: "synthetic gauge \(id)",
                location: point,
                thresholds: try FloodThresholds(alertLevel: 3, dangerLevel: 4)
            )
        }
        print(registry.text, terminator: "")
    }
}

func parsePoint(_ text: String) throws -> GeoPoint {
    let parts = text.split(separator: ",").map { Double($0.filter { $0 != " " }) }
    guard parts.count == 2, let lat = parts[0], let lon = parts[1] else { throw ValidationError("'\(text)' is not LAT,LON") }
    do { return try GeoPoint(latitude: lat, longitude: lon) } catch { throw ValidationError("'\(text)': \(error)") }
}
