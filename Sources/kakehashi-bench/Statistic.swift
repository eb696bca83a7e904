/// One scenario's figures, side by side with its baseline.
struct BenchRow {
    /// What is measured.
    let scenario: String
    /// Kakehashi's samples (one per repeat).
    let kakehashi: [Double]
    /// What the baseline is.
    let baselineName: String
    /// The baseline's samples.
    let baseline: [Double]
    /// The unit of the samples, e.g. `µs` or `msg/s`.
    let unit: String
    /// Whether a larger number is better (throughput) or a smaller one (latency).
    let higherIsBetter: Bool
    /// A memory figure: the ratio reads "× less memory" rather than "× faster".
    var isMemory = false

    static func median(_ samples: [Double]) -> Double {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return 0 }
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// "12.3 µs (11.9–13.0)".
    static func summary(_ samples: [Double], unit: String) -> String {
        "\(format(median(samples))) \(unit) (\(format(samples.min() ?? 0))–\(format(samples.max() ?? 0)))"
    }

    /// Kakehashi relative to the baseline, so that > 1 means Kakehashi is better.
    var ratio: Double {
        let k = Self.median(kakehashi), b = Self.median(baseline)
        guard k > 0, b > 0 else { return 0 }
        return higherIsBetter ? k / b : b / k
    }

    var markdown: String {
        let ratioText: String
        if isMemory {
            ratioText = ratio >= 1 ? "\(Self.format(ratio))× less memory" : "\(Self.format(1 / ratio))× the baseline's memory"
        } else if !higherIsBetter && ratio < 1 {
            ratioText = "\(Self.format(1 / ratio))× the baseline's time"
        } else if !higherIsBetter {
            ratioText = "\(Self.format(ratio))× faster"
        } else if ratio >= 2 {
            ratioText = "\(Self.format(ratio))× the baseline"
        } else {
            ratioText = "\(Self.format(ratio * 100))% of the baseline's rate"
        }
        return "| \(scenario) | \(Self.summary(kakehashi, unit: unit)) | \(baselineName) | \(Self.summary(baseline, unit: unit)) | \(ratioText) |"
    }

    static func format(_ value: Double) -> String {
        if value >= 1000 { return String(Int(value.rounded())) }
        if value >= 100 { return String(Int(value.rounded())) }
        return String((value * 100).rounded() / 100)
    }
}
