import ArgumentParser
import FoundationEssentials
import KakehashiModel
import KakehashiTraces

#if canImport(Glibc)
import Glibc
#endif

/// `kakehashi-sim inspect river`: an MLIT river-gauge trace as WaterObserved entities.
struct InspectRiver: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "river",
        abstract: "Normalize an MLIT river-gauge trace (station_code, observed_at, level_m) into WaterObserved entities.",
        discussion: """
            Each reading is joined with its gauge's location, name, address and thresholds from the \
            stations file. Examples:

              kakehashi-sim inspect river simulators/traces/river-jp/storm-2026-06-02.csv \\
                  --stations simulators/traces/river-jp/storm-2026-06-02-stations.csv
              kakehashi-sim inspect river TRACE.csv --stations STATIONS.csv --output ndjson --form keyValues
            """
    )

    enum Output: String, ExpressibleByArgument, CaseIterable {
        case summary, ndjson, batch
    }

    @Argument(help: "The readings file: station_code, observed_at, level_m.")
    var trace: String

    @Option(help: "The stations file: station_code, name, prefecture, city, latitude, longitude, start_level_m, warn_level_m, flood_level_m.")
    var stations: String

    @Option(help: "The tenant (city) the entities belong to: lowercase a-z, digits, '-'.")
    var tenant: String = "demo"

    @Option(help: "What to print: summary, ndjson (one entity per line) or batch (wire batches of --batch-size).")
    var output: Output = .summary

    @Option(help: "NGSI-LD form for ndjson: normalized or keyValues.")
    var form: String = "normalized"

    @Option(help: "Entities per wire batch for --output batch and the size figures of the summary.")
    var batchSize: Int = 100

    func validate() throws {
        guard NGSIForm(rawValue: form) != nil else { throw ValidationError("--form must be normalized or keyValues, not \(form)") }
        guard (1...ModelLimits.maxBatchEntries).contains(batchSize) else {
            throw ValidationError("--batch-size must be in 1...\(ModelLimits.maxBatchEntries)")
        }
        do { _ = try Tenant(tenant) } catch { throw ValidationError("--tenant: \(error)") }
    }

    func run() throws {
        let tenant = try Tenant(tenant)
        let started = ContinuousClock.now
        let stationsFile = try RiverGaugeStations(text: readText(stations), file: stations)
        let traceFile = try RiverGaugeTrace(text: readText(trace), file: trace)
        let result = RiverTraceNormalizer(tenant: tenant, stations: stationsFile).normalize(traceFile, file: trace)
        let normalized = ContinuousClock.now - started
        for problem in stationsFile.rejected { printError("rejected station row: \(problem)") }
        switch output {
        case .ndjson:
            let ngsiForm = NGSIForm(rawValue: form) ?? .normalized
            for entity in result.entities { print(entity.json(ngsiForm).jsonText) }
            reportRejects(result)
        case .batch:
            for batch in try batches(result, tenant: tenant) { print(String(decoding: batch.payload(), as: UTF8.self)) }
            reportRejects(result)
        case .summary:
            try printSummary(result, stations: stationsFile, tenant: tenant, elapsed: normalized)
        }
    }

    func batches(_ result: RiverTraceNormalizer.Result, tenant: Tenant) throws -> [WireBatch] {
        let gateway = try GatewayID("sim-river")
        var sequence: UInt64 = 0
        var batches = [WireBatch]()
        var start = 0
        while start < result.entities.count {
            let slice = result.entities[start..<min(start + batchSize, result.entities.count)]
            let entries = slice.map { entity -> WireBatch.Entry in
                sequence += 1
                return WireBatch.Entry(sequence: sequence, entity: entity.ngsiEntity)
            }
            batches.append(try WireBatch(tenant: tenant, gateway: gateway, entries: entries))
            start += batchSize
        }
        return batches
    }

    func printSummary(_ result: RiverTraceNormalizer.Result, stations: RiverGaugeStations, tenant: Tenant, elapsed: Duration) throws {
        let summary = RiverTraceSummary(result, stations: stations)
        let encodeStart = ContinuousClock.now
        let wire = try batches(result, tenant: tenant)
        let bytes = wire.reduce(0) { $0 + $1.payload().count }
        let encoded = ContinuousClock.now - encodeStart
        print("Trace        \(trace)")
        print("Stations     \(stations.byCode.count) gauges (\(stations.rejected.count) rows rejected)")
        print("Readings     \(summary.entities) WaterObserved entities from \(summary.gauges) gauges, tenant \(tenant)")
        print("Rejected     \(summary.rejected)   duplicates skipped: \(summary.duplicates)")
        if let first = summary.firstObserved, let last = summary.lastObserved {
            print("Observed     \(first) … \(last)")
        }
        print(
            "Stages       \(summary.gaugesAtAlert) gauges reached alert stage or higher (危険水位 or above), \(summary.gaugesAtDanger) reached "
                + "danger (氾濫開始水位)"
        )
        print("Below datum  \(summary.belowDatum) readings below the gauge's zero (negative levels are kept)")
        for line in summary.inconsistentGauges { print("Thresholds   out of order at \(line)") }
        if !summary.worst.isEmpty {
            print("Highest above danger level:")
            for gauge in summary.worst {
                print("  \(gauge.code)  \(gauge.margin >= 0 ? "+" : "")\(gauge.margin) m  \(gauge.name)")
            }
        }
        print(
            "Wire         \(wire.count) batches of ≤\(batchSize), \(bytes) bytes (\(summary.entities > 0 ? bytes / summary.entities : 0) "
                + "bytes/entity)"
        )
        print("Time         normalize \(milliseconds(elapsed)) ms, encode \(milliseconds(encoded)) ms")
        if let sample = result.entities.first(where: { $0.floodLevelStatus == .danger }) ?? result.entities.first {
            print("Sample entity (NGSI-LD normalized):")
            print(sample.json(.normalized).jsonText)
        }
        reportRejects(result)
    }

    func reportRejects(_ result: RiverTraceNormalizer.Result) {
        for problem in result.rejected.prefix(20) { printError("rejected: \(problem)") }
        if result.rejected.count > 20 { printError("… and \(result.rejected.count - 20) more rejected readings") }
    }

    func milliseconds(_ duration: Duration) -> String {
        let ms = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        return String(Int(ms.rounded()))
    }

    func readText(_ path: String) throws -> String {
        do {
            return String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
        } catch {
            throw ValidationError("cannot read \(path): \(error)")
        }
    }

    func printError(_ line: String) {
        var text = line + "\n"
        text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}
