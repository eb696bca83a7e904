/// Repeated timing of one operation, reported as the median with its min–max.
struct Measurement {
    /// Nanoseconds per operation, one value per repeat.
    let samples: [Double]

    var median: Double {
        let sorted = samples.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
    var min: Double { samples.min() ?? 0 }
    var max: Double { samples.max() ?? 0 }

    /// Runs `body` `iterations` times per repeat, `repeats` times, after one warm-up repeat.
    /// `body` returns a value that is accumulated so the optimizer cannot drop the work.
    static func run(repeats: Int, iterations: Int, _ body: () throws -> Int) rethrows -> Measurement {
        var sink = 0
        for _ in 0..<Swift.max(1, iterations / 10) { sink &+= try body() }
        var samples = [Double]()
        for _ in 0..<repeats {
            let start = ContinuousClock.now
            for _ in 0..<iterations { sink &+= try body() }
            let elapsed = ContinuousClock.now - start
            let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
            samples.append(ns / Double(iterations))
        }
        if sink == 42 { print("", terminator: "") }
        return Measurement(samples: samples)
    }

}
