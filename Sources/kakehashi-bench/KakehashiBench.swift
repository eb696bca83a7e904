import ArgumentParser
import KakehashiModel

#if canImport(Glibc)
import Glibc
#endif

/// `kakehashi-bench`: Kakehashi's operations measured side by side with a baseline, in one run.
@main
struct KakehashiBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kakehashi-bench",
        abstract: "Measure Kakehashi side by side with its baselines and print a Markdown table.",
        discussion: "Build in release mode (deploy/bench does). Each figure is the median of --repeats runs, with min–max.")

    @Option(help: "Timed runs per scenario (the median is reported).")
    var repeats: Int = 7

    @Option(help: "Operations per timed run.")
    var iterations: Int = 20_000

    func validate() throws {
        guard repeats >= 1, iterations >= 1 else { throw ValidationError("--repeats and --iterations must be at least 1") }
    }

    func run() throws {
        let rows = try ModelScenarios.run(repeats: repeats, iterations: iterations)
        print("| Scenario | Kakehashi | Baseline | Baseline time | Ratio |")
        print("| --- | --- | --- | --- | --- |")
        for row in rows {
            let ratio = row.baseline.median / row.kakehashi.median
            print("| \(row.scenario) | \(row.kakehashi.microseconds) | \(row.baselineName) | \(row.baseline.microseconds) | \(Measurement.format(ratio))× faster |")
        }
        print("")
        print("Median of \(repeats) runs of \(iterations) operations each (min–max in brackets), \(machine()).")
    }

    func machine() -> String {
        let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        let gib = Double(pages) * Double(pageSize) / 1_073_741_824
        return "\(cores) cores, \(Int(gib.rounded())) GiB"
    }
}
