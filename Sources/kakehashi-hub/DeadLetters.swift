import ArgumentParser
import Foundation
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiModel
import Logging

/// `kakehashi-hub deadletters [list|retry] --config FILE`
struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deadletters",
        abstract: "List rejected batches, or ingest them again once what refused them is put right.",
        subcommands: [List.self, Retry.self],
        defaultSubcommand: List.self
    )

    static func load(_ file: String) throws -> HubConfiguration {
        do { return try HubConfiguration.load(file: file, secrets: .deferred) } catch {
            throw CommandFailure("the configuration has problems:\n\(error)")
        }
    }

    static func openStore(_ configuration: HubConfiguration) async throws -> any ObservationStore {
        try await Hub.openStore(configuration, logger: Logger(label: "kakehashi.hub"))
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List rejected batches, newest first, with the reason.")

        @OptionGroup var options: ConfigOption

        @Option(help: "How many to list.")
        var limit = 50

        @Flag(help: "One JSON object per line instead of text.")
        var json = false

        func run() async throws {
            let configuration = try DeadLetters.load(options.config)
            do {
                let store = try await DeadLetters.openStore(configuration)
                let letters = try await store.deadLetters(limit: limit)
                if letters.isEmpty && !json { print("0 dead letters") }
                for letter in letters {
                    let preview = String(decoding: letter.payload.prefix(120), as: UTF8.self)
                    if json {
                        let object: JSONValue = [
                            "id": .number(Double(letter.id)), "receivedAt": .string(letter.receivedAt.iso8601), "source": .string(letter.source),
                            "tenant": letter.tenant.map { .string($0) } ?? .null, "reason": .string(letter.reason), "detail": .string(letter.detail),
                            "size": .number(Double(letter.size)), "payload": .string(String(decoding: letter.payload, as: UTF8.self)),
                        ]
                        print(object.jsonText)
                    } else {
                        print(
                            "#\(letter.id) \(letter.receivedAt.iso8601) \(letter.source) \(letter.reason): \(letter.detail)\n    "
                                + "\(letter.size) bytes: \(preview)"
                        )
                    }
                }
            } catch let error as CommandFailure {
                throw error
            } catch {
                throw CommandFailure("\(error)")
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ingest dead letters again: stored ones are forgotten, refused ones stay with the new reason.",
            discussion: """
                For batches refused for a reason since put right: a gateway or tenant registered late, a \
                clock fixed, a limit raised. Each goes through the hub's validation and storage as when it \
                arrived (a reading already stored is not stored twice). The running hub's alert rules do \
                not see what a retry stores. Exits 1 when any is refused again.
                """
        )

        @OptionGroup var options: ConfigOption

        @Option(name: .customLong("id"), help: "A dead letter's id (repeatable; see `deadletters list`).")
        var ids: [Int64] = []

        @Option(help: "Every dead letter with this reason (e.g. unknown_gateway).")
        var reason: String?

        @Flag(help: "Every dead letter.")
        var all = false

        func validate() throws {
            guard all || reason != nil || !ids.isEmpty else {
                throw ValidationError("say which: --id N (repeatable), --reason REASON or --all")
            }
            if let reason, IngestRejection.Reason(rawValue: reason.replacingOccurrences(of: "-", with: "_")) == nil {
                throw ValidationError(
                    "--reason is one of \(IngestRejection.Reason.allCases.map(\.rawValue).joined(separator: ", ")), not '\(reason)'"
                )
            }
        }

        func run() async throws {
            let configuration = try DeadLetters.load(options.config)
            var refusedAgain = 0
            do {
                let store = try await DeadLetters.openStore(configuration)
                let access = try Hub.openAccess(configuration, logger: Logger(label: "kakehashi.hub"))
                let retry = DeadLetterRetry(configuration: configuration, store: store, access: access, now: systemWallClock)
                let letters = try await store.deadLetters(limit: Int.max).reversed().filter { letter in
                    // The spelling of older versions (unknown-gateway) is accepted.
                    all || ids.contains(letter.id) || letter.reason == reason?.replacingOccurrences(of: "-", with: "_")
                }
                let missing = Set(ids).subtracting(letters.map(\.id))
                if !missing.isEmpty { print("no dead letter #\(missing.sorted().map(String.init).joined(separator: ", #"))") }
                var stored = 0, readings = 0, kept = 0
                for letter in letters {
                    switch try await retry.retry(letter) {
                    case .stored(let result):
                        stored += 1
                        readings += result.stored
                        print("#\(letter.id) stored: \(result.stored) readings new, \(result.duplicates) already stored")
                    case .refused(let rejection):
                        refusedAgain += 1
                        print("#\(letter.id) refused again, kept: \(rejection.reason.rawValue): \(rejection.detail)")
                    case .notRetriable(let why):
                        kept += 1
                        print("#\(letter.id) kept: \(why)")
                    }
                }
                print(
                    "\(letters.count) dead letter(s): \(stored) stored (\(readings) readings), \(refusedAgain) refused again, \(kept) not retriable"
                )
            } catch {
                throw CommandFailure("\(error)")
            }
            if refusedAgain > 0 { throw ExitCode(1) }
        }
    }
}
