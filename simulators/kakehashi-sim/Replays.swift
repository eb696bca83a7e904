import ArgumentParser
import KakehashiModel
import KakehashiSimulation
import KakehashiTraces

/// `kakehashi-sim river`: an MLIT river-gauge trace, gauge by gauge, as their telemeters send it.
struct River: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay an MLIT river-gauge trace (station_code, observed_at, level_m) to an MQTT broker.",
        discussion: """
            Each reading becomes one message on the gauge's topic, by default in the JSON format of the \
            sample gateway configuration: flood/<station code>/level with {"level": <centimetres>, "ts": \
            "<local time, --zone>"}. Readings are sent in time order (one gauge's readings keep their \
            order); a reading the archive repeated (same gauge and time) is sent once.

            Examples:
              kakehashi-sim river simulators/traces/river-jp/storm-2026-06-02.csv \\
                --stations simulators/traces/river-jp/storm-2026-06-02-stations.csv --speed 1440
              kakehashi-sim river TRACE.csv --stations STATIONS.csv --prefecture 三重県 \\
                --topic 'mie/flood/{sensor}/level' --as-fast-as-possible --broker mqtt://127.0.0.1:1884
              kakehashi-sim river TRACE.csv --stations STATIONS.csv --format binary --dry-run | head
            """
    )

    @Argument(help: "The readings file: station_code, observed_at, level_m.")
    var trace: String

    @Option(help: "The stations file: station_code, name, prefecture, city, latitude, longitude, start/warn/flood levels.")
    var stations: String

    @Option(help: "Only gauges of this prefecture, as the stations file names it (repeatable).")
    var prefecture: [String] = []

    @Option(help: "The payload: json (level in cm), csv (epoch seconds, cm) or binary (8 bytes, level in mm).")
    var format: DevicePayload = .json

    @Option(help: ArgumentHelp("The UTC offset the gauges write their JSON times in.", valueName: "offset"))
    var zone: String = "+09:00"

    @Flag(help: "Send readings the archive repeated (same gauge and time) every time they appear, to exercise exactly-once storage.")
    var keepRepeats = false

    @OptionGroup(title: "Payload") var payload: PayloadOptions
    @OptionGroup(title: "Timing") var timing: TimingOptions
    @OptionGroup(title: "Broker") var broker: BrokerOptions
    @OptionGroup(title: "Output") var output: OutputOptions

    func validate() throws {
        _ = try parseOffset(zone, option: "--zone")
        _ = try payload.template(for: format)
    }

    func run() async throws {
        let gauges = try RiverGaugeStations(text: readText(stations), file: stations)
        let file = try RiverGaugeTrace(text: readText(trace), file: trace)
        let known = Set(gauges.byCode.values.map(\.prefecture))
        for name in prefecture where !known.contains(name) {
            throw SimulationError(
                "no gauge of \(stations) is in prefecture '\(name)' (there are \(known.count): \(known.sorted().prefix(8).joined(separator: ", "))…)"
            )
        }
        var (readings, unknown, _) = TraceReadings.river(file, stations: gauges, prefectures: Set(prefecture))
        var repeats = 0
        if !keepRepeats { (readings, repeats) = droppingRepeats(readings) }
        let (from, to) = try timing.window()
        let timeline = ReplayTimeline(readings, from: from, to: to, shift: timing.shift())
        var notes = ["\(ProgressMeter.grouped(timeline.readings.count)) readings of \(Set(timeline.readings.map(\.sensor)).count) gauges"]
        if repeats > 0 { notes.append("\(repeats) repeated readings sent once") }
        if unknown > 0 { notes.append("\(unknown) readings of gauges missing from the stations file skipped") }
        if !file.rejected.isEmpty { notes.append("\(file.rejected.count) unreadable rows skipped (first: \(file.rejected[0]))") }
        if timeline.outsideWindow > 0 { notes.append("\(timeline.outsideWindow) outside --from/--to") }
        if timeline.shiftMilliseconds != 0 {
            notes.append("times shifted by \(ProgressMeter.duration(Double(abs(timeline.shiftMilliseconds)) / 1000))")
        }
        note("river: " + notes.joined(separator: "; "))
        var source = TimelineSource(
            timeline: timeline,
            format: format,
            template: try payload.template(for: format),
            offsetSeconds: try parseOffset(zone, option: "--zone")
        )
        try await Replayer(label: "river", broker: broker, output: output, pace: timing.pace).run(&source)
    }
}

/// `kakehashi-sim usgs`: a USGS gauge's instantaneous values, as a cheap LPWA water-level sensor.
struct USGS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usgs",
        abstract: "Replay a USGS instantaneous-values file (RDB) to an MQTT broker as a binary LPWA level sensor.",
        discussion: """
            The gage height (parameter 00065, feet) becomes metres and, by default, the 8-byte binary \
            payload of the sample gateway configuration on lpwa/<site number>/up: u32 big-endian epoch \
            seconds, i16 big-endian level in millimetres, u16 battery millivolts (the trace has none: \
            \(DevicePayload.batteryMillivolts) is sent). Rows without a gage height (Ice, Eqp, empty) are skipped.

            Examples:
              kakehashi-sim usgs simulators/traces/usgs/03287500-2014-01.rdb --speed 3600
              kakehashi-sim usgs FILE.rdb --format json --dry-run | head -3
            """
    )

    @Argument(help: "The RDB file (tab-separated, # comments), as waterdata.usgs.gov serves it.")
    var file: String

    @Option(help: "The payload: binary (default), json or csv.")
    var format: DevicePayload = .binary

    @Option(help: ArgumentHelp("The UTC offset for JSON times (the file's own times carry their zone).", valueName: "offset"))
    var zone: String = "+00:00"

    @OptionGroup(title: "Payload") var payload: PayloadOptions
    @OptionGroup(title: "Timing") var timing: TimingOptions
    @OptionGroup(title: "Broker") var broker: BrokerOptions
    @OptionGroup(title: "Output") var output: OutputOptions

    func validate() throws {
        _ = try parseOffset(zone, option: "--zone")
        _ = try payload.template(for: format)
    }

    func run() async throws {
        let values = try USGSInstantaneousValues(text: readText(file), file: file, parameter: .gageHeight)
        let (from, to) = try timing.window()
        let timeline = ReplayTimeline(TraceReadings.usgs(values), from: from, to: to, shift: timing.shift())
        var notes = [
            "\(ProgressMeter.grouped(timeline.readings.count)) gage heights of site \(values.siteNames.keys.sorted().joined(separator: ", "))"
        ]
        if !values.skipped.isEmpty { notes.append("\(values.skipped.count) rows without one skipped (first: \(values.skipped[0]))") }
        if timeline.outsideWindow > 0 { notes.append("\(timeline.outsideWindow) outside --from/--to") }
        note("usgs: " + notes.joined(separator: "; "))
        var source = TimelineSource(
            timeline: timeline,
            format: format,
            template: try payload.template(for: format),
            offsetSeconds: try parseOffset(zone, option: "--zone")
        )
        try await Replayer(label: "usgs", broker: broker, output: output, pace: timing.pace).run(&source)
    }
}

/// `kakehashi-sim pedestrians`: Melbourne's hourly pedestrian counts, as counters send them.
struct Pedestrians: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay City of Melbourne pedestrian counts (Date, Hour, one column per sensor) to an MQTT broker.",
        discussion: """
            Each hourly count becomes one message at the end of its hour, by default the CSV line of the \
            sample gateway configuration on counters/<sensor id>: "<epoch seconds>,<people>". Columns are \
            matched to --sensors by description; a column it does not list is skipped and named.

            Examples:
              kakehashi-sim pedestrians simulators/traces/pedestrian-melbourne/2010-01-01_03.csv \\
                --sensors simulators/traces/pedestrian-melbourne/sensor-locations.csv --speed 1440
            """
    )

    @Argument(help: "The counts file: Date, Hour, then one column per sensor.")
    var file: String

    @Option(help: "The sensor-locations file: sensor_id, sensor_description, sensor_name, …, latitude, longitude.")
    var sensors: String

    @Option(help: ArgumentHelp("The UTC offset of the file's local times (Melbourne: +11:00 in summer, +10:00 in winter).", valueName: "offset"))
    var utcOffset: String = "+11:00"

    @Option(help: "The payload: csv (default) or json.")
    var format: DevicePayload = .csv

    @OptionGroup(title: "Payload") var payload: PayloadOptions
    @OptionGroup(title: "Timing") var timing: TimingOptions
    @OptionGroup(title: "Broker") var broker: BrokerOptions
    @OptionGroup(title: "Output") var output: OutputOptions

    func validate() throws {
        _ = try parseOffset(utcOffset, option: "--utc-offset")
        _ = try payload.template(for: format)
        guard format != .binary else { throw ValidationError("--format binary carries water levels; counts go as csv or json") }
    }

    func run() async throws {
        let offset = try parseOffset(utcOffset, option: "--utc-offset")
        let counts = try PedestrianCounts(text: readText(file), file: file, utcOffsetSeconds: offset)
        let locations = try PedestrianSensorLocations(text: readText(sensors), file: sensors)
        let (readings, matched, unmatched) = TraceReadings.pedestrians(counts, locations: locations)
        let (from, to) = try timing.window()
        let timeline = ReplayTimeline(readings, from: from, to: to, shift: timing.shift())
        var notes = ["\(ProgressMeter.grouped(timeline.readings.count)) hourly counts of \(matched.count) sensors"]
        if !unmatched.isEmpty { notes.append("columns not in \(sensors) skipped: \(unmatched.joined(separator: ", "))") }
        if !counts.rejected.isEmpty { notes.append("\(counts.rejected.count) unreadable cells skipped (first: \(counts.rejected[0]))") }
        if timeline.outsideWindow > 0 { notes.append("\(timeline.outsideWindow) outside --from/--to") }
        note("pedestrians: " + notes.joined(separator: "; "))
        var source = TimelineSource(timeline: timeline, format: format, template: try payload.template(for: format), offsetSeconds: offset)
        try await Replayer(label: "pedestrians", broker: broker, output: output, pace: timing.pace).run(&source)
    }
}

/// `kakehashi-sim load`: seeded synthetic gauges for benchmarks.
struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish synthetic water-level readings at a steady rate, the same for the same seed.",
        discussion: """
            --sensors gauges named load-0001, load-0002, … take turns; each level is a random walk of \
            a seeded generator, so the same seed, --start and options send the same messages. Times \
            advance by 1/rate from --start (default: now).

            Examples:
              kakehashi-sim load --sensors 500 --rate 2000 --duration 60
              kakehashi-sim load --sensors 10 --rate 100 --duration 5 --seed 7 --start 2026-06-02T00:00:00Z --dry-run
              kakehashi-sim devices load --sensors 500 > devices.csv   # their registry for a gateway
            """
    )

    @Option(help: "How many sensors.")
    var sensors: Int = 100

    @Option(help: ArgumentHelp("Readings per second, all sensors together.", valueName: "per-second"))
    var rate: Double = 1000

    @Option(help: ArgumentHelp("Seconds of readings.", valueName: "seconds"))
    var duration: Double = 10

    @Option(help: "The generator's seed.")
    var seed: UInt64 = 1

    @Option(help: ArgumentHelp("The first reading's time (RFC 3339 with a zone; default: now).", valueName: "time"))
    var start: String?

    @Option(help: "The payload: json (default), csv or binary (binary times are whole seconds: at most one reading per sensor per second).")
    var format: DevicePayload = .json

    @Flag(help: "Send everything as fast as the broker takes it instead of at --rate.")
    var asFastAsPossible = false

    @OptionGroup(title: "Payload") var payload: PayloadOptions
    @OptionGroup(title: "Broker") var broker: BrokerOptions
    @OptionGroup(title: "Output") var output: OutputOptions

    func validate() throws {
        _ = try payload.template(for: format)
        _ = try load()
        if format != .json && rate / Double(sensors) > 1 {
            throw ValidationError(
                "--format \(format.rawValue) has whole-second times: keep --rate at most --sensors (one reading per sensor per second)"
            )
        }
    }

    func load() throws -> SyntheticLoad {
        var first = Timestamp(millisecondsSinceEpoch: TimingOptions.nowMilliseconds() / 1000 * 1000)
        if let start {
            do { first = try Timestamp(iso8601: start, field: "--start") } catch { throw ValidationError("--start \(start): \(error.description)") }
        }
        do { return try SyntheticLoad(sensors: sensors, rate: rate, durationSeconds: duration, seed: seed, start: first) } catch {
            throw ValidationError(error.description)
        }
    }

    func run() async throws {
        let load = try load()
        note("load: \(ProgressMeter.grouped(load.count)) readings of \(load.sensors) sensors at \(load.rate)/s from \(load.start), seed \(load.seed)")
        var source = LoadSource(load: load, format: format, template: try payload.template(for: format))
        try await Replayer(label: "load", broker: broker, output: output, pace: asFastAsPossible ? nil : 1).run(&source)
    }
}

/// The load's readings, generated as they are sent (a long run never sits in memory).
struct LoadSource: MessageSource {
    var iterator: SyntheticLoad.Iterator
    let format: DevicePayload
    let template: TopicTemplate
    let total: Int
    let firstTime: Timestamp?
    let lastTime: Timestamp?

    init(load: SyntheticLoad, format: DevicePayload, template: TopicTemplate) {
        iterator = load.makeIterator()
        self.format = format
        self.template = template
        total = load.count
        firstTime = load.count > 0 ? load.time(of: 0) : nil
        lastTime = load.count > 0 ? load.time(of: load.count - 1) : nil
    }

    mutating func next() -> Result<SimMessage, SimulationError>? {
        guard let reading = iterator.next() else { return nil }
        do {
            return .success(SimMessage(topic: template.topic(sensor: reading.sensor), payload: try format.encode(reading), time: reading.time))
        } catch {
            return .failure(error)
        }
    }
}
