import ArgumentParser
import Foundation
import KakehashiHub
import KakehashiHubCore
import KakehashiHubPostgres
import KakehashiSimulation
import Logging
import Synchronization

/// `kakehashi-hub copy --from SQLITE-HUB.yaml --to POSTGRES-HUB.yaml`
struct Copy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move a SQLite hub's whole history, keys and alerts into a PostgreSQL hub's database.",
        discussion: """
            Stop the SQLite hub first (readings it stores during the copy may be missed). The copy can be \
            stopped and run again: it goes on where it was, and what was copied already is not copied twice. \
            The target may hold other cities' data: series, entities and keys are matched by their names. \
            At the end the counts of both are compared; any difference makes the command fail. NGSI-LD \
            subscriptions stay in the hub's local file (storage.path): copy that file there too.
            """
    )

    enum ProgressStyle: String, ExpressibleByArgument, CaseIterable { case auto, bar, lines, none }

    @Option(name: .long, help: "The configuration of the hub to copy from (storage.kind sqlite).")
    var from: String

    @Option(name: .long, help: "The configuration of the hub to copy into (storage.kind postgres).")
    var to: String

    @Option(help: "Readings per insert.")
    var chunk = 5000

    @Option(help: "How progress is shown: auto (a bar on a terminal, lines otherwise), bar, lines or none.")
    var progress: ProgressStyle = .auto

    func validate() throws {
        guard (1...100_000).contains(chunk) else { throw ValidationError("--chunk is between 1 and 100000") }
    }

    func run() async throws {
        let source: HubConfiguration, target: HubConfiguration
        do { source = try HubConfiguration.load(file: from, secrets: .deferred) } catch {
            throw CommandFailure("\(from) has problems:\n\(error)")
        }
        do { target = try HubConfiguration.load(file: to) } catch { throw CommandFailure("\(to) has problems:\n\(error)") }
        guard case .sqlite = source.storageKind else { throw CommandFailure("\(from) does not keep its data in SQLite (storage.kind)") }
        guard source.storageSeparation == .shared else {
            throw CommandFailure("\(from) keeps one file per tenant (storage.separation: per_tenant): copying those is not built yet")
        }
        guard case .postgres = target.storageKind else { throw CommandFailure("\(to) does not keep its data in PostgreSQL (storage.kind: postgres)") }
        guard FileManager.default.fileExists(atPath: source.storagePath) else { throw CommandFailure("\(source.storagePath) does not exist") }

        let logger = Logger(label: "kakehashi.hub.copy")
        let store: any ObservationStore & AlertStore
        do { store = try await Hub.openStore(target, logger: logger) } catch { throw CommandFailure("\(error)") }
        guard let postgres = store as? PostgresStore else { throw CommandFailure("\(to) did not open a PostgreSQL store") }
        let style: ProgressMeter.Style
        switch progress {
        case .auto: style = isatty(2) == 1 ? .bar : .lines
        case .bar: style = .bar
        case .lines: style = .lines
        case .none: style = .none
        }
        let meter = ProgressMeter(style: style, label: "copy", unit: "readings")
        let began = ContinuousClock.now
        let lastShown = Mutex<ContinuousClock.Instant?>(nil)
        let interval: Duration = style == .bar ? .milliseconds(200) : .seconds(5)
        let counts: [SQLiteImport.Count]
        do {
            counts = try await SQLiteImport(source: source.storagePath, target: postgres, chunk: chunk, logger: logger).run { state in
                let now = ContinuousClock.now
                let due = lastShown.withLock { last in
                    if let last, now - last < interval, state.readings < state.totalReadings { return false }
                    last = now
                    return true
                }
                guard due else { return }
                let elapsed = now - began
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                if let text = meter.render(.init(sent: state.readings, total: state.totalReadings, elapsedSeconds: seconds, traceTime: state.step)) {
                    FileHandle.standardError.write(Data(text.utf8))
                }
            }
        } catch {
            await postgres.close()
            throw CommandFailure("copying failed (run the same command again to go on): \(error)")
        }
        await postgres.close()
        if style == .bar { FileHandle.standardError.write(Data("\n".utf8)) }
        print("\(source.storagePath) → \(to):")
        for count in counts {
            print("  \(count.table): \(count.source) in the source, \(count.target) in the target\(count.matches ? "" : "  ← DIFFERENT")")
        }
        let different = counts.filter { !$0.matches }
        guard different.isEmpty else {
            throw CommandFailure("the counts differ for \(different.map(\.table).joined(separator: ", ")): run the copy again, or look at the target")
        }
        print("copied and verified")
    }
}
