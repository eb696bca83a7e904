import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import KakehashiAlerts
import KakehashiModel
import ServiceLifecycle
import KakehashiHubCore

/// The alert feeds and the alert API.
///
/// - `GET /feeds/alerts`: Server-Sent Events; each event's `id` is its per-tenant id, and a client
///   that reconnects with `Last-Event-ID` (or `?lastEventId=`) gets every later event once, in order.
/// - `GET /feeds/map.geojson?type=…&bbox=west,south,east,north`: the map.
/// - `GET /feeds/alerts/{id}.cap`: an alert's current CAP 1.2 message; `GET /feeds/alerts.atom`: the
///   Atom index of the active ones.
/// - `GET /alerts?state=active|all&limit=` (with a `Kakehashi-Feed-Position` header: resume the
///   feed after it), `GET /alerts/{id}` (with its history),
///   `POST /alerts/{id}/acknowledge` with `{"by": "name"}`.
///
/// The tenant is the `NGSILD-Tenant` header, or `?tenant=` where a header cannot be set (a
/// browser's EventSource).
extension HubAPI {
    static let lastEventIDHeader = HTTPField.Name("Last-Event-ID")!
    /// On `GET /alerts`: the id of the tenant's newest feed event when the list was read; a client
    /// resumes `/feeds/alerts` after it (`?lastEventId=`).
    static let feedPositionHeader = HTTPField.Name("Kakehashi-Feed-Position")!
    /// A comment line sent this often keeps proxies from closing a quiet stream and tells the
    /// hub when a client has gone.
    static let heartbeat: Duration = .seconds(15)

    func addFeedRoutes(to router: Router<BasicRequestContext>) {
        router.get("/feeds/alerts") { request, _ in try await self.alertStream(request) }
        router.get("/feeds/alerts.atom") { request, _ in try await self.atom(request) }
        router.get("/feeds/entities") { request, _ in try await self.entityStream(request) }
        router.get("/feeds/alerts/ws") { _, _ -> Response in
            throw NGSIProblem(.badRequestData, "/feeds/alerts/ws is a WebSocket: send an Upgrade: websocket request (tenant in NGSILD-Tenant or ?tenant=)")
        }
        router.get("/feeds/alerts/:file") { request, context in try await self.cap(request, file: context.parameters.get("file") ?? "") }
        router.get("/feeds/map.geojson") { request, _ in try await self.map(request) }
        router.get("/alerts") { request, _ in try await self.listAlerts(request) }
        router.get("/alerts/:id") { request, context in try await self.showAlert(request, id: context.parameters.get("id") ?? "") }
        router.post("/alerts/:id/acknowledge") { request, context in try await self.acknowledge(request, id: context.parameters.get("id") ?? "") }
    }

    /// The tenant of a feed request: the header, or `?tenant=`.
    func feedTenant(_ request: Request, _ query: QueryString) throws(NGSIProblem) -> Tenant {
        if let principal = AccessContext.principal { return principal.tenant }
        guard request.headers[Self.tenantHeader] == nil, let name = query["tenant"] else { return try tenant(of: request) }
        let tenant: Tenant
        do { tenant = try Tenant(name, field: "tenant") } catch {
            throw NGSIProblem(.nonexistentTenant, "tenant '\(name.prefix(64))' does not exist: \(error.reason)")
        }
        guard directory.settings(of: tenant) != nil else { throw NGSIProblem(.nonexistentTenant, "tenant '\(tenant)' does not exist on this hub") }
        return tenant
    }

    // MARK: SSE

    private enum StreamItem: Sendable {
        case event(AlertEventRecord)
        case heartbeat
    }

    func alertStream(_ request: Request) async throws(NGSIProblem) -> Response {
        let query = try QueryString(request.uri.query)
        try query.allow(["tenant", "lastEventId"])
        let tenant = try feedTenant(request, query)
        let resumeText = request.headers[Self.lastEventIDHeader] ?? query["lastEventId"]
        var resume: Int64 = 0
        var sharedResume = [Tenant: Int64]()
        if let resumeText, !resumeText.isEmpty {
            guard let cursor = Self.feedCursor(resumeText) else {
                throw NGSIProblem(.badRequestData, "Last-Event-ID '\(resumeText.prefix(40))' is not an event id (a whole number, then ;tenant=number for shared feeds)")
            }
            (resume, sharedResume) = cursor
        }
        let resumeAfter = resume
        // Other tenants' alerts shared in full: one feed, each event marked with its owner.
        let owners = Set(directory.grants(to: tenant).filter { $0.precision == .full }.map(\.owner))
        if !owners.isEmpty {
            return try await sharedAlertStream(tenant: tenant, owners: owners, after: resume, sharedAfter: sharedResume, resumed: resumeText != nil)
        }
        let principal = AccessContext.principal
        if let principal, !feedSlots.take(principal.keyID) {
            throw NGSIProblem(.tooManyRequests, "key \(principal.keyID) has \(feedSlots.limit) alert feeds open already (limits.feeds_per_key)",
                              headers: [.retryAfter: "5"])
        }
        let live = guarded(alerts.feed.subscribe(tenant: tenant), for: principal)
        let store = self.store
        let headers = Self.eventStreamHeaders
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "retry: 2000\n: kakehashi alerts of \(tenant.name) after event \(resumeAfter)\n\n"))
            try await Self.follow(store, tenant: tenant, after: resumeAfter, live: live, heartbeat: Self.heartbeat) { records in
                var buffer = ByteBuffer()
                for record in records { buffer.writeImmutableBuffer(Self.sse(record)) }
                try await writer.write(buffer)
            } heartbeat: {
                try await writer.write(ByteBuffer(string: ": keepalive\n\n"))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// `live`, ended as soon as the key of `principal` can no longer be used (revoked or
    /// expired: checked every second); its feed slot is given back when the stream ends.
    func guarded(_ live: AlertFeed.Stream, for principal: AccessPrincipal?) -> AlertFeed.Stream {
        guard let principal else { return live }
        let directory = self.directory, slots = self.feedSlots
        return Self.ending(live, when: { !directory.isUsable(keyID: principal.keyID) }, then: { slots.release(principal.keyID) })
    }

    /// `live`, ended as soon as `stop` holds (checked every second); `then` runs when it ends.
    static func ending(_ live: AlertFeed.Stream, when stop: @escaping @Sendable () -> Bool,
                       then: @escaping @Sendable () -> Void = {}) -> AlertFeed.Stream {
        let (stream, continuation) = AlertFeed.Stream.makeStream(bufferingPolicy: .unbounded)
        let forward = Task {
            for await record in live { continuation.yield(record) }
            continuation.finish()
        }
        let watch = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if stop() {
                    continuation.finish()
                    return
                }
            }
        }
        continuation.onTermination = { _ in
            forward.cancel()
            watch.cancel()
            then()
        }
        return stream
    }


    /// Sends a client every event after `after`: first what is stored, then live events (skipping
    /// those already sent, filling any gap from storage), in id order, until `live` ends.
    static func follow(_ store: any AlertStore, tenant: Tenant, after: Int64, live: AlertFeed.Stream, heartbeat interval: Duration?,
                       deliver: ([AlertEventRecord]) async throws -> Void, heartbeat: () async throws -> Void) async throws {
        // Bounded like the feed's own buffer: a client that cannot keep up is ended (it resumes
        // from its last event id) rather than held in memory.
        let (items, continuation) = AsyncStream<StreamItem>.makeStream(bufferingPolicy: .bufferingOldest(AlertFeed.defaultCapacity))
        let forward = Task {
            for await record in live {
                if case .dropped = continuation.yield(.event(record)) { break }
            }
            continuation.finish()
        }
        let beat = Task {
            guard let interval else { return }
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                continuation.yield(.heartbeat)
            }
        }
        defer {
            forward.cancel()
            beat.cancel()
        }
        var last = after
        func catchUp(through: Int64?) async throws {
            while true {
                let page = try await store.alertEvents(tenant: tenant, after: last, limit: 500)
                let wanted = page.filter { record in through.map { record.id <= $0 } ?? true }
                if !wanted.isEmpty {
                    try await deliver(wanted)
                    last = wanted.last!.id
                }
                if page.count < 500 || through.map({ last >= $0 }) == true { return }
            }
        }
        try await catchUp(through: nil)
        // The server waits for open responses when it shuts down: end the stream then.
        try await withGracefulShutdownHandler {
            for await item in items {
                switch item {
                case .heartbeat:
                    try await heartbeat()
                case .event(let record):
                    guard record.id > last else { continue }
                    if record.id > last + 1 { try await catchUp(through: record.id - 1) }
                    try await deliver([record])
                    last = record.id
                }
            }
        } onGracefulShutdown: {
            continuation.finish()
        }
    }

    /// `GET /feeds/entities?type=A,B`: Server-Sent Events, one `entities` event per stored batch
    /// of the caller's tenant (its entities of those types, normalized NGSI-LD, as stored). Live
    /// only, without ids: a client catches up through the temporal API, whose answers the
    /// exactly-once key makes safe to repeat (what a federation link does). Ends when the key is
    /// revoked, within a second.
    func entityStream(_ request: Request) async throws(NGSIProblem) -> Response {
        let query = try QueryString(request.uri.query)
        try query.allow(["tenant", "type"])
        let tenant = try feedTenant(request, query)
        let types = query["type"].map { Set($0.split(separator: ",").map(String.init)) }
        let principal = AccessContext.principal
        if let principal, !feedSlots.take(principal.keyID) {
            throw NGSIProblem(.tooManyRequests, "key \(principal.keyID) has \(feedSlots.limit) feeds open already (limits.feeds_per_key)",
                              headers: [.retryAfter: "5"])
        }
        let live = alerts.entityFeed.subscribe(tenant: tenant)
        let (items, sink) = AsyncStream<[NGSIEntity]?>.makeStream(bufferingPolicy: .bufferingOldest(1000))
        let directory = self.directory, slots = feedSlots
        // Batches, and a tick every second (nil) to check the key and send a keepalive every 15.
        let forward = Task {
            for await batch in live { if case .dropped = sink.yield(batch) { break } }
            sink.finish()
        }
        let tick = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                sink.yield(nil)
            }
        }
        sink.onTermination = { _ in
            forward.cancel()
            tick.cancel()
            if let principal { slots.release(principal.keyID) }
        }
        let headers = Self.eventStreamHeaders
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "retry: 2000\n: kakehashi entities of \(tenant.name)\n\n"))
            var ticks = 0
            // The server waits for open responses when it shuts down: end the stream then.
            try await withGracefulShutdownHandler {
                for await item in items {
                    guard let batch = item else {
                        if let principal, !directory.isUsable(keyID: principal.keyID) { break }
                        ticks += 1
                        if ticks % 15 == 0 { try await writer.write(ByteBuffer(string: ": keepalive\n\n")) }
                        continue
                    }
                    let shown = batch.filter { types?.contains($0.type) ?? true }
                    guard !shown.isEmpty else { continue }
                    var buffer = ByteBuffer(string: "event: entities\ndata: ")
                    buffer.writeBytes(JSONValue.array(shown.map { $0.json(.normalized) }).serialized())
                    buffer.writeString("\n\n")
                    try await writer.write(buffer)
                }
            } onGracefulShutdown: {
                sink.finish()
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// `N` or `N;owner=M;…`: the last event of the tenant's own feed and of each owner's shared one.
    static func feedCursor(_ text: String) -> (Int64, [Tenant: Int64])? {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: ";", omittingEmptySubsequences: false)
        guard let first = parts.first, let own = Int64(first), own >= 0 else { return nil }
        var others = [Tenant: Int64]()
        for part in parts.dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, let tenant = try? Tenant(String(pair[0])), let value = Int64(pair[1]), value >= 0 else { return nil }
            others[tenant] = value
        }
        return (own, others)
    }

    static func feedCursorText(own: Int64, others: [Tenant: Int64]) -> String {
        ([String(own)] + others.sorted { $0.key < $1.key }.map { "\($0.key.name)=\($0.value)" }).joined(separator: ";")
    }

    enum SharedItem: Sendable {
        case events(Tenant, [AlertEventRecord])
        case heartbeat
    }

    /// The SSE feed of a tenant that others share alerts with: its own events and each owner's
    /// (those of the granted type and area), merged as they come. An event's id is the cursor of
    /// every source (`12;omuta=5`), so a reconnect resumes each where it stopped. An owner's part
    /// ends within a second of its last grant being revoked, and its events stop matching at once.
    func sharedAlertStream(tenant: Tenant, owners: Set<Tenant>, after: Int64, sharedAfter: [Tenant: Int64], resumed: Bool) async throws(NGSIProblem) -> Response {
        let principal = AccessContext.principal
        let start = try await sharedStarts(owners: owners, known: sharedAfter, resumed: resumed)
        let own = guarded(alerts.feed.subscribe(tenant: tenant), for: principal)
        var lives = [Tenant: AlertFeed.Stream]()
        for owner in owners { lives[owner] = sharedLive(alerts.feed.subscribe(tenant: owner), owner: owner, grantee: tenant) }
        let headers = Self.eventStreamHeaders
        let initial = SharedFeedState(tenant: tenant, own: after, others: start, directory: directory)
        let store = self.store, liveStreams = lives
        let body = ResponseBody { writer in
            var feed = initial
            try await writer.write(feed.greeting)
            let (merged, followers) = Self.startFollowers(store, tenant: tenant, ownStart: after, own: own, sharedStart: start, lives: liveStreams)
            defer { followers.cancel() }
            for await item in merged {
                if let buffer = feed.render(item) { try await writer.write(buffer) }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
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

    /// The cursor of a shared feed, and the rendering of its events.
    struct SharedFeedState {
        let tenant: Tenant
        var own: Int64
        var others: [Tenant: Int64]
        let directory: AccessDirectory

        var greeting: ByteBuffer {
            ByteBuffer(string: "retry: 2000\n: kakehashi alerts of \(tenant.name) and shared by \(others.keys.map(\.name).sorted().joined(separator: ", "))"
                       + " after \(HubAPI.feedCursorText(own: own, others: others))\n\n")
        }

        /// The SSE text of `item`: its events that still fall under a grant (own ones always),
        /// each with the cursor after it as its id; nil when none.
        mutating func render(_ item: SharedItem) -> ByteBuffer? {
            switch item {
            case .heartbeat:
                return ByteBuffer(string: ": keepalive\n\n")
            case .events(let source, let records):
                var buffer = ByteBuffer()
                let grants = source == tenant ? [] : directory.grants(to: tenant).filter { $0.owner == source && $0.precision == .full }
                for record in records {
                    if source == tenant { own = record.id } else { others[source] = record.id }
                    var json = record.json
                    if source != tenant {
                        guard grants.contains(where: { $0.covers(type: record.event.entity.type, location: record.event.location) }) else { continue }
                        if case .object(var members) = json {
                            members[ShareGrant.sharedByAttribute] = .string(source.name)
                            json = .object(members)
                        }
                    }
                    buffer.writeString("id: \(HubAPI.feedCursorText(own: own, others: others))\nevent: alert\ndata: ")
                    buffer.writeBytes(json.serialized())
                    buffer.writeString("\n\n")
                }
                return buffer.readableBytes > 0 ? buffer : nil
            }
        }
    }


    /// Follows the tenant's own feed and each owner's, merged into one stream; it ends when
    /// the own feed ends (key revoked, shutdown) or the client falls too far behind.
    private static func startFollowers(_ store: any AlertStore, tenant: Tenant, ownStart: Int64, own: AlertFeed.Stream,
                                       sharedStart: [Tenant: Int64], lives: [Tenant: AlertFeed.Stream]) -> (AsyncStream<SharedItem>, Task<Void, Never>) {
        let (merged, sink) = AsyncStream<SharedItem>.makeStream(bufferingPolicy: .bufferingOldest(AlertFeed.defaultCapacity))
        @Sendable func deliver(_ source: Tenant, _ records: [AlertEventRecord]) throws {
            if case .dropped = sink.yield(.events(source, records)) { throw CancellationError() }
        }
        let followers = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    try? await follow(store, tenant: tenant, after: ownStart, live: own, heartbeat: heartbeat,
                                      deliver: { try deliver(tenant, $0) }, heartbeat: { sink.yield(.heartbeat) })
                    sink.finish()
                }
                for (owner, live) in lives {
                    group.addTask {
                        try? await follow(store, tenant: owner, after: sharedStart[owner] ?? 0, live: live, heartbeat: nil,
                                          deliver: { try deliver(owner, $0) }, heartbeat: {})
                    }
                }
            }
        }
        return (merged, followers)
    }

    /// An owner's live events for `grantee`, ended within a second of the last full grant from
    /// `owner` to `grantee` being revoked.
    func sharedLive(_ live: AlertFeed.Stream, owner: Tenant, grantee: Tenant) -> AlertFeed.Stream {
        let directory = self.directory
        return Self.ending(live, when: { !directory.grants(to: grantee).contains { $0.owner == owner && $0.precision == .full } })
    }


    /// The headers of every Server-Sent Events response (no caching, no proxy buffering).
    static var eventStreamHeaders: HTTPFields {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return headers
    }

    static func sse(_ record: AlertEventRecord) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString("id: \(record.id)\nevent: alert\ndata: ")
        buffer.writeBytes(record.json.serialized())
        buffer.writeString("\n\n")
        return buffer
    }

    // MARK: WebSocket

    /// Decides a WebSocket upgrade: `GET /feeds/alerts/ws` (tenant in the `NGSILD-Tenant` header or
    /// `?tenant=`, resume with `?lastEventId=`) is upgraded; each event is one text message, the
    /// same JSON as the SSE data. Anything else stays HTTP.
    func webSocketUpgrade(_ request: HTTPRequest) -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        let target = request.path ?? ""
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.first == "/feeds/alerts/ws", let query = try? QueryString(parts.count > 1 ? String(parts[1]) : nil),
              (try? query.allow(["tenant", "lastEventId"])) != nil else { return .dontUpgrade }
        // Without a usable key the request stays HTTP, where the router answers why.
        var principal: AccessPrincipal?
        if configuration.requireKeys {
            guard case .success(let found?) = AccessMiddleware<BasicRequestContext>.decide(
                method: request.method, path: "/feeds/alerts/ws", query: parts.count > 1 ? String(parts[1]) : nil,
                fields: request.headerFields, directory: directory, limiter: limiter) else { return .dontUpgrade }
            guard feedSlots.take(found.keyID) else { return .dontUpgrade }
            principal = found
        }
        let name = principal?.tenant.name ?? request.headerFields[Self.tenantHeader] ?? query["tenant"] ?? configuration.defaultTenant?.name
        guard let name, let tenant = try? Tenant(name), directory.settings(of: tenant) != nil else {
            if let principal { feedSlots.release(principal.keyID) }
            return .dontUpgrade
        }
        var resume: Int64 = 0
        if let text = query["lastEventId"] {
            guard let value = Int64(text), value >= 0 else { return .dontUpgrade }
            resume = value
        }
        let store = self.store
        let feed = alerts.feed
        let after = resume
        let live = guarded(feed.subscribe(tenant: tenant), for: principal)
        return .upgrade([:]) { inbound, outbound, _ in
            // The client only listens; its close (or any message after it) ends the stream.
            let listening = Task {
                for try await _ in inbound {}
            }
            defer { listening.cancel() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await Self.follow(store, tenant: tenant, after: after, live: live, heartbeat: nil) { records in
                        for record in records { try await outbound.write(.text(record.json.jsonText)) }
                    } heartbeat: {}
                }
                group.addTask {
                    _ = await listening.result
                    throw CancellationError()
                }
                _ = try await group.next()
                group.cancelAll()
            }
        }
    }

    // MARK: CAP and Atom

    func cap(_ request: Request, file: String) async throws(NGSIProblem) -> Response {
        let query = try QueryString(request.uri.query)
        try query.allow(["tenant"])
        let tenant = try feedTenant(request, query)
        guard file.hasSuffix(".cap"), let id = Int64(file.dropLast(4)), id > 0 else {
            throw NGSIProblem(.resourceNotFound, "'\(file.prefix(60))' is not an alert message (GET /feeds/alerts/<id>.cap)")
        }
        guard let alert = try await stored({ () throws(StorageError) in try await store.alert(tenant: tenant, id: id) }) else {
            throw NGSIProblem(.resourceNotFound, "alert \(id) of \(tenant) does not exist")
        }
        let message = try await capMessage(try await withFreshness([alert], tenant: tenant)[0])
        var headers = HTTPFields()
        headers[.contentType] = "application/cap+xml; charset=utf-8"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: message.xml)))
    }

    func capMessage(_ alert: AlertRecord) async throws(NGSIProblem) -> CAPMessage {
        let tenant = alert.tenant
        let history = try await stored { () throws(StorageError) in try await store.alertHistory(tenant: tenant, alert: alert.id) }
        let changes = history.filter { $0.event.kind != .acknowledged }.map { CAPMessage.Change(id: $0.id, at: $0.event.at) }
        let entity = try? await store.entity(tenant: tenant, id: alert.entity)
        var place = alert.entity.localID
        if case .property(let property)? = entity?.attributes["name"], case .text(let name) = property.value, !name.isEmpty { place = name }
        return CAPMessage(alert: alert, changes: changes, rule: configuration.alerts.rule(alert.rule, tenant: tenant),
                          sender: configuration.alerts.sender(tenant), areaDescription: place, offsetSeconds: configuration.alerts.offsetSeconds)
    }

    func atom(_ request: Request) async throws(NGSIProblem) -> Response {
        let query = try QueryString(request.uri.query)
        try query.allow(["tenant"])
        let tenant = try feedTenant(request, query)
        let active = try await withFreshness(
            try await stored { () throws(StorageError) in try await store.alerts(tenant: tenant, activeOnly: true, limit: 10_000) }, tenant: tenant)
        var entries = [AtomIndex.Entry]()
        for alert in active {
            entries.append(AtomIndex.Entry(message: try await capMessage(alert), link: "/feeds/alerts/\(alert.id).cap?tenant=\(tenant.name)"))
        }
        let updated = active.map(\.updatedAt).max() ?? Timestamp(millisecondsSinceEpoch: 0)
        let index = AtomIndex(tenant: tenant, selfLink: "/feeds/alerts.atom?tenant=\(tenant.name)", entries: entries,
                              updated: updated, offsetSeconds: configuration.alerts.offsetSeconds)
        var headers = HTTPFields()
        headers[.contentType] = "application/atom+xml; charset=utf-8"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: index.xml)))
    }

    // MARK: Map

    func map(_ request: Request) async throws(NGSIProblem) -> Response {
        let query = try QueryString(request.uri.query)
        try query.allow(["tenant", "type", "bbox"])
        let tenant = try feedTenant(request, query)
        let types = query["type"].map { Set($0.split(separator: ",").map(String.init)) }
        var box: GeoBox?
        if let text = query["bbox"] {
            let numbers = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard numbers.count == 4, let west = numbers[0], let south = numbers[1], let east = numbers[2], let north = numbers[3],
                  south <= north, west <= east, abs(south) <= 90, abs(north) <= 90, abs(west) <= 180, abs(east) <= 180 else {
                throw NGSIProblem(.badRequestData, "bbox '\(text.prefix(80))' is west,south,east,north in degrees (RFC 7946 order)")
            }
            box = GeoBox(south: south, west: west, north: north, east: east)
        }
        var entities = try await stored { () throws(StorageError) in try await store.entities(tenant: tenant, types: types, ids: nil) }
        // What other tenants share, marked with `sharedBy`; their alerts where shared in full.
        let shared = try await sharedEntities(for: tenant, types: types, ids: nil)
        entities += shared.map(\.entity)
        if let box {
            entities = entities.filter { entity in
                guard case .geoProperty(let point, _)? = entity.attributes["location"] else { return false }
                return box.contains(point)
            }
        }
        var active = try await withFreshness(
            try await stored { () throws(StorageError) in try await store.alerts(tenant: tenant, activeOnly: true, limit: 100_000) }, tenant: tenant)
        let fully = Set(shared.filter { $0.grant.precision == .full }.map(\.entity.id))
        for owner in Set(fully.map(\.tenant)) {
            let theirs = try await stored { () throws(StorageError) in try await store.alerts(tenant: owner, activeOnly: true, limit: 100_000) }
            active += try await withFreshness(theirs.filter { fully.contains($0.entity) }, tenant: owner)
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/geo+json"
        let body = MapFeatures.collection(entities: entities, alerts: active).serialized()
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    // MARK: Alert API

    func listAlerts(_ request: Request) async throws(NGSIProblem) -> Response {
        let query = try QueryString(request.uri.query)
        try query.allow(["tenant", "state", "limit"])
        let tenant = try feedTenant(request, query)
        let state = query["state"] ?? "active"
        guard state == "active" || state == "all" else { throw NGSIProblem(.badRequestData, "state is active or all, not '\(state.prefix(20))'") }
        var limit = configuration.limits.defaultPageSize
        if let text = query["limit"] {
            guard let value = Int(text), value >= 1, value <= configuration.limits.maxPageSize else {
                throw NGSIProblem(.badRequestData, "limit is a whole number from 1 to \(configuration.limits.maxPageSize)")
            }
            limit = value
        }
        // Read before the list: a client resuming the feed after this id may see an event again
        // (its alert's lastEvent tells), never miss one.
        let position = try await stored { () throws(StorageError) in try await store.latestAlertEventID(tenant: tenant) }
        let list = try await withFreshness(
            try await stored { () throws(StorageError) in try await store.alerts(tenant: tenant, activeOnly: state == "active", limit: limit) }, tenant: tenant)
        return Self.json(.array(list.map(\.json)), jsonLD: false, extra: [Self.feedPositionHeader: String(position)])
    }

    func showAlert(_ request: Request, id text: String) async throws(NGSIProblem) -> Response {
        let query = try QueryString(request.uri.query)
        try query.allow(["tenant"])
        let tenant = try feedTenant(request, query)
        let id = try Self.alertID(text)
        guard let found = try await stored({ () throws(StorageError) in try await store.alert(tenant: tenant, id: id) }) else {
            throw NGSIProblem(.resourceNotFound, "alert \(id) of \(tenant) does not exist")
        }
        let alert = try await withFreshness([found], tenant: tenant)[0]
        let history = try await stored { () throws(StorageError) in try await store.alertHistory(tenant: tenant, alert: id) }
        guard case .object(var members) = alert.json else { return Self.json(alert.json, jsonLD: false) }
        members["history"] = .array(history.map(\.json))
        return Self.json(.object(members), jsonLD: false)
    }

    func acknowledge(_ request: Request, id text: String) async throws(NGSIProblem) -> Response {
        let query = try QueryString(request.uri.query)
        try query.allow(["tenant"])
        let tenant = try feedTenant(request, query)
        let id = try Self.alertID(text)
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: 4096) } catch {
            throw NGSIProblem(.requestEntityTooLarge, "an acknowledgement is a small JSON object: {\"by\": \"name\"}")
        }
        let json: JSONValue
        do { json = try JSONValue(parsing: body.readableBytesView) } catch {
            throw NGSIProblem(.invalidRequest, "the body is not valid JSON: \(error.reason)")
        }
        guard let by = json["by"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), !by.isEmpty, by.count <= 128 else {
            throw NGSIProblem(.badRequestData, "say who acknowledges: {\"by\": \"name\"} (1 to 128 characters)")
        }
        let record: AlertEventRecord?
        do { record = try await alerts.acknowledge(tenant: tenant, id: id, by: by) } catch {
            logger.error("storage failed during an acknowledgement", metadata: ["error": "\(error)"])
            throw NGSIProblem(.internalError, "storage failed: \(error.operation)")
        }
        guard let record else { throw NGSIProblem(.resourceNotFound, "alert \(id) of \(tenant) does not exist") }
        return Self.json(record.json, jsonLD: false)
    }

    /// `records` with their entity's newest reading, and marked stale when a `stale` rule's alert
    /// is active on their entity (the sensor has gone silent while they are active).
    func withFreshness(_ records: [AlertRecord], tenant: Tenant) async throws(NGSIProblem) -> [AlertRecord] {
        guard !records.isEmpty else { return records }
        let staleRules = Set(configuration.alerts.rules.filter { rule in
            guard rule.tenant == tenant, case .stale = rule.kind else { return false }
            return true
        }.map(\.id))
        var silent = Set<EntityID>()
        if !staleRules.isEmpty {
            let active = try await stored { () throws(StorageError) in try await store.alerts(tenant: tenant, activeOnly: true, limit: 100_000) }
            silent = Set(active.filter { staleRules.contains($0.rule) }.map(\.entity))
        }
        let ids = Set(records.map(\.entity))
        let entities = try await stored { () throws(StorageError) in try await store.entities(tenant: tenant, types: nil, ids: ids) }
        var newest = [EntityID: Timestamp]()
        for entity in entities { newest[entity.id] = AlertEngine.newest(entity) }
        return records.map { record in
            var record = record
            record.lastReadingAt = newest[record.entity]
            record.stale = record.isActive && silent.contains(record.entity)
            return record
        }
    }

    static func alertID(_ text: String) throws(NGSIProblem) -> Int64 {
        guard let id = Int64(text), id > 0 else { throw NGSIProblem(.badRequestData, "'\(text.prefix(40))' is not an alert id (a whole number)") }
        return id
    }
}
