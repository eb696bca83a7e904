import Foundation
import HTTPTypes
import Hummingbird
import KakehashiAlerts
import KakehashiHubCore
import KakehashiModel

/// `GET /feeds/alerts/{id}.cap` (an alert's current CAP 1.2 message) and `GET /feeds/alerts.atom` (the Atom index of the active ones).
extension HubAPI {
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
        return CAPMessage(
            alert: alert,
            changes: changes,
            rule: configuration.alerts.rule(alert.rule, tenant: tenant),
            sender: configuration.alerts.sender(tenant),
            areaDescription: place,
            offsetSeconds: configuration.alerts.offsetSeconds
        )
    }

    func atom(_ request: Request) async throws(NGSIProblem) -> Response {
        let query = try QueryString(request.uri.query)
        try query.allow(["tenant"])
        let tenant = try feedTenant(request, query)
        let active = try await withFreshness(
            try await stored { () throws(StorageError) in try await store.alerts(tenant: tenant, activeOnly: true, limit: 10_000) },
            tenant: tenant
        )
        var entries = [AtomIndex.Entry]()
        for alert in active {
            entries.append(AtomIndex.Entry(message: try await capMessage(alert), link: "/feeds/alerts/\(alert.id).cap?tenant=\(tenant.name)"))
        }
        let updated = active.map(\.updatedAt).max() ?? Timestamp(millisecondsSinceEpoch: 0)
        let index = AtomIndex(
            tenant: tenant,
            selfLink: "/feeds/alerts.atom?tenant=\(tenant.name)",
            entries: entries,
            updated: updated,
            offsetSeconds: configuration.alerts.offsetSeconds
        )
        var headers = HTTPFields()
        headers[.contentType] = "application/atom+xml; charset=utf-8"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: index.xml)))
    }
}
