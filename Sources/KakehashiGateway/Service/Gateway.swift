import Foundation
import KakehashiMQTT
import KakehashiModel
import Logging
import ServiceLifecycle

/// The whole gateway as one `Service`: metrics writer, uplink, committer, then the sources, in
/// that order, so outputs start first and inputs stop first (SIGTERM: sources stop, the committer
/// commits what they handed over, the uplink flushes as far as the central broker allows).
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

    public init(
        configuration: GatewayConfiguration,
        logger: Logger,
        clock: @escaping @Sendable () -> Timestamp = { Timestamp(Date()) }
    ) throws {
        self.configuration = configuration
        let metrics = GatewayMetrics()
        let outbox = try Outbox(configuration: configuration.outbox)
        metrics.outbox(depth: outbox.depth, bytes: outbox.bytes, deadLetters: outbox.deadLetterCount)
        let uplink = try Uplink(
            configuration: configuration.uplink,
            tenant: configuration.tenant,
            gateway: configuration.gateway,
            outbox: outbox,
            metrics: metrics,
            logger: logger,
            clock: clock
        )
        let committer = Committer(
            outbox: outbox,
            metrics: metrics,
            logger: logger,
            onCommit: { uplink.readingsCommitted() },
            unconfirmed: { uplink.unconfirmed.withLock { $0.count } }
        )
        let ingest = Ingest(
            factory: EntityFactory(tenant: configuration.tenant, registry: configuration.registry),
            outbox: configuration.outbox,
            limits: configuration.limits,
            metrics: metrics
        )
        var services = [ServiceGroupConfiguration.ServiceConfiguration]()
        if let metricsConfiguration = configuration.metrics {
            services.append(.init(service: MetricsWriter(configuration: metricsConfiguration, metrics: metrics, logger: logger)))
        }
        services.append(.init(service: uplink))
        services.append(.init(service: committer))
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
                            logger: logger,
                            clock: clock
                        )
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
                        successTerminationBehavior: .ignore
                    )
                )
            }
        }
        self.outbox = outbox
        self.metrics = metrics
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
        groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
        group = ServiceGroup(configuration: groupConfiguration)
        logger.info(
            "gateway \(configuration.gateway) of \(configuration.tenant) ready",
            metadata: [
                "outbox": "\(configuration.outbox.path)", "outbox_depth": "\(outbox.depth)",
                "sources": "\(configuration.sources.map(\.name))", "devices": "\(configuration.registry.count)",
            ]
        )
    }

    public func run() async throws {
        try await group.run()
    }

    /// Asks the gateway to stop as SIGTERM does.
    public func shutdown() async {
        await group.triggerGracefulShutdown()
    }
}
