import Foundation
import KakehashiHTTP
import KakehashiMQTT
import KakehashiModel
import Logging
import Synchronization

/// Why a notification could not be delivered (it stays pending and is tried again).
public struct DeliveryFailure: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Sends notifications to their endpoints (ETSI GS CIM 009, 7.2 and 7.3): an HTTP POST to
/// `http(s)://` endpoints, an MQTT publish to `mqtt(s)://host:port/topic` ones. One kept-alive
/// HTTP connection per origin and one MQTT client per broker are reused across subscriptions.
public final class NotificationDelivery: Sendable {
    let policy: EndpointPolicy
    let timeout: Duration
    let logger: Logger
    private let http = Mutex<[String: HTTPClient]>([:])
    private let mqtt = Mutex<[String: MQTTClient]>([:])
    /// Per HTTP endpoint URI, where its POSTs go or why they cannot (parsed once: the policy is
    /// fixed for the hub's run).
    private let targets = Mutex<[String: Result<HTTPTarget, DeliveryFailure>]>([:])

    public init(policy: EndpointPolicy, timeout: Duration, logger: Logger) {
        self.policy = policy
        self.timeout = timeout
        self.logger = logger
    }

    /// Delivers `body` (a notification's JSON text) for `subscription` of `tenant`.
    public func send(_ body: String, subscription: Subscription, tenant: Tenant) async throws(DeliveryFailure) {
        let (delivered, failure) = await sendAll([body], subscription: subscription, tenant: tenant)
        if delivered == 0, let failure { throw failure }
    }

    /// Delivers `bodies` in order for `subscription` of `tenant`, stopping at the first that
    /// fails: how many were delivered, and why the next was not. Over HTTP they go in one turn
    /// of the origin's connection thread (one hand-over for all, not one each).
    public func sendAll(_ bodies: [String], subscription: Subscription, tenant: Tenant) async -> (delivered: Int, failure: DeliveryFailure?) {
        await sendTurn([(bodies, subscription, tenant)])[0]
    }

    /// Delivers several subscriptions' notifications, each subscription's in order and stopping
    /// at its first failure, as ``sendAll(_:subscription:tenant:)`` does for one; those to one
    /// HTTP origin go in one turn of its connection thread. When a request to an origin gets no
    /// answer (the receiver is away, or timed out), the subscriptions after it in the turn are not
    /// tried (each gets that failure) rather than each waiting for its own timeout.
    public func sendTurn(
        _ items: [(bodies: [String], subscription: Subscription, tenant: Tenant)]
    ) async -> [(delivered: Int, failure: DeliveryFailure?)] {
        var results = [(delivered: Int, failure: DeliveryFailure?)](repeating: (0, nil), count: items.count)
        var posts = [(index: Int, target: HTTPTarget, headers: [(String, String)])]()
        for (index, item) in items.enumerated() where !item.bodies.isEmpty {
            let endpoint = item.subscription.endpoint
            let headers = Self.headers(item.subscription, tenant: item.tenant)
            if let known = targets.withLock({ $0[endpoint.uri] }) {
                switch known {
                case .success(let target): posts.append((index, target, headers))
                case .failure(let failure): results[index] = (0, failure)
                }
                continue
            }
            // The rule may have changed since the subscription was made.
            if let refusal = policy.refusal(endpoint.uri) {
                results[index] = (0, DeliveryFailure(refusal))
                continue
            }
            guard let components = URLComponents(string: endpoint.uri), let scheme = components.scheme?.lowercased(), let host = components.host
            else {
                results[index] = (0, DeliveryFailure("\(endpoint.uri.prefix(80)) is not a URI"))
                continue
            }
            switch scheme {
            case "http", "https":
                let target = httpTarget(scheme: scheme, host: host, components: components)
                targets.withLock { known in
                    if known.count >= 10_000 { known.removeAll() }
                    known[endpoint.uri] = target
                }
                switch target {
                case .success(let target): posts.append((index, target, headers))
                case .failure(let failure): results[index] = (0, failure)
                }
            case "mqtt", "mqtts":
                for (sent, body) in item.bodies.enumerated() {
                    do {
                        try await publish(body, scheme: scheme, host: host, components: components, headers: headers, subscription: item.subscription)
                    } catch {
                        results[index] = (sent, error)
                        break
                    }
                    results[index] = (sent + 1, nil)
                }
            default:
                results[index] = (0, DeliveryFailure("\(scheme):// endpoints are not notified (http, https, mqtt, mqtts)"))
            }
        }
        // Per origin (one, in a lane), one turn of its connection.
        var origins = [String]()
        var byOrigin = [String: [(index: Int, target: HTTPTarget, headers: [(String, String)])]]()
        for post in posts {
            if byOrigin[post.target.origin] == nil { origins.append(post.target.origin) }
            byOrigin[post.target.origin, default: []].append(post)
        }
        for origin in origins {
            let group = byOrigin[origin] ?? []
            let answers = await group[0].target.client.postGroups(
                group.map { post in items[post.index].bodies.map { (post.target.path, post.headers, Array($0.utf8)) } }
            )
            var away: DeliveryFailure?
            for (post, answer) in zip(group, answers) {
                let request = "POST \(origin)\(post.target.path)"
                var delivered = 0
                var failure: DeliveryFailure?
                for result in answer {
                    switch result {
                    case .success(let response) where (200..<300).contains(response.status): delivered += 1
                    case .success(let response): failure = DeliveryFailure("\(request) was answered \(response.status)")
                    case .failure(let error):
                        failure = DeliveryFailure("\(request): \(error)")
                        away = DeliveryFailure("not sent: \(origin) did not answer the notification before it (\(error))")
                    }
                }
                if answer.isEmpty, let away { failure = away }
                results[post.index] = (delivered, failure)
            }
        }
        return results
    }

    /// The headers of a notification of `subscription`: content type, tenant, the context's
    /// `Link` (unless JSON-LD carries it in the body) and the endpoint's `receiverInfo`.
    static func headers(_ subscription: Subscription, tenant: Tenant) -> [(String, String)] {
        let endpoint = subscription.endpoint
        let contentType = endpoint.accept == "application/json" ? "application/json" : endpoint.accept
        var headers: [(String, String)] = [("Content-Type", contentType), ("NGSILD-Tenant", tenant.name)]
        if contentType != "application/ld+json" {
            let context = subscription.jsonldContext ?? NGSIContext.core
            headers.append(("Link", "<\(context)>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""))
        }
        return headers + endpoint.receiverInfo.map { ($0.key, $0.value) }
    }

    /// The priority of the threads that POST notifications (nice 10): on a hub whose cores are
    /// busy, ingest (storing readings, alerts) goes first and notifications wait in their queue.
    static let niceness: Int32 = 10

    /// Where a POST goes: the origin's kept client and the path (with query).
    struct HTTPTarget: Sendable {
        let client: HTTPClient
        let origin: String
        let path: String
    }

    private func httpTarget(
        scheme: String,
        host: String,
        components: URLComponents
    ) -> Result<HTTPTarget, DeliveryFailure> {
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        let bracketed = host.contains(":") ? "[\(host)]" : host
        let origin = "\(scheme)://\(bracketed):\(port)"
        let client: HTTPClient
        do {
            let endpoint = try HTTPClient.Endpoint(url: origin)
            client = http.withLock { clients in
                if let known = clients[origin] { return known }
                let made = HTTPClient(endpoint: endpoint, timeout: timeout, niceness: Self.niceness)
                clients[origin] = made
                return made
            }
        } catch { return .failure(DeliveryFailure("\(error)")) }
        var path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        if let query = components.percentEncodedQuery { path += "?\(query)" }
        return .success(HTTPTarget(client: client, origin: origin, path: path))
    }

    private func publish(
        _ body: String,
        scheme: String,
        host: String,
        components: URLComponents,
        headers: [(String, String)],
        subscription: Subscription
    ) async throws(DeliveryFailure) {
        let info = Dictionary(subscription.endpoint.notifierInfo.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        let qos: MQTTQoS =
            switch info["MQTT-QoS"] {
            case "1": .atLeastOnce
            case "2": .exactlyOnce
            default: .atMostOnce
            }
        let version: MQTTProtocolVersion = info["MQTT-Version"] == "mqtt3.1.1" ? .v311 : .v5
        let port = components.port ?? (scheme == "mqtts" ? 8883 : 1883)
        let topic = String(components.path.drop(while: { $0 == "/" }))
        guard !topic.isEmpty else { throw DeliveryFailure("\(subscription.endpoint.uri.prefix(80)) names no topic") }
        let key = "\(scheme)://\(components.user ?? "")@\(host):\(port)/\(version == .v5 ? 5 : 3)"
        let client: MQTTClient
        do {
            client = try mqtt.withLock { clients throws(MQTTError) in
                if let known = clients[key] { return known }
                var settings = MQTTConfiguration(host: host, port: port, clientID: "kakehashi-notify-\(UUID().uuidString.prefix(8).lowercased())")
                settings.protocolVersion = version
                if let user = components.user { settings.credentials = .init(username: user, password: components.password) }
                if scheme == "mqtts" { settings.tls = .init(caFile: "/etc/ssl/certs/ca-certificates.crt") }
                let made = try MQTTClient(configuration: settings, logger: logger)
                clients[key] = made
                return made
            }
        } catch { throw DeliveryFailure("MQTT \(host):\(port): \(error)") }
        // The MQTT binding's message: the headers an HTTP notification would carry, and the body.
        var metadata = [String: JSONValue]()
        for (name, value) in headers { metadata[name] = .string(value) }
        let message: JSONValue = ["metadata": .object(metadata), "body": (try? JSONValue(parsing: body)) ?? .string(body)]
        let properties =
            version == .v5
            ? MQTTMessageProperties(contentType: "application/json", userProperties: subscription.endpoint.receiverInfo.map { ($0.key, $0.value) })
            : nil
        let payload = message.serialized()
        let failure = "MQTT publish to \(host):\(port)/\(topic)"
        let outcome = await Self.firstOf(timeout: timeout, timedOut: DeliveryFailure("\(failure): no acknowledgement within \(timeout)")) {
            do {
                try await client.publish(topic, payload: payload, qos: qos, properties: properties)
                return nil
            } catch { return DeliveryFailure("\(failure): \(error)") }
        }
        if let outcome {
            // A broker that did not answer: the next attempt starts on a new connection.
            let stale = mqtt.withLock { $0.removeValue(forKey: key) }
            if let stale { Task { await stale.disconnect(drainTimeout: .zero) } }
            throw outcome
        }
    }

    /// What `work` returns, or `timedOut` after `timeout` (the work is left to end on its own: a
    /// publish waiting for a broker that vanished cannot be called back).
    static func firstOf(
        timeout: Duration,
        timedOut: DeliveryFailure,
        _ work: @escaping @Sendable () async -> DeliveryFailure?
    ) async -> DeliveryFailure? {
        let once = Mutex<CheckedContinuation<DeliveryFailure?, Never>?>(nil)
        return await withCheckedContinuation { (continuation: CheckedContinuation<DeliveryFailure?, Never>) in
            once.withLock { $0 = continuation }
            let resume: @Sendable (DeliveryFailure?) -> Void = { result in
                once.withLock { slot in
                    slot?.resume(returning: result)
                    slot = nil
                }
            }
            let job = Task { resume(await work()) }
            Task {
                try? await Task.sleep(for: timeout)
                resume(timedOut)
                job.cancel()
            }
        }
    }

    /// Closes every connection (shutdown).
    public func close() async {
        for client in http.withLock({ Array($0.values) }) { client.close() }
        let brokers = mqtt.withLock { clients in
            defer { clients = [:] }
            return Array(clients.values)
        }
        for client in brokers { await client.disconnect(drainTimeout: .seconds(2)) }
    }
}
