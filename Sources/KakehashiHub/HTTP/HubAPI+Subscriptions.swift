import Foundation
import HTTPTypes
import Hummingbird
import KakehashiHubCore
import KakehashiModel

/// `/ngsi-ld/v1/subscriptions` (NGSI-LD 5.8): a tenant's subscriptions created, listed, read,
/// changed and deleted, kept in the hub database. Endpoints are checked against
/// `subscriptions.allowed_endpoints`.
extension HubAPI {
    var subscriptionRoutes: [NGSIRoute] {
        @Sendable func id(_ context: BasicRequestContext) -> String { context.parameters.get("id") ?? "" }
        return [
            NGSIRoute(path: "/ngsi-ld/v1/subscriptions", method: .post) { request, _ in try await self.createSubscription(request) },
            NGSIRoute(path: "/ngsi-ld/v1/subscriptions", method: .get) { request, _ in try await self.listSubscriptions(request) },
            NGSIRoute(path: "/ngsi-ld/v1/subscriptions/:id", method: .get) { request, context in
                try await self.retrieveSubscription(request, id: id(context))
            },
            NGSIRoute(path: "/ngsi-ld/v1/subscriptions/:id", method: .patch) { request, context in
                try await self.updateSubscription(request, id: id(context))
            },
            NGSIRoute(path: "/ngsi-ld/v1/subscriptions/:id", method: .delete) { request, context in
                try await self.deleteSubscription(request, id: id(context))
            },
        ]
    }

    static func now() -> Timestamp { Timestamp(Date()) }

    /// A subscription's body as a client sent it, checked; 400 naming the member otherwise.
    func subscriptionBody(_ request: Request) async throws -> JSONValue {
        let (json, _) = try await writeBody(request)
        return json
    }

    func checkEndpoint(_ subscription: Subscription) throws(NGSIProblem) {
        if let refusal = EndpointPolicy(patterns: configuration.allowedEndpoints).refusal(subscription.endpoint.uri) {
            throw NGSIProblem(.badRequestData, "notification.endpoint.uri: \(refusal)")
        }
    }

    /// The subscription as `GET` shows it: its members and its status, with the delivery
    /// counts (and, beyond the spec's members, the notifications waiting and those dropped
    /// because its queue was full).
    func shown(_ stored: StoredSubscription, tenant: Tenant, now: Timestamp, jsonLD: Bool) -> JSONValue {
        guard case .object(var members) = stored.subscription.json else { return stored.subscription.json }
        let subscription = stored.subscription
        members["status"] = .string(!subscription.isActive ? "paused" : subscription.isInForce(at: now) ? "active" : "expired")
        members["createdAt"] = .string(stored.createdAt.iso8601)
        members["modifiedAt"] = .string(stored.modifiedAt.iso8601)
        if case .object(var notification)? = members["notification"] {
            let status = (try? notifier?.status(SubscriptionKey(tenant: tenant, id: subscription.id))) ?? SubscriptionStatus()
            notification["timesSent"] = .number(Double(status.timesSent))
            notification["timesFailed"] = .number(Double(status.timesFailed))
            if let at = status.lastNotification { notification["lastNotification"] = .string(at.iso8601) }
            if let at = status.lastSuccess { notification["lastSuccess"] = .string(at.iso8601) }
            if let at = status.lastFailure { notification["lastFailure"] = .string(at.iso8601) }
            if status.lastNotification != nil {
                notification["status"] = .string(status.lastFailure == status.lastNotification ? "failed" : "ok")
            }
            if let reason = status.lastFailureReason, status.lastFailure == status.lastNotification {
                notification["lastFailureReason"] = .string(reason)
            }
            notification["pendingNotifications"] = .number(Double(status.pending))
            notification["droppedNotifications"] = .number(Double(status.dropped))
            members["notification"] = .object(notification)
        }
        if jsonLD { members["@context"] = .string(NGSIContext.core) }
        return .object(members)
    }

    func createSubscription(_ request: Request) async throws -> Response {
        let tenant = try tenant(of: request)
        try QueryString(request.uri.query).allow([])
        let json = try await subscriptionBody(request)
        let subscription: Subscription
        do { subscription = try Subscription(json: json, now: Self.now()) } catch { throw NGSIProblem(.badRequestData, error.description) }
        try checkEndpoint(subscription)
        let now = Self.now()
        guard try await stored({ () throws(StorageError) in try subscriptionRecords.insert(subscription, tenant: tenant, at: now) }) else {
            throw NGSIProblem(.alreadyExists, "subscription \(subscription.id) exists for tenant \(tenant)")
        }
        notifier?.update(tenant: tenant, id: subscription.id, to: subscription)
        var headers = HTTPFields()
        headers[.location] = "/ngsi-ld/v1/subscriptions/\(Self.pathEncoded(subscription.id))"
        return Response(status: .created, headers: headers)
    }

    func listSubscriptions(_ request: Request) async throws -> Response {
        let tenant = try tenant(of: request)
        let query = try QueryString(request.uri.query)
        try query.allow(["limit", "offset", "count"])
        let jsonLD = try Self.wantsJSONLD(request)
        let (limit, offset) = try page(query)
        let all = try await stored { () throws(StorageError) in try subscriptionRecords.subscriptions(tenant: tenant) }
        let now = Self.now()
        var headers = Self.paginationLinks(request, limit: limit, offset: offset, total: all.count)
        if query["count"] == "true" { headers[Self.countHeader] = String(all.count) }
        let page = all.dropFirst(offset).prefix(limit).map { shown($0, tenant: tenant, now: now, jsonLD: jsonLD) }
        return Self.json(.array(Array(page)), jsonLD: jsonLD, extra: headers)
    }

    func existingSubscription(_ text: String, tenant: Tenant) async throws(NGSIProblem) -> StoredSubscription {
        let id = text.removingPercentEncoding ?? text
        guard let found = try await stored({ () throws(StorageError) in try subscriptionRecords.subscription(tenant: tenant, id: id) }) else {
            throw NGSIProblem(.resourceNotFound, "subscription \(id.prefix(200)) was not found for tenant \(tenant)")
        }
        return found
    }

    func retrieveSubscription(_ request: Request, id text: String) async throws -> Response {
        let tenant = try tenant(of: request)
        try QueryString(request.uri.query).allow([])
        let jsonLD = try Self.wantsJSONLD(request)
        let found = try await existingSubscription(text, tenant: tenant)
        return Self.json(shown(found, tenant: tenant, now: Self.now(), jsonLD: jsonLD), jsonLD: jsonLD)
    }

    func updateSubscription(_ request: Request, id text: String) async throws -> Response {
        let tenant = try tenant(of: request)
        try QueryString(request.uri.query).allow([])
        let json = try await subscriptionBody(request)
        var subscription = try await existingSubscription(text, tenant: tenant).subscription
        do { try subscription.update(json, now: Self.now()) } catch { throw NGSIProblem(.badRequestData, error.description) }
        try checkEndpoint(subscription)
        let now = Self.now()
        guard try await stored({ () throws(StorageError) in try subscriptionRecords.replace(subscription, tenant: tenant, at: now) }) else {
            throw NGSIProblem(.resourceNotFound, "subscription \(subscription.id) was deleted meanwhile")
        }
        notifier?.update(tenant: tenant, id: subscription.id, to: subscription)
        return Response(status: .noContent)
    }

    func deleteSubscription(_ request: Request, id text: String) async throws -> Response {
        let tenant = try tenant(of: request)
        try QueryString(request.uri.query).allow([])
        let id = text.removingPercentEncoding ?? text
        guard try await stored({ () throws(StorageError) in try subscriptionRecords.delete(tenant: tenant, id: id) }) else {
            throw NGSIProblem(.resourceNotFound, "subscription \(id.prefix(200)) was not found for tenant \(tenant)")
        }
        notifier?.update(tenant: tenant, id: id, to: nil)
        return Response(status: .noContent)
    }
}
