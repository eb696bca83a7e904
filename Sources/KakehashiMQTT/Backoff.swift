/// Exponential backoff with jitter for reconnection.
///
/// Attempt n waits a random time in `[(1 − jitter) · d, d]` where
/// `d = min(maximum, initial · multiplier^(n−1))`: spreading reconnections so that many gateways
/// do not return to a restarted broker at the same instant.
public struct Backoff: Sendable, Hashable {
    /// Delay before the first retry.
    public var initial: Duration
    /// Longest delay.
    public var maximum: Duration
    /// Growth per attempt.
    public var multiplier: Double
    /// Fraction of the delay that is randomized, 0...1.
    public var jitter: Double

    /// Creates a backoff; defaults: 0.25 s doubling to 30 s, half jittered.
    public init(initial: Duration = .milliseconds(250), maximum: Duration = .seconds(30), multiplier: Double = 2, jitter: Double = 0.5) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = max(1, multiplier)
        self.jitter = min(1, max(0, jitter))
    }

    /// The delay before retry number `attempt` (1-based).
    public func delay(attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let initialSeconds = Self.seconds(initial), maximumSeconds = Self.seconds(maximum)
        let exponent = Double(max(0, attempt - 1))
        let ceiling = min(maximumSeconds, initialSeconds * pow(multiplier, min(exponent, 64)))
        let fraction = jitter > 0 ? Double.random(in: (1 - jitter)...1, using: &generator) : 1
        return .nanoseconds(Int64((ceiling * fraction * 1e9).rounded()))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private func pow(_ base: Double, _ exponent: Double) -> Double {
        var result = 1.0
        for _ in 0..<Int(exponent) { result *= base; if result > 1e12 { break } }
        return result
    }
}
