import CoreMetrics
import Prometheus

/// The hub's metrics: a swift-prometheus registry, which renders `/metrics`, and the
/// swift-metrics factory over it that ``HubMetrics`` and the rest of the hub create metrics with.
/// Counters are counters, meters and recorders gauges, timers histograms (seconds).
///
/// ```swift
/// let metrics = MetricsRegistry()
/// Counter(label: "kakehashi_hub_readings_stored_total", factory: metrics.factory).increment(by: 42)
/// metrics.render()  // "# TYPE kakehashi_hub_readings_stored_total counter\n…"
/// ```
public struct MetricsRegistry: Sendable {
    /// The collectors, in the Prometheus text format by ``render()``.
    public let collectors: PrometheusCollectorRegistry
    /// The swift-metrics factory creating metrics in ``collectors``.
    public let factory: PrometheusMetricsFactory

    /// An empty registry.
    public init() {
        collectors = PrometheusCollectorRegistry()
        factory = PrometheusMetricsFactory(registry: collectors)
    }

    /// Every metric in the Prometheus text exposition format.
    public func render() -> String { collectors.emitToString() }

    /// The current value of a counter or gauge as rendered (tests, benchmarks and status pages);
    /// nil when it has no such series.
    public func value(_ name: String, _ labels: [(String, String)] = []) -> Double? {
        let series = labels.isEmpty ? name : name + "{" + labels.map { "\($0.0)=\"\($0.1)\"" }.joined(separator: ",") + "}"
        for line in render().split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }
}
