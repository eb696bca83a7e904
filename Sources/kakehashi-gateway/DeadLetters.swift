import ArgumentParser
import KakehashiGateway
import KakehashiModel

/// `kakehashi-gateway deadletters FILE`: the most recent rejected messages.
struct DeadLetters: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deadletters",
        abstract: "List the most recent rejected messages, newest first (time, source, topic, reason, detail, payload start).",
        discussion: """
            FILE is the gateway configuration (its outbox is read) or the outbox database itself (*.sqlite). \
            Secrets are not needed: their environment variables may be unset.
            """
    )

    @Argument(help: "The configuration file, or the outbox database.")
    var file: String

    @Option(help: "How many to list, newest first.")
    var limit: Int = 50

    @Flag(help: "One JSON object per line instead of a table.")
    var json = false

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        var outbox = OutboxConfiguration(path: file)
        if !file.hasSuffix(".sqlite") && !file.hasSuffix(".db") {
            do {
                outbox = try GatewayConfiguration.load(file: file, secrets: .deferred).outbox
            } catch {
                throw CommandFailure("the configuration has problems:\n\(error)")
            }
        }
        let letters: [DeadLetter]
        do {
            letters = try Outbox(configuration: outbox).deadLetters(limit: limit)
        } catch {
            throw CommandFailure("\(error)")
        }
        for letter in letters {
            if json {
                let object: JSONValue = [
                    "id": .number(Double(letter.id)), "receivedAt": .string(letter.receivedAt.iso8601), "source": .string(letter.source),
                    "topic": .string(letter.topic), "reason": .string(letter.reason), "detail": .string(letter.detail),
                    "size": .number(Double(letter.size)), "payloadStart": .string(Self.preview(letter.payload, limit: 200)),
                ]
                print(object.jsonText)
            } else {
                print("\(letter.receivedAt.iso8601)  \(letter.source)  \(letter.topic)  \(letter.reason): \(letter.detail)")
                print("    \(letter.size) bytes: \(Self.preview(letter.payload, limit: 80))")
            }
        }
        if !json {
            print(letters.isEmpty ? "0 dead letters" : "\(letters.count) dead letter(s) shown, newest first")
        }
    }

    /// Printable text as is, anything else as hex.
    static func preview(_ bytes: [UInt8], limit: Int) -> String {
        let head = Array(bytes.prefix(limit))
        let more = bytes.count > limit ? "…" : ""
        if let text = String(validating: head, as: UTF8.self), text.unicodeScalars.allSatisfy({ $0.value >= 0x20 || $0 == "\t" }) {
            return text + more
        }
        return "hex " + head.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() + more
    }
}
