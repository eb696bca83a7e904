import KakehashiHubCore
import KakehashiHubPostgres
import Logging
import ServiceLifecycle

/// Over a shared PostgreSQL database, hands the events other hubs store to this hub's feed
/// clients: every hub hears of stored events (`LISTEN`), reads those after the last it handed
/// out, in id order, and relays them (this hub's own events are handed out once, whichever of
/// the relay and the hub's alert service comes first). A client connected to any hub sees every
/// event of its tenant live, and resuming with `Last-Event-ID` on another hub misses none.
struct AlertRelay: Service {
    let store: PostgresStore
    let feed: AlertFeed
    let logger: Logger

    func run() async throws {
        // Cancelled at shutdown: LISTEN waits for notices, not for the hub.
        await cancelWhenGracefulShutdown {
            var failures = 0
            while !Task.isCancelled {
                do {
                    try await store.listenForEvents { payload in await relay(payload) }
                } catch {
                    if Task.isCancelled { break }
                    failures = min(failures + 1, 10)
                    logger.warning(
                        "listening for other hubs' alert events failed; trying again",
                        metadata: ["error": "\(PostgresStore.describe(error))", "attempt": "\(failures)"]
                    )
                    try? await Task.sleep(for: .milliseconds(min(5000, 250 << min(failures, 5))))
                }
            }
        }
    }

    /// Reads and hands out the events a notice names that were not handed out yet.
    func relay(_ payload: String) async {
        guard let notice = PostgresStore.parseEventNotice(payload) else { return }
        var after = max(feed.lastPublished(notice.tenant) ?? (notice.first - 1), notice.first - 1)
        while after < notice.last {
            guard let events = try? await store.alertEvents(tenant: notice.tenant, after: after, limit: 1000), !events.isEmpty else { return }
            feed.relay(events)
            after = events.last!.id
        }
    }
}
