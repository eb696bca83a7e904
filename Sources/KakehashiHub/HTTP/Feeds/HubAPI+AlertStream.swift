import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import KakehashiAlerts
import KakehashiHubCore
import KakehashiModel

/// The live alert feed of a tenant, followed by one ``AlertFollower`` per client.
///
/// - `GET /feeds/alerts`: Server-Sent Events. Each event's `id` is the client's cursor; one that
///   reconnects with `Last-Event-ID` (or `?lastEventId=`) gets every later event once, in order.
///   A tenant that others share alerts with gets theirs in the same feed, each marked `sharedBy`
///   its owner, and the cursor names each source (`12;omuta=5`).
/// - `GET /feeds/alerts/ws`: the tenant's own events over a WebSocket, one text message each (the
///   same JSON as the SSE data); resume with `?lastEventId=`.
extension HubAPI {
    func alertStream(_ request: Request) async throws(NGSIProblem) -> Response {
        let query = try QueryString(request.uri.query)
        try query.allow(["tenant", "lastEventId"])
        let tenant = try feedTenant(request, query)
        let resumeText = request.headers[Self.lastEventIDHeader] ?? query["lastEventId"]
        var resume: Int64 = 0
        var sharedResume = [Tenant: Int64]()
        if let resumeText, !resumeText.isEmpty {
            guard let cursor = Self.feedCursor(resumeText) else {
                throw NGSIProblem(
                    .badRequestData,
                    "Last-Event-ID '\(resumeText.prefix(40))' is not an event id (a whole number, then ;tenant=number for shared feeds)"
                )
            }
            (resume, sharedResume) = cursor
        }
        // Other tenants' alerts shared in full: one feed, each event marked with its owner.
        let owners = Set(directory.grants(to: tenant).filter { $0.precision == .full }.map(\.owner))
        let sharedStart = try await sharedStarts(owners: owners, known: sharedResume, resumed: resumeText != nil)
        let principal = AccessContext.principal
        try takeFeedSlot(principal, "alert feeds")
        let directory = self.directory, slots = feedSlots
        var sources = [AlertFollower.Source(tenant: tenant, after: resume, live: alerts.feed.subscribe(tenant: tenant))]
        for owner in owners.sorted() {
            sources.append(
                AlertFollower.Source(
                    tenant: owner,
                    after: sharedStart[owner] ?? 0,
                    live: alerts.feed.subscribe(tenant: owner),
                    isAllowed: { directory.grants(to: tenant).contains { $0.owner == owner && $0.precision == .full } }
                )
            )
        }
        let follower = AlertFollower(store: store, sources: sources, heartbeat: Self.heartbeat, isAllowed: keyStillUsable(principal))
        let initial = AlertFeedCursor(tenant: tenant, own: resume, others: sharedStart, directory: directory)
        let body = ResponseBody { writer in
            defer { if let principal { slots.release(principal.keyID) } }
            var cursor = initial
            try await writer.write(cursor.greeting)
            try await follower.run { item in
                if let buffer = cursor.render(item) { try await writer.write(buffer) }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: Self.eventStreamHeaders, body: body)
    }

    /// Where each owner's part of a shared feed starts: where the client left it; from now for a
    /// client resuming from before the grant (not the owner's whole history); else from the start.
    func sharedStarts(owners: Set<Tenant>, known: [Tenant: Int64], resumed: Bool) async throws(NGSIProblem) -> [Tenant: Int64] {
        var start = [Tenant: Int64]()
        for owner in owners {
            if let position = known[owner] {
                start[owner] = position
            } else if resumed {
                start[owner] = try await stored { () throws(StorageError) in try await store.latestAlertEventID(tenant: owner) }
            } else {
                start[owner] = 0
            }
        }
        return start
    }

    // MARK: WebSocket

    /// Decides a WebSocket upgrade: `GET /feeds/alerts/ws` (tenant in the `NGSILD-Tenant` header or
    /// `?tenant=`, resume with `?lastEventId=`) is upgraded; each event is one text message, the
    /// same JSON as the SSE data. Anything else stays HTTP.
    func webSocketUpgrade(_ request: HTTPRequest) -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        let target = request.path ?? ""
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.first == "/feeds/alerts/ws", let query = try? QueryString(parts.count > 1 ? String(parts[1]) : nil),
            (try? query.allow(["tenant", "lastEventId"])) != nil
        else { return .dontUpgrade }
        // Without a usable key the request stays HTTP, where the router answers why.
        var principal: AccessPrincipal?
        if configuration.requireKeys {
            guard
                case .success(let found?) = AccessMiddleware<BasicRequestContext>.decide(
                    method: request.method,
                    path: "/feeds/alerts/ws",
                    query: parts.count > 1 ? String(parts[1]) : nil,
                    fields: request.headerFields,
                    directory: directory,
                    limiter: limiter
                )
            else { return .dontUpgrade }
            guard feedSlots.take(found.keyID) else { return .dontUpgrade }
            principal = found
        }
        let slots = feedSlots
        let name = principal?.tenant.name ?? request.headerFields[Self.tenantHeader] ?? query["tenant"] ?? configuration.defaultTenant?.name
        var resume: Int64 = 0
        if let text = query["lastEventId"] {
            guard let value = Int64(text), value >= 0 else {
                if let principal { slots.release(principal.keyID) }
                return .dontUpgrade
            }
            resume = value
        }
        guard let name, let tenant = try? Tenant(name), directory.settings(of: tenant) != nil else {
            if let principal { slots.release(principal.keyID) }
            return .dontUpgrade
        }
        let follower = AlertFollower(
            store: store,
            sources: [.init(tenant: tenant, after: resume, live: alerts.feed.subscribe(tenant: tenant))],
            heartbeat: nil,
            isAllowed: keyStillUsable(principal)
        )
        let holder = principal
        return .upgrade([:]) { inbound, outbound, _ in
            defer { if let holder { slots.release(holder.keyID) } }
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The client only listens; its close (or any message after it) ends the stream.
                group.addTask {
                    for try await _ in inbound {}
                    throw CancellationError()
                }
                group.addTask {
                    try await follower.run { item in
                        guard case .events(_, let events) = item else { return }
                        for event in events { try await outbound.write(.text(String(decoding: event.json, as: UTF8.self))) }
                    }
                }
                _ = try await group.next()
                group.cancelAll()
            }
        }
    }
}

/// The cursor of a tenant's alert feed (its own last event and each owner's), and the SSE text of
/// what its follower sends.
struct AlertFeedCursor {
    let tenant: Tenant
    var own: Int64
    var others: [Tenant: Int64]
    let directory: AccessDirectory

    var greeting: ByteBuffer {
        let shared = others.isEmpty ? "" : " and shared by \(others.keys.map(\.name).sorted().joined(separator: ", "))"
        return ByteBuffer(
            string: "retry: 2000\n: kakehashi alerts of \(tenant.name)\(shared) after \(HubAPI.feedCursorText(own: own, others: others))\n\n"
        )
    }

    /// The SSE text of `item`: its events that still fall under a grant (own ones always), each
    /// with the cursor after it as its id; nil when none.
    mutating func render(_ item: AlertFollower.Item) -> ByteBuffer? {
        switch item {
        case .heartbeat:
            return ByteBuffer(string: ": keepalive\n\n")
        case .events(let source, let events):
            var buffer = ByteBuffer()
            let grants = source == tenant ? [] : directory.grants(to: tenant).filter { $0.owner == source && $0.precision == .full }
            for event in events {
                if source == tenant { own = event.record.id } else { others[source] = event.record.id }
                if source != tenant {
                    guard grants.contains(where: { $0.covers(type: event.record.event.entity.type, location: event.record.event.location) }) else {
                        continue
                    }
                }
                buffer.writeString("id: \(HubAPI.feedCursorText(own: own, others: others))\nevent: alert\ndata: ")
                buffer.writeBytes(source == tenant ? event.json : event.json(sharedBy: source))
                buffer.writeString("\n\n")
            }
            return buffer.readableBytes > 0 ? buffer : nil
        }
    }
}
