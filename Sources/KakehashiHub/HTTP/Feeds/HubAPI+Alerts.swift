import Foundation
import HTTPTypes
import Hummingbird
import KakehashiAlerts
import KakehashiHubCore
import KakehashiModel

/// The alert API: `GET /alerts?state=active|all&limit=` (with a `Kakehashi-Feed-Position` header:
/// resume the feed after it), `GET /alerts/{id}` (with its history), `POST /alerts/{id}/acknowledge`
/// with `{"by": "name"}`.
extension HubAPI {
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
            try await stored { () throws(StorageError) in try await store.alerts(tenant: tenant, activeOnly: state == "active", limit: limit) },
            tenant: tenant
        )
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
        let staleRules = Set(
            configuration.alerts.rules.filter { rule in
                guard rule.tenant == tenant, case .stale = rule.kind else { return false }
                return true
            }.map(\.id)
        )
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
