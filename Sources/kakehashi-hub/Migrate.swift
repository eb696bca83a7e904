import ArgumentParser
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite

/// `kakehashi-hub migrate --config FILE`
struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the database or bring its schema up to date, then exit.",
        discussion: "`run` migrates too; this lets an operator do it (and see the versions) before starting."
    )

    @Option(name: .long, help: "The hub configuration file (YAML), naming the database.")
    var config: String?

    @Option(name: .long, help: "The database file, instead of --config.")
    var database: String?

    func validate() throws {
        if (config == nil) == (database == nil) { throw ValidationError("give --config FILE or --database PATH") }
    }

    func run() throws {
        var path = database ?? ""
        if let config {
            do { path = try HubConfiguration.load(file: config, secrets: .deferred).storagePath } catch {
                throw CommandFailure("the configuration has problems:\n\(error)")
            }
        }
        do {
            let (from, to) = try SQLiteStore.migrate(path: path)
            print(from == to ? "\(path): schema version \(to), up to date" : "\(path): schema migrated from version \(from) to \(to)")
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}
