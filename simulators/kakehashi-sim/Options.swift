import ArgumentParser
import KakehashiMQTT
import KakehashiModel
import KakehashiSimulation

#if canImport(Glibc)
import Glibc
#endif

/// Where messages go: `--broker mqtt://host:port` (or `mqtts://` for TLS), with credentials.
struct BrokerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The MQTT broker: mqtt://HOST:PORT, mqtts://HOST:PORT (TLS, needs --ca-file) or HOST:PORT.", valueName: "url"))
    var broker: String = "mqtt://127.0.0.1:1883"

    @Option(help: "User name for the broker.")
    var username: String?

    @Option(help: ArgumentHelp("Environment variable holding the broker password (never given on the command line).", valueName: "name"))
    var passwordEnv: String?

    @Option(help: ArgumentHelp("CA certificate (PEM) to verify the broker with; turns TLS on.", valueName: "file"))
    var caFile: String?

    @Option(help: ArgumentHelp("Client certificate (PEM) for brokers that require one.", valueName: "file"))
    var certFile: String?

    @Option(help: ArgumentHelp("The client certificate's private key (PEM).", valueName: "file"))
    var keyFile: String?

    @Option(help: "MQTT client id (default: kakehashi-sim-<process id>).")
    var clientID: String?

    @Option(help: "QoS of the published messages: 0 or 1.")
    var qos: Int = 1

    @Option(help: ArgumentHelp("Seconds to wait for the broker before giving up.", valueName: "seconds"))
    var connectTimeout: Double = 10

    func validate() throws {
        guard qos == 0 || qos == 1 else { throw ValidationError("--qos must be 0 or 1, not \(qos)") }
        _ = try endpoint()
        if certFile != nil || keyFile != nil, caFile == nil { throw ValidationError("--cert-file and --key-file need --ca-file (TLS)") }
        if (certFile == nil) != (keyFile == nil) { throw ValidationError("--cert-file and --key-file go together") }
        if let passwordEnv, getenv(passwordEnv) == nil {
            throw ValidationError("--password-env \(passwordEnv): that environment variable is not set")
        }
    }

    /// Host, port and whether the scheme asked for TLS.
    func endpoint() throws -> (host: String, port: Int, tls: Bool) {
        var rest = Substring(broker)
        var tls = false
        if rest.hasPrefix("mqtts://") {
            tls = true; rest = rest.dropFirst(8)
        } else if rest.hasPrefix("mqtt://") {
            rest = rest.dropFirst(7)
        } else if rest.contains("://") {
            throw ValidationError("--broker \(broker): the scheme must be mqtt:// or mqtts://")
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        let host: Substring, port: Int
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            host = rest[..<colon]
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                throw ValidationError("--broker \(broker): the port must be a number 1-65535")
            }
            port = p
        } else {
            host = rest
            port = tls ? 8883 : 1883
        }
        guard !host.isEmpty else { throw ValidationError("--broker \(broker): no host") }
        if tls && caFile == nil { throw ValidationError("--broker \(broker) uses TLS: give the broker's CA with --ca-file") }
        return (String(host), port, tls || caFile != nil)
    }

    func configuration() throws -> MQTTConfiguration {
        let (host, port, _) = try endpoint()
        var configuration = MQTTConfiguration(host: host, port: port, clientID: clientID ?? "kakehashi-sim-\(getpid())")
        configuration.session = .clean
        if let username {
            configuration.credentials = .init(username: username, password: passwordEnv.flatMap { getenv($0) }.map { String(cString: $0) })
        }
        if let caFile { configuration.tls = .init(caFile: caFile, certificateFile: certFile, keyFile: keyFile) }
        configuration.reconnect = Backoff(initial: .milliseconds(100), maximum: .seconds(2))
        return configuration
    }
}

/// How fast, from when, and at what times a trace is replayed.
struct TimingOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Trace seconds played per second: 1 is real time, 3600 an hour per second.", valueName: "factor"))
    var speed: Double = 1

    @Flag(help: "Send everything as fast as the broker takes it, ignoring the trace's pace.")
    var asFastAsPossible = false

    @Flag(help: "Move every time by the same amount so that the trace ends now (default: the trace's own times).")
    var shiftToNow = false

    @Option(help: ArgumentHelp("Only readings at or after this time (RFC 3339 with a zone, e.g. 2026-06-02T00:00:00+09:00).", valueName: "time"))
    var from: String?

    @Option(help: ArgumentHelp("Only readings before this time (RFC 3339 with a zone).", valueName: "time"))
    var to: String?

    func validate() throws {
        guard speed > 0, speed.isFinite else { throw ValidationError("--speed must be above 0, not \(speed)") }
        let (from, to) = try window()
        if let from, let to, from >= to { throw ValidationError("--from must be before --to") }
    }

    /// The pace: nil when as fast as possible.
    var pace: Double? { asFastAsPossible ? nil : speed }

    func window() throws -> (Timestamp?, Timestamp?) {
        func parse(_ text: String?, _ option: String) throws -> Timestamp? {
            guard let text else { return nil }
            do { return try Timestamp(iso8601: text, field: option) } catch {
                throw ValidationError("\(option) \(text): \(error.description) (write it like 2026-06-02T00:00:00+09:00)")
            }
        }
        return (try parse(from, "--from"), try parse(to, "--to"))
    }

    func shift() -> ReplayTimeline.Shift {
        shiftToNow ? .endAt(Timestamp(millisecondsSinceEpoch: Self.nowMilliseconds())) : .none
    }

    static func nowMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}

/// What the user sees: a progress bar, lines, or nothing; or the messages themselves.
struct OutputOptions: ParsableArguments {
    enum ProgressChoice: String, ExpressibleByArgument, CaseIterable {
        case auto, bar, lines, none
    }

    @Option(help: "Progress on standard error: auto (a bar on a terminal, a line every --progress-interval otherwise), bar, lines or none.")
    var progress: ProgressChoice = .auto

    @Option(help: ArgumentHelp("Seconds between progress lines when not on a terminal.", valueName: "seconds"))
    var progressInterval: Double = 5

    @Flag(help: "Print the messages (topic, tab, payload; binary as hex:…) on standard output instead of publishing them.")
    var dryRun = false

    func validate() throws {
        guard progressInterval > 0 else { throw ValidationError("--progress-interval must be above 0") }
    }

    var style: ProgressMeter.Style {
        switch progress {
        case .auto: isatty(2) == 1 ? .bar : .lines
        case .bar: .bar
        case .lines: .lines
        case .none: .none
        }
    }
}

/// Payload format and topic of a replay.
struct PayloadOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The topic, {sensor} standing for the sensor id (default: the format's topic in the sample gateway config).",
            valueName: "template"
        )
    )
    var topic: String?

    func template(for format: DevicePayload) throws -> TopicTemplate {
        do { return try TopicTemplate(topic ?? format.defaultTopic) } catch { throw ValidationError(error.description) }
    }
}

extension DevicePayload: ExpressibleByArgument {}

/// `+09:00` → 32400 (``UTCOffset``).
func parseOffset(_ text: String, option: String) throws -> Int {
    guard let seconds = UTCOffset.seconds(text) else { throw ValidationError("\(option) \(text): write a UTC offset like +09:00 or -05:00") }
    return seconds
}

/// Reads a whole file, with an error that names it.
func readFile(_ path: String) throws -> [UInt8] {
    guard let file = fopen(path, "rb") else {
        throw SimulationError("cannot read \(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    var bytes = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
        if n < chunk.count { break }
    }
    if ferror(file) != 0 { throw SimulationError("cannot read \(path): \(String(cString: strerror(errno)))") }
    return bytes
}

func readText(_ path: String) throws -> String { String(decoding: try readFile(path), as: UTF8.self) }

/// A line on standard error.
func note(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
