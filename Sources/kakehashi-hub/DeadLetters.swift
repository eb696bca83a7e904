import ArgumentParser
import KakehashiHub
import KakehashiModel

/// `kakehashi-hub deadletters --config FILE`
struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deadletters",
        abstract: "List rejected batches, newest first, with the reason.")

    @OptionGroup var options: ConfigOption

    @Option(help: "How many to list.")
    var limit = 50

    @Flag(help: "One JSON object per line instead of text.")
    var json = false

    func run() async throws {
        let configuration: HubConfiguration
        do { configuration = try HubConfiguration.load(file: options.config) } catch {
            throw CommandFailure("the configuration has problems:\n\(error)")
        }
        do {
            let store = try SQLiteStore(path: configuration.storagePath, options: configuration.storage)
            for letter in try await store.deadLetters(limit: limit) {
                let preview = String(decoding: letter.payload.prefix(120), as: UTF8.self)
                if json {
                    let object: JSONValue = [
                        "id": .number(Double(letter.id)), "receivedAt": .string(letter.receivedAt.iso8601), "source": .string(letter.source),
                        "tenant": letter.tenant.map { .string($0) } ?? .null, "reason": .string(letter.reason), "detail": .string(letter.detail),
                        "size": .number(Double(letter.size)), "payload": .string(String(decoding: letter.payload, as: UTF8.self)),
                    ]
                    print(object.jsonText)
                } else {
                    print("#\(letter.id) \(letter.receivedAt.iso8601) \(letter.source) \(letter.reason): \(letter.detail)\n    \(letter.size) bytes: \(preview)")
                }
            }
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}
