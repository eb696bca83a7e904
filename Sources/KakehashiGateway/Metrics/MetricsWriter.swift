import Foundation
import Logging
import ServiceLifecycle

/// Writes the metrics to a node_exporter textfile every `interval`, atomically (write then rename),
/// and once more when stopping.
public final class MetricsWriter: Service, Sendable {
    let configuration: MetricsConfiguration
    let metrics: GatewayMetrics
    let logger: Logger

    public init(configuration: MetricsConfiguration, metrics: GatewayMetrics, logger: Logger) {
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            write()
            // SIGTERM ends the wait at once.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.configuration.interval) }
        }
        write()
    }

    func write() {
        let temporary = configuration.textfile + ".tmp"
        do {
            try Data(metrics.prometheusText().utf8).write(to: URL(fileURLWithPath: temporary))
            if rename(temporary, configuration.textfile) != 0 {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: String(cString: strerror(errno))])
            }
        } catch {
            logger.warning("cannot write the metrics file \(configuration.textfile): \(error.localizedDescription)")
        }
    }
}
