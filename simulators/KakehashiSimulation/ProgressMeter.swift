/// What a long replay shows while it runs: a bar with rate and ETA redrawn in place on a terminal,
/// or a plain line every few seconds when the output is a file or a pipe (a log stays readable).
public struct ProgressMeter: Sendable {
    public enum Style: String, Sendable, CaseIterable {
        /// One line redrawn with `\r` (terminals).
        case bar
        /// A full line each time (logs, pipes).
        case lines
        /// Nothing but the final summary.
        case none
    }

    /// A moment of the replay.
    public struct Snapshot: Sendable {
        public var sent: Int
        public var total: Int
        public var failed: Int
        public var elapsedSeconds: Double
        /// Seconds left, when the schedule knows (a paced replay); otherwise it comes from the rate.
        public var remainingSeconds: Double?
        /// The time of the last reading sent, as text (`2026-06-02T05:10:00Z`).
        public var traceTime: String?

        public init(sent: Int, total: Int, failed: Int = 0, elapsedSeconds: Double, remainingSeconds: Double? = nil, traceTime: String? = nil) {
            self.sent = sent
            self.total = total
            self.failed = failed
            self.elapsedSeconds = elapsedSeconds
            self.remainingSeconds = remainingSeconds
            self.traceTime = traceTime
        }

        /// Messages per second so far.
        public var rate: Double { elapsedSeconds > 0 ? Double(sent) / elapsedSeconds : 0 }

        /// Seconds left: the schedule's, else what the rate so far predicts.
        public var eta: Double? {
            if let remainingSeconds { return max(0, remainingSeconds) }
            guard rate > 0 else { return nil }
            return Double(total - sent) / rate
        }
    }

    public let style: Style
    /// What is replayed (`river`, `load`, …), first on each line.
    public let label: String
    /// Characters of the bar itself.
    public let barWidth: Int
    /// What is counted, in lines (`messages`, `records`).
    public let unit: String

    public init(style: Style, label: String, barWidth: Int = 24, unit: String = "messages") {
        self.style = style
        self.label = label
        self.barWidth = barWidth
        self.unit = unit
    }

    /// The text to write for `snapshot` (nil for `.none`): the bar starts with `\r` and clears the
    /// rest of the line; a line ends with `\n`.
    public func render(_ snapshot: Snapshot) -> String? {
        let fraction = snapshot.total > 0 ? min(1, Double(snapshot.sent) / Double(snapshot.total)) : 1
        let percent = Int((fraction * 100).rounded(.down))
        let eta = snapshot.eta.map(Self.duration) ?? "?"
        let failed = snapshot.failed > 0 ? ", \(Self.grouped(snapshot.failed)) failed" : ""
        switch style {
        case .none:
            return nil
        case .bar:
            let filled = Int((fraction * Double(barWidth)).rounded(.down))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: barWidth - filled)
            var text = "\r\(label) \(bar) \(percent)% \(Self.grouped(snapshot.sent))/\(Self.grouped(snapshot.total))"
            text += " \(Self.rate(snapshot.rate))/s ETA \(eta)"
            if let time = snapshot.traceTime { text += " · \(time)" }
            text += failed
            return text + "\u{1B}[K"
        case .lines:
            var text = "\(label): \(Self.grouped(snapshot.sent))/\(Self.grouped(snapshot.total)) \(unit) (\(percent)%), \(Self.rate(snapshot.rate))/s"
            if let time = snapshot.traceTime { text += ", trace time \(time)" }
            text += ", ETA \(eta)\(failed)"
            return text + "\n"
        }
    }

    /// `1,234,567`.
    public static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out += "," }
            out.append(character)
        }
        return value < 0 ? "-" + out : out
    }

    /// `0.5`, `12.3`, `1,234`.
    static func rate(_ value: Double) -> String {
        if value >= 100 { return grouped(Int(value.rounded())) }
        let tenths = (value * 10).rounded()
        return "\(Int(tenths) / 10).\(Int(tenths) % 10)"
    }

    /// `42s`, `3m05s`, `2h07m`.
    public static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded(.up))
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m\(two(total % 60))s" }
        return "\(total / 3600)h\(two(total / 60 % 60))m"
    }
}
