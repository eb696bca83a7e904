import Foundation
import KakehashiMQTT
import KakehashiModel
import Logging
import ServiceLifecycle

/// The whole gateway as one `Service`: metrics writer, uplink, committer, then the sources, in
/// that order, so outputs start first and inputs stop first (SIGTERM: sources stop, the committer
/// commits what they handed over, the uplink flushes as far as the central broker allows).
///
/// A part that fails for good (a capture that cannot be read, a pipe that cannot be made, an edge
/// broker that refuses the credentials) shuts the whole gateway down the same way and `run`
/// throws its error, so the process exits non-zero and systemd restarts it. Parts that can recover
/// (a broker away, an adapter unplugged) retry with backoff and are reported down meanwhile
/// (``SourceHealth``: status message, `source_up` metrics). Shutdown takes at most
/// `central.shutdown_flush_timeout` plus 5 s before the parts are cancelled.
///
/// ```swift
/// let configuration = try GatewayConfiguration.load(file: "/etc/kakehashi/gateway.yaml")
/// let gateway = try Gateway(configuration: configuration, logger: logger)
/// try await gateway.run()   // until SIGTERM or SIGINT
/// ```
public final class Gateway: Service, Sendable {
    public let configuration: GatewayConfiguration
    public let outbox: Outbox
    public let metrics: GatewayMetrics
    let group: ServiceGroup
    let logger: Logger

    public init(
        configuration: GatewayConfiguration,
        logger: Logger,
        clock: @escaping @Sendable () -> Timestamp = { Timestamp(Date()) },
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        self.configuration = configuration
        let metrics = GatewayMetrics(clock: clock)
        let outbox = try Outbox(configuration: configuration.outbox)
        metrics.outbox(depth: outbox.depth, bytes: outbox.bytes, deadLetters: outbox.deadLetterCount)
        let uplink: any UplinkService =
            if let ngsiLD = configuration.uplink.ngsiLD {
                NGSILDUplink(configuration: configuration.uplink, settings: ngsiLD, outbox: outbox, metrics: metrics, logger: logger, clock: clock)
            } else {
                try Uplink(
                    configuration: configuration.uplink,
                    tenant: configuration.tenant,
                    gateway: configuration.gateway,
                    outbox: outbox,
                    metrics: metrics,
                    logger: logger,
                    clock: clock
                )
            }
        let committer = Committer(
            outbox: outbox,
            metrics: metrics,
            logger: logger,
            onCommit: { uplink.readingsCommitted() },
            unconfirmed: { uplink.unconfirmedCount }
        )
        let ingest = Ingest(
            factory: EntityFactory(tenant: configuration.tenant, registry: configuration.registry),
            outbox: configuration.outbox,
            limits: configuration.limits,
            metrics: metrics
        )
        // Any part that fails shuts the others down gracefully (the outbox is committed and
        // flushed), then `run` throws its error.
        let failing = ServiceGroupConfiguration.ServiceConfiguration.TerminationBehavior.gracefullyShutdownGroup
        var services = [ServiceGroupConfiguration.ServiceConfiguration]()
        let notifier = SystemdNotifier(environment: environment)
        let sourceCount = configuration.sources.count
        services.append(
            .init(
                service: SystemdWatchdog(notifier: notifier, health: metrics.health, logger: logger) {
                    let down = metrics.health.snapshot.filter { $0.value.state == .down }.keys.sorted()
                    return "\(sourceCount) source(s); outbox \(outbox.depth)" + (down.isEmpty ? "" : "; down: \(down.joined(separator: ", "))")
                },
                successTerminationBehavior: .ignore,
                failureTerminationBehavior: failing
            )
        )
        if let metricsConfiguration = configuration.metrics {
            services.append(
                .init(
                    service: MetricsWriter(configuration: metricsConfiguration, metrics: metrics, logger: logger),
                    failureTerminationBehavior: failing
                )
            )
        }
        services.append(.init(service: uplink, failureTerminationBehavior: failing))
        services.append(.init(service: committer, failureTerminationBehavior: failing))
        for source in configuration.sources {
            switch source.kind {
            case .mqtt(let mqtt):
                services.append(
                    .init(
                        service: try MQTTSource(
                            name: source.name,
                            configuration: mqtt,
                            ingest: ingest,
                            committer: committer,
                            health: metrics.health,
                            logger: logger,
                            clock: clock
                        ),
                        failureTerminationBehavior: failing
                    )
                )
            case .ble(let ble):
                // A replay that reaches the end of its capture is done; the gateway goes on.
                services.append(
                    .init(
                        service: BLESource(
                            name: source.name,
                            configuration: ble,
                            tenant: configuration.tenant,
                            priority: configuration.outbox.priority(of: "Device"),
                            committer: committer,
                            metrics: metrics,
                            logger: logger,
                            clock: clock
                        ),
                        successTerminationBehavior: .ignore,
                        failureTerminationBehavior: failing
                    )
                )
            }
        }
        self.outbox = outbox
        self.metrics = metrics
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
        groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
        groupConfiguration.maximumGracefulShutdownDuration = configuration.uplink.shutdownFlushTimeout + .seconds(5)
        groupConfiguration.maximumCancellationDuration = .seconds(5)
        group = ServiceGroup(configuration: groupConfiguration)
        self.logger = logger
        logger.info(
            "gateway \(configuration.gateway) of \(configuration.tenant) ready",
            metadata: [
                "outbox": "\(configuration.outbox.path)", "outbox_depth": "\(outbox.depth)",
                "sources": "\(configuration.sources.map(\.name))", "devices": "\(configuration.registry.count)",
            ]
        )
    }

    public func run() async throws {
        do {
            try await group.run()
        } catch {
            logger.error("the gateway stopped because a part failed: \(error)")
            throw error
        }
    }

    /// Asks the gateway to stop as SIGTERM does.
    public func shutdown() async {
        await group.triggerGracefulShutdown()
    }
}
