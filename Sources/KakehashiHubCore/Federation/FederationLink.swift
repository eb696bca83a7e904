import Foundation
import KakehashiModel
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Mirrors a peer hub's tenant into this hub (see ``FederationLinkConfiguration``), with the
/// key the peer issued. It follows the peer's `/feeds/entities` (each stored batch, pushed as it
/// is stored) and, once that feed is open, catches up: it lists the peer's entities of the
/// configured types and asks each one's history from the newest reading this hub holds
/// (`timerel=after`, following `206` pages). Everything is stored through the same path as any
/// batch, so the exactly-once key absorbs what the feed and the catch-up both bring. When the
/// feed drops, the link waits `interval`, opens it again and catches up again: nothing is missed,
/// nothing is stored twice. A peer without the feed is asked every `interval` instead.
public final class FederationLink: Service, Sendable {
    public let configuration: FederationLinkConfiguration
    let ingestor: Ingestor
    let store: any ObservationStore
    let logger: Logger
    let session: URLSession

    /// What the link did last.
    public struct Status: Sendable, Hashable {
        public var lastSuccess: Timestamp?
        public var lastError: String?
        public var mirrored = 0
    }
    private let state = Mutex(Status())
    public var status: Status { state.withLock { $0 } }

    public init(configuration: FederationLinkConfiguration, ingestor: Ingestor, store: any ObservationStore, logger: Logger) {
        self.configuration = configuration
        self.ingestor = ingestor
        self.store = store
        self.logger = logger
        let settings = URLSessionConfiguration.ephemeral
        settings.timeoutIntervalForRequest = 30
        settings.httpAdditionalHeaders = ["Authorization": "Bearer \(configuration.key)", "Accept": "application/json"]
        session = URLSession(configuration: settings)
    }

    public func run() async throws {
        logger.info(
            "federation link started",
            metadata: ["link": "\(configuration.name)", "peer": "\(configuration.url)", "tenant": "\(configuration.tenant)"]
        )
        var push = true
        // After a failure the link tries again soon (1 s, doubling), never later than `interval`.
        var retry = Duration.seconds(1)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            var pause = configuration.interval
            do {
                if push {
                    // Live: the peer's stored batches as they come, while the history since this
                    // hub's newest reading is fetched beside them (the overlap is absorbed).
                    try await follow()
                } else {
                    record(stored: try await synchronize())
                }
            } catch let error as FederationError {
                if error.notFound && push {
                    push = false  // a peer without /feeds/entities: ask it every interval instead
                    logger.info("federation link: the peer has no entity feed; polling", metadata: ["link": "\(configuration.name)"])
                    continue
                }
                let known = state.withLock { status -> Bool in
                    defer { status.lastError = error.description }
                    return status.lastError == error.description
                }
                if !known { logger.warning("federation link failed; retrying", metadata: ["link": "\(configuration.name)", "error": "\(error)"]) }
                pause = min(retry, configuration.interval)
                retry = min(retry * 2, configuration.interval)
            } catch {
                break  // cancelled
            }
            if pause == configuration.interval { retry = .seconds(1) }
            do { try await Task.sleep(for: pause) } catch { break }
        }
        logger.info("federation link stopped", metadata: ["link": "\(configuration.name)"])
    }

    private func record(stored: Int) {
        state.withLock {
            $0.lastSuccess = Timestamp(Date())
            $0.lastError = nil
            $0.mirrored += stored
        }
    }

    /// Follows the peer's `/feeds/entities` until it ends, catching up once it is open.
    func follow() async throws {
        let types = configuration.types.map(Self.encode).joined(separator: ",")
        guard let url = URL(string: "\(configuration.url)/feeds/entities?type=\(types)") else {
            throw FederationError("\(configuration.name): bad URL \(configuration.url)")
        }
        let reader = EventStreamReader(url: url, headers: ["Authorization": "Bearer \(configuration.key)"])
        defer { reader.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await event in reader.events where event.name == "entities" {
                        let json = (try? JSONValue(parsing: Array(event.data.utf8))) ?? .null
                        var entities = [NGSIEntity]()
                        for item in json.arrayValue ?? [] {
                            // The tenant's own entities: what others share with it (marked sharedBy) stays theirs.
                            guard item[ShareGrant.sharedByAttribute] == nil,
                                var entity = try? NGSIEntity(json: item, form: .normalized, tenant: self.configuration.tenant)
                            else { continue }
                            entity.attributes[ShareGrant.sharedByAttribute] = nil
                            entity.context = []
                            entities.append(entity)
                        }
                        guard !entities.isEmpty else { continue }
                        switch try await self.ingestor.ingest(entities: entities, tenant: self.configuration.tenant) {
                        case .success(let result): self.record(stored: result.stored)
                        case .failure(let rejection):
                            throw FederationError("\(self.configuration.name): a pushed batch was refused here: \(rejection.detail)")
                        }
                    }
                } catch let failure as EventStreamReader.Failure {
                    if Task.isCancelled { throw CancellationError() }
                    if case .status(404, _) = failure {
                        throw FederationError("\(self.configuration.name): the peer has no entity feed", notFound: true)
                    }
                    throw FederationError("\(self.configuration.name): the peer's entity feed: \(failure)")
                }
                if Task.isCancelled { throw CancellationError() }
                throw FederationError("\(self.configuration.name): the peer ended its entity feed")
            }
            group.addTask { self.record(stored: try await self.synchronize()) }
            // The catch-up returns; the feed runs until it ends or fails.
            while let _ = try await group.next() {}
        }
    }

    /// One round: every entity of every type, with its history since this hub's newest reading.
    /// Returns the readings newly stored.
    @discardableResult
    public func synchronize() async throws -> Int {
        var stored = 0
        for type in configuration.types {
            var offset = 0
            while true {
                let (page, _) = try await get("/ngsi-ld/v1/entities?type=\(Self.encode(type))&limit=500&offset=\(offset)")
                let entities = page.arrayValue ?? []
                for json in entities { stored += try await mirror(json) }
                if entities.count < 500 { break }
                offset += 500
            }
        }
        return stored
    }

    /// Mirrors one entity: its history from this hub's newest reading of it, then its state.
    func mirror(_ json: JSONValue) async throws -> Int {
        // The tenant's own entities: what others share with it (marked sharedBy) stays theirs.
        guard json[ShareGrant.sharedByAttribute] == nil, let idText = json["id"]?.stringValue, let type = json["type"]?.stringValue,
            let id = try? EntityID(uri: idText, type: type, tenant: configuration.tenant)
        else { return 0 }
        let local = try? await store.entity(tenant: configuration.tenant, id: id)
        var cursor = local?.attributes.values.compactMap(\.observedAt).max()
        var fragments = [NGSIEntity]()
        while true {
            let from = (cursor ?? Timestamp(millisecondsSinceEpoch: 0)).iso8601
            let (answer, partial) = try await get(
                "/ngsi-ld/v1/temporal/entities/\(Self.encode(id.rawValue))?timerel=after&timeAt=\(Self.encode(from))"
            )
            var newest = cursor
            // The entity itself, or a one-element list of it.
            let history = answer.arrayValue?.first ?? answer
            if case .object(let members) = history {
                for (name, instances) in members where name != "id" && name != "type" && name != ShareGrant.sharedByAttribute {
                    for instance in instances.arrayValue ?? [] {
                        guard
                            let fragment = try? NGSIEntity(
                                json: .object(["id": .string(id.rawValue), "type": .string(id.type), name: instance]),
                                form: .normalized,
                                tenant: configuration.tenant
                            ),
                            let at = fragment.attributes[name]?.observedAt
                        else { continue }
                        fragments.append(fragment)
                        newest = max(newest ?? at, at)
                    }
                }
            }
            // A 206 answer stops at the peer's page size: ask again from its last instance.
            guard partial, let next = newest, next != cursor else { break }
            cursor = next
        }
        if var state = try? NGSIEntity(json: json, form: .normalized, tenant: configuration.tenant) {
            state.attributes[ShareGrant.sharedByAttribute] = nil
            state.context = []
            fragments.append(state)
        }
        var stored = 0
        for start in stride(from: 0, to: fragments.count, by: 500) {
            let chunk = Array(fragments[start..<min(start + 500, fragments.count)])
            switch try await ingestor.ingest(entities: chunk, tenant: configuration.tenant) {
            case .success(let result): stored += result.stored
            case .failure(let rejection): throw FederationError("\(configuration.name): \(id) was refused here: \(rejection.detail)")
            }
        }
        return stored
    }

    /// GETs `path` from the peer: its JSON, and whether the answer was partial (206).
    func get(_ path: String) async throws -> (JSONValue, Bool) {
        guard let url = URL(string: configuration.url + path) else {
            throw FederationError("\(configuration.name): bad URL \(configuration.url + path)")
        }
        var answer: (Data, URLResponse)?
        // A GET is safe to repeat: once more when the connection failed (e.g. a kept-alive
        // connection the peer had closed).
        for attempt in 0..<2 where answer == nil {
            do { answer = try await session.data(from: url) } catch {
                if Task.isCancelled { throw CancellationError() }
                if attempt == 1 {
                    throw FederationError("\(configuration.name): \(configuration.url) cannot be reached: \(error.localizedDescription)")
                }
            }
        }
        guard let (data, response) = answer else { throw FederationError("\(configuration.name): \(configuration.url) gave no answer") }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard status == 200 || status == 206 else {
            let detail = (try? JSONValue(parsing: Array(data)))?["detail"]?.stringValue ?? String(decoding: data.prefix(200), as: UTF8.self)
            throw FederationError("\(configuration.name): the peer answered \(status) to \(path.prefix(120)): \(detail)")
        }
        do { return (try JSONValue(parsing: Array(data)), status == 206) } catch {
            throw FederationError("\(configuration.name): the peer's answer to \(path.prefix(120)) is not JSON: \(error.reason)")
        }
    }

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~:"))) ?? text
    }
}

/// A federation link failed, with the reason.
public struct FederationError: Error, CustomStringConvertible {
    public let description: String
    /// The peer does not have what was asked (its entity feed).
    let notFound: Bool
    init(_ description: String, notFound: Bool = false) {
        self.description = description
        self.notFound = notFound
    }
}

extension FederationLink {
    /// Each federation link's mirror tenant exists here, shared in full with its `share_with`
    /// tenants (added when missing; nothing else is changed).
    public static func prepareMirrors(_ configuration: HubConfiguration, _ access: any AccessRecords, logger: Logger) throws {
        guard !configuration.federation.isEmpty else { return }
        let known = Set(try access.tenants().map(\.tenant))
        let grants = try access.grants().filter { $0.revoked == nil && $0.precision == .full && $0.area == nil }
        for link in configuration.federation {
            if !known.contains(link.tenant) { try access.addTenant(link.tenant, display: "mirror of \(link.name)") }
            for local in link.shareWith {
                for type in link.types where !grants.contains(where: { $0.owner == link.tenant && $0.grantee == local && $0.type == type }) {
                    _ = try access.grant(
                        owner: link.tenant,
                        grantee: local,
                        type: type,
                        area: nil,
                        precision: .full,
                        knownTenants: Set(configuration.tenants.keys)
                    )
                    logger.info(
                        "federation: sharing the mirror with a local tenant",
                        metadata: ["link": "\(link.name)", "type": "\(type)", "with": "\(local)"]
                    )
                }
            }
        }
    }
}
