import KakehashiAlerts
import KakehashiModel
import ServiceLifecycle

/// One feed client (an SSE response, a WebSocket): every event of its sources after where it
/// starts, first what is stored, then live ones (skipping those already sent, filling any gap from
/// storage), in id order per source, with heartbeats; a tenant's own feed has one source, a
/// grantee's feed one more per owner sharing with it.
///
/// It ends when its first source's live feed ends (shutdown), the client falls further behind
/// than the feed holds (it resumes from its last event id), `isAllowed` stops holding (the key
/// was revoked or expired; checked every second), or the server shuts down. A source whose
/// `isAllowed` stops holding (its grant revoked) stops at once, the others go on.
public struct AlertFollower: Sendable {
    /// One tenant's events.
    public struct Source: Sendable {
        public let tenant: Tenant
        /// The last event the client has.
        public let after: Int64
        /// Subscribed before the follower starts, so nothing falls between storage and live.
        public let live: AlertFeed.Stream
        public let isAllowed: @Sendable () -> Bool

        public init(tenant: Tenant, after: Int64, live: AlertFeed.Stream, isAllowed: @escaping @Sendable () -> Bool = { true }) {
            self.tenant = tenant
            self.after = after
            self.live = live
            self.isAllowed = isAllowed
        }
    }

    /// What the client is sent.
    public enum Item: Sendable {
        /// Events of one source, in id order.
        case events(Tenant, [AlertFeed.Event])
        case heartbeat
    }

    let store: any AlertStore
    let sources: [Source]
    let heartbeat: Duration?
    let isAllowed: @Sendable () -> Bool

    public init(store: any AlertStore, sources: [Source], heartbeat: Duration?, isAllowed: @escaping @Sendable () -> Bool = { true }) {
        precondition(!sources.isEmpty, "a follower follows at least one source")
        self.store = store
        self.sources = sources
        self.heartbeat = heartbeat
        self.isAllowed = isAllowed
    }

    private enum Inbound: Sendable {
        case live(Int, AlertFeed.Event)
        case ended(Int)
        case tick
    }

    /// Follows until the client is to be ended, handing it each item.
    public func run(_ send: (Item) async throws -> Void) async throws {
        // Bounded like the feed's own buffer: a client that cannot keep up is ended rather than
        // held in memory.
        let (inbound, sink) = AsyncStream<Inbound>.makeStream(bufferingPolicy: .bufferingOldest(AlertFeed.defaultCapacity))
        var last = sources.map(\.after)
        var open = sources.map { _ in true }
        func catchUp(_ index: Int, through: Int64?) async throws {
            while true {
                let page = try await store.alertEvents(tenant: sources[index].tenant, after: last[index], limit: 500)
                let wanted = page.filter { record in through.map { record.id <= $0 } ?? true }
                if !wanted.isEmpty {
                    try await send(.events(sources[index].tenant, wanted.map(AlertFeed.Event.init)))
                    last[index] = wanted.last!.id
                }
                if page.count < 500 || through.map({ last[index] >= $0 }) == true { return }
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, source) in sources.enumerated() {
                group.addTask {
                    for await event in source.live {
                        if case .dropped = sink.yield(.live(index, event)) { sink.finish() }
                    }
                    sink.yield(.ended(index))
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(1))
                    sink.yield(.tick)
                }
            }
            defer { group.cancelAll() }
            for index in sources.indices { try await catchUp(index, through: nil) }
            let beatEvery = heartbeat.map { max(1, Int($0.components.seconds)) }
            var ticks = 0
            // The server waits for open responses when it shuts down: end the stream then.
            try await withGracefulShutdownHandler {
                for await item in inbound {
                    switch item {
                    case .tick:
                        guard isAllowed() else { return }
                        for index in sources.indices where open[index] && !sources[index].isAllowed() { open[index] = false }
                        ticks += 1
                        if let beatEvery, ticks % beatEvery == 0 { try await send(.heartbeat) }
                    case .ended(let index):
                        if index == 0 { return }
                        open[index] = false
                    case .live(let index, let event):
                        guard open[index], event.record.id > last[index] else { continue }
                        if event.record.id > last[index] + 1 { try await catchUp(index, through: event.record.id - 1) }
                        try await send(.events(sources[index].tenant, [event]))
                        last[index] = event.record.id
                    }
                }
            } onGracefulShutdown: {
                sink.finish()
            }
        }
    }
}
