import CoreMetrics
import Foundation

/// A swift-metrics backend that keeps every metric in memory and renders the Prometheus text
/// exposition format for `/metrics`.
///
/// Counters are counters; recorders and meters are gauges (their last value); timers are
/// summaries (count and sum of seconds). Handlers with the same label and dimensions share one
/// series, so a metric created per request (as Hummingbird's `MetricsMiddleware` does) adds up.
///
/// ```swift
/// let registry = PrometheusRegistry()
/// let stored = Counter(label: "kakehashi_hub_readings_stored_total", factory: registry)
/// stored.increment(by: 42)
/// registry.render()  // "# TYPE kakehashi_hub_readings_stored_total counter\n…"
/// ```
public final class PrometheusRegistry: MetricsFactory, @unchecked Sendable {
    enum Kind: String {
        case counter, gauge, summary
    }

    struct Key: Hashable {
        let name: String
        let labels: [String]
    }

    final class Series: CounterHandler, FloatingPointCounterHandler, RecorderHandler, MeterHandler, TimerHandler, @unchecked Sendable {
        let kind: Kind
        private let lock = NSLock()
        private var value: Double = 0
        private var count: Int64 = 0

        init(kind: Kind) { self.kind = kind }

        var snapshot: (value: Double, count: Int64) {
            lock.lock()
            defer { lock.unlock() }
            return (value, count)
        }

        private func update(_ body: (inout Double, inout Int64) -> Void) {
            lock.lock()
            body(&value, &count)
            lock.unlock()
        }

        func increment(by amount: Int64) { update { v, _ in v += Double(amount) } }
        func increment(by amount: Double) { update { v, _ in v += amount } }
        func decrement(by amount: Double) { update { v, _ in v -= amount } }
        func reset() {
            update { v, c in
                v = 0; c = 0
            }
        }
        func record(_ value: Int64) { update { v, _ in v = Double(value) } }
        func record(_ value: Double) { update { v, _ in v = value } }
        func set(_ value: Int64) { record(value) }
        func set(_ value: Double) { record(value) }
        func recordNanoseconds(_ duration: Int64) {
            update { v, c in
                v += Double(duration) / 1e9; c += 1
            }
        }
    }

    private let lock = NSLock()
    private var series: [Key: Series] = [:]

    /// An empty registry.
    public init() {}

    private func handler(_ label: String, _ dimensions: [(String, String)], _ kind: Kind) -> Series {
        let name = Self.sanitize(label)
        let labels = dimensions.sorted { $0.0 < $1.0 }.map { "\(Self.sanitize($0.0))=\"\(Self.escape($0.1))\"" }
        let key = Key(name: name, labels: labels)
        lock.lock()
        defer { lock.unlock() }
        if let existing = series[key] { return existing }
        let created = Series(kind: kind)
        series[key] = created
        return created
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { handler(label, dimensions, .counter) }
    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        handler(label, dimensions, .counter)
    }
    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler { handler(label, dimensions, .gauge) }
    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        handler(label, dimensions, .gauge)
    }
    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { handler(label, dimensions, .summary) }
    public func destroyCounter(_ handler: any CounterHandler) {}
    public func destroyMeter(_ handler: any MeterHandler) {}
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    public func destroyTimer(_ handler: any TimerHandler) {}

    /// The current value of a counter or gauge (tests and status pages).
    public func value(_ label: String, _ dimensions: [(String, String)] = []) -> Double? {
        let name = Self.sanitize(label)
        let labels = dimensions.sorted { $0.0 < $1.0 }.map { "\(Self.sanitize($0.0))=\"\(Self.escape($0.1))\"" }
        lock.lock()
        defer { lock.unlock() }
        return series[Key(name: name, labels: labels)]?.snapshot.value
    }

    /// Every metric in the Prometheus text format, by name.
    public func render() -> String {
        lock.lock()
        let entries = series.sorted { ($0.key.name, $0.key.labels.joined()) < ($1.key.name, $1.key.labels.joined()) }
        lock.unlock()
        var out = ""
        var typed = Set<String>()
        for (key, metric) in entries {
            if typed.insert(key.name).inserted { out += "# TYPE \(key.name) \(metric.kind.rawValue)\n" }
            let labels = key.labels.isEmpty ? "" : "{" + key.labels.joined(separator: ",") + "}"
            let (value, count) = metric.snapshot
            switch metric.kind {
            case .counter, .gauge:
                out += "\(key.name)\(labels) \(Self.format(value))\n"
            case .summary:
                out += "\(key.name)_sum\(labels) \(Self.format(value))\n\(key.name)_count\(labels) \(count)\n"
            }
        }
        return out
    }

    static func sanitize(_ label: String) -> String {
        String(label.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" ? $0 : "_" })
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
