import KakehashiAlerts
import KakehashiHubCore
import KakehashiModel
import PostgresNIO

extension PostgresStore: AlertStore {
    /// Takes `count` event ids of `tenant` (locking its counter row until the transaction ends);
    /// the first one.
    private func takeEventIDs(_ connection: PostgresConnection, tenant: Tenant, count: Int) async throws -> Int64 {
        let rows = try await connection.query(
            """
            INSERT INTO alert_event_counters(tenant, last) VALUES (\(tenant.name), \(Int64(count)))
            ON CONFLICT (tenant) DO UPDATE SET last = alert_event_counters.last + excluded.last RETURNING last
            """,
            logger: logger
        )
        for try await (last, ) in rows.decode((Int64,).self) { return last - Int64(count) + 1 }
        throw PostgresStoreError("no event id for \(tenant)")
    }

    public func recordAlertEvents(_ events: [AlertEvent]) async throws(StorageError) -> [AlertEventRecord] {
        try await recordAlertEvents(events, fence: nil) ?? []
    }

    /// Records events only while `fence` holds (checked in the same transaction, the lease row
    /// shared-locked until commit so it cannot change hands meanwhile); nil when it no longer
    /// does: another hub took the partition, and these events are its to raise.
    public func recordAlertEvents(_ events: [AlertEvent], fence: LeaseFence?) async throws(StorageError) -> [AlertEventRecord]? {
        guard !events.isEmpty else { return [] }
        return try await transaction("recording \(events.count) alert events") { connection -> [AlertEventRecord]? in
            if let fence {
                let held = try await connection.query(
                    """
                    SELECT 1 FROM leases WHERE partition = \(Int64(fence.partition)) AND owner = \(fence.instance) AND epoch = \(fence.epoch)
                      AND expires > (extract(epoch from clock_timestamp()) * 1000)::int8 FOR SHARE
                    """,
                    logger: logger
                )
                var holds = false
                for try await _ in held { holds = true }
                guard holds else { return nil }
            }
            // Each tenant's ids in one step, tenants in name order (every hub locks counters alike).
            var next = [Tenant: Int64]()
            for tenant in Set(events.map(\.tenant)).sorted(by: { $0.name < $1.name }) {
                next[tenant] = try await takeEventIDs(connection, tenant: tenant, count: events.filter { $0.tenant == tenant }.count)
            }
            var records = [AlertEventRecord]()
            records.reserveCapacity(events.count)
            for event in events {
                let tenant = event.tenant.name
                let id = next[event.tenant]!
                next[event.tenant] = id + 1
                let at = event.at.millisecondsSinceEpoch
                let alert: Int64
                if event.kind == .raised {
                    // A raise while an alert is open for the same rule and entity closes that one
                    // first (the rule changed between runs).
                    try await connection.query(
                        """
                        UPDATE alerts SET cleared = \(at)
                        WHERE tenant = \(tenant) AND rule = \(event.rule) AND entity = \(event.entity.rawValue) AND cleared IS NULL
                        """,
                        logger: logger
                    )
                    alert = id
                    try await connection.query(
                        """
                        INSERT INTO alerts(tenant, id, rule, entity, entity_type, stage, stage_name, severity, value, level, raised, updated,
                                           latitude, longitude, last_change, last_kind)
                        VALUES (\(tenant), \(id), \(event.rule), \(event.entity.rawValue), \(event.entity.type), \(event.stage),
                                \(event.stageName), \(event.severity?.rawValue), \(event.value), \(event.level), \(at), \(at),
                                \(event.location?.latitude), \(event.location?.longitude), \(id), \(event.kind.rawValue))
                        """,
                        logger: logger
                    )
                } else {
                    var open: Int64?
                    let rows = try await connection.query(
                        """
                        SELECT id FROM alerts WHERE tenant = \(tenant) AND rule = \(event.rule) AND entity = \(event.entity.rawValue)
                          AND cleared IS NULL FOR UPDATE
                        """,
                        logger: logger
                    )
                    for try await (found, ) in rows.decode((Int64,).self) { open = found }
                    if let open {
                        alert = open
                    } else {
                        // No open alert (its raise predates this database): the event opens one, so it is not lost.
                        alert = id
                        try await connection.query(
                            """
                            INSERT INTO alerts(tenant, id, rule, entity, entity_type, stage, raised, updated, last_change, last_kind)
                            VALUES (\(tenant), \(id), \(event.rule), \(event.entity.rawValue), \(event.entity.type), 0, \(at), \(at), \(id),
                                    \(event.kind.rawValue))
                            """,
                            logger: logger
                        )
                    }
                    let cleared: Int64? = event.kind == .cleared ? at : nil
                    try await connection.query(
                        """
                        UPDATE alerts SET stage = \(event.stage), stage_name = coalesce(\(event.stageName), stage_name),
                            severity = coalesce(\(event.severity?.rawValue), severity), value = coalesce(\(event.value), value),
                            level = coalesce(\(event.level), level), updated = \(at), cleared = \(cleared),
                            latitude = coalesce(\(event.location?.latitude), latitude), longitude = coalesce(\(event.location?.longitude), longitude),
                            last_change = \(id), last_kind = \(event.kind.rawValue)
                        WHERE tenant = \(tenant) AND id = \(alert)
                        """,
                        logger: logger
                    )
                }
                try await insertEvent(connection, id: id, alert: alert, event: event, actor: nil)
                records.append(AlertEventRecord(id: id, alert: alert, event: event))
            }
            for tenant in Set(records.map(\.event.tenant)) {
                let ids = records.filter { $0.event.tenant == tenant }.map(\.id)
                try await notify(connection, tenant: tenant, first: ids.min()!, last: ids.max()!)
            }
            return records
        }
    }

    /// The channel on which every hub hears of events stored: `tenant:first:last` (delivered
    /// when the transaction commits).
    public static let eventChannel = "kakehashi_alert_events"

    private func notify(_ connection: PostgresConnection, tenant: Tenant, first: Int64, last: Int64) async throws {
        try await connection.query("SELECT pg_notify(\(Self.eventChannel), \("\(tenant.name):\(first):\(last)"))", logger: logger)
    }

    /// What `payload` of ``eventChannel`` says: a tenant and the ids of its events stored.
    public static func parseEventNotice(_ payload: String) -> (tenant: Tenant, first: Int64, last: Int64)? {
        let parts = payload.split(separator: ":")
        guard parts.count == 3, let tenant = try? Tenant(String(parts[0])), let first = Int64(parts[1]), let last = Int64(parts[2]) else {
            return nil
        }
        return (tenant, first, last)
    }

    /// Listens on ``eventChannel`` on a connection of its own and hands each payload to
    /// `received` until cancelled or the connection fails (the error is thrown).
    public func listenForEvents(_ received: @Sendable (String) async -> Void) async throws {
        let connection = try await PostgresConnection.connect(configuration: try Self.connectionConfiguration(settings), id: 2, logger: logger)
        do {
            try await connection.listen(on: Self.eventChannel) { notifications in
                for try await notification in notifications { await received(notification.payload) }
            }
        } catch {
            try? await connection.close()
            throw error
        }
        try? await connection.close()
    }

    private func insertEvent(_ connection: PostgresConnection, id: Int64, alert: Int64, event: AlertEvent, actor: String?) async throws {
        try await connection.query(
            """
            INSERT INTO alert_events(tenant, id, alert, kind, rule, entity, entity_type, stage, stage_name, severity, value, level, at,
                                     latitude, longitude, actor, late, last_reading)
            VALUES (\(event.tenant.name), \(id), \(alert), \(event.kind.rawValue), \(event.rule), \(event.entity.rawValue), \(event.entity.type),
                    \(event.stage), \(event.stageName), \(event.severity?.rawValue), \(event.value), \(event.level),
                    \(event.at.millisecondsSinceEpoch), \(event.location?.latitude), \(event.location?.longitude), \(actor), \(event.late),
                    \(event.lastReadingAt?.millisecondsSinceEpoch))
            """,
            logger: logger
        )
    }

    public func acknowledgeAlert(tenant: Tenant, id: Int64, by actor: String, at: Timestamp) async throws(StorageError) -> AlertEventRecord? {
        try await transaction("acknowledging alert \(id) of \(tenant)") { connection in
            guard let alert = try await alerts(connection, where: "tenant = $1 AND id = $2 FOR UPDATE", tenant.name, id).first else {
                return nil
            }
            let eventID = try await takeEventIDs(connection, tenant: tenant, count: 1)
            let event = alert.event(.acknowledged, at: at)
            try await connection.query(
                "UPDATE alerts SET acknowledged_by = \(actor), acknowledged = \(at.millisecondsSinceEpoch) WHERE tenant = \(tenant.name) AND id = \(id)",
                logger: logger
            )
            try await insertEvent(connection, id: eventID, alert: id, event: event, actor: actor)
            try await notify(connection, tenant: tenant, first: eventID, last: eventID)
            return AlertEventRecord(id: eventID, alert: id, event: event, actor: actor)
        }
    }

    public func alertEvents(tenant: Tenant, after: Int64, limit: Int) async throws(StorageError) -> [AlertEventRecord] {
        try await reading("reading alert events of \(tenant)") { connection in
            try await events(
                connection,
                tenant: tenant,
                where: "tenant = $1 AND id > $2 ORDER BY id LIMIT $3",
                tenant.name,
                after,
                Int64(max(0, limit))
            )
        }
    }

    public func latestAlertEventID(tenant: Tenant) async throws(StorageError) -> Int64 {
        try await reading("reading the newest alert event of \(tenant)") { connection in
            let rows = try await connection.query("SELECT coalesce(max(id), 0)::int8 FROM alert_events WHERE tenant = \(tenant.name)", logger: logger)
            for try await (id, ) in rows.decode((Int64,).self) { return id }
            return 0
        }
    }

    public func alertHistory(tenant: Tenant, alert: Int64) async throws(StorageError) -> [AlertEventRecord] {
        try await reading("reading the history of alert \(alert) of \(tenant)") { connection in
            try await events(connection, tenant: tenant, where: "tenant = $1 AND alert = $2 ORDER BY id", tenant.name, alert)
        }
    }

    public func alerts(tenant: Tenant, activeOnly: Bool, limit: Int) async throws(StorageError) -> [AlertRecord] {
        try await reading("reading alerts of \(tenant)") { connection in
            try await alerts(
                connection,
                where: "tenant = $1\(activeOnly ? " AND cleared IS NULL" : "") ORDER BY id DESC LIMIT $2",
                tenant.name,
                Int64(max(0, limit))
            )
        }
    }

    public func alert(tenant: Tenant, id: Int64) async throws(StorageError) -> AlertRecord? {
        try await reading("reading alert \(id) of \(tenant)") { connection in
            try await alerts(connection, where: "tenant = $1 AND id = $2", tenant.name, id).first
        }
    }

    public func activeAlerts() async throws(StorageError) -> [AlertRecord] {
        try await reading("reading active alerts") { connection in
            try await alerts(connection, where: "cleared IS NULL ORDER BY tenant, id")
        }
    }

    // MARK: Rows

    private static let eventColumns =
        "id, alert, kind, rule, entity, stage, stage_name, severity, value, level, at, latitude, longitude, actor, late, last_reading, entity_type"

    private func events(
        _ connection: PostgresConnection,
        tenant: Tenant,
        where condition: String,
        _ values: any PostgresEncodable & Sendable...
    ) async throws -> [AlertEventRecord] {
        var binds = PostgresBindings()
        for value in values { try binds.append(value, context: .default) }
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT \(Self.eventColumns) FROM alert_events WHERE \(condition)", binds: binds),
            logger: logger
        )
        var result = [AlertEventRecord]()
        for try await row in rows {
            let r = row.makeRandomAccess()
            var event = AlertEvent(
                kind: AlertEvent.Kind(rawValue: try r[2].decode(String.self)) ?? .raised,
                rule: try r[3].decode(String.self),
                entity: try EntityID(stored: try r[4].decode(String.self), type: try r[16].decode(String?.self), tenant: tenant),
                stage: try r[5].decode(Int.self),
                stageName: try r[6].decode(String?.self),
                severity: try r[7].decode(String?.self).flatMap(Alert.Severity.init(rawValue:)),
                value: try r[8].decode(Double?.self),
                level: try r[9].decode(Double?.self),
                at: Timestamp(millisecondsSinceEpoch: try r[10].decode(Int64.self)),
                location: Self.point(try r[11].decode(Double?.self), try r[12].decode(Double?.self))
            )
            event.late = try r[14].decode(Bool.self)
            event.lastReadingAt = try r[15].decode(Int64?.self).map { Timestamp(millisecondsSinceEpoch: $0) }
            result.append(
                AlertEventRecord(
                    id: try r[0].decode(Int64.self),
                    alert: try r[1].decode(Int64.self),
                    event: event,
                    actor: try r[13].decode(String?.self)
                )
            )
        }
        return result
    }

    private static let alertColumns = """
        tenant, id, rule, entity, stage, stage_name, severity, value, level, raised, updated, cleared, latitude, longitude,
        acknowledged_by, acknowledged, last_change, last_kind, entity_type
        """

    private func alerts(
        _ connection: PostgresConnection,
        where condition: String,
        _ values: any PostgresEncodable & Sendable...
    ) async throws
        -> [AlertRecord]
    {
        var binds = PostgresBindings()
        for value in values { try binds.append(value, context: .default) }
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT \(Self.alertColumns) FROM alerts WHERE \(condition)", binds: binds),
            logger: logger
        )
        var result = [AlertRecord]()
        for try await row in rows {
            let r = row.makeRandomAccess()
            let tenant = try Tenant(try r[0].decode(String.self))
            result.append(
                AlertRecord(
                    id: try r[1].decode(Int64.self),
                    tenant: tenant,
                    rule: try r[2].decode(String.self),
                    entity: try EntityID(stored: try r[3].decode(String.self), type: try r[18].decode(String?.self), tenant: tenant),
                    stage: try r[4].decode(Int.self),
                    stageName: try r[5].decode(String?.self),
                    severity: try r[6].decode(String?.self).flatMap(Alert.Severity.init(rawValue:)),
                    value: try r[7].decode(Double?.self),
                    level: try r[8].decode(Double?.self),
                    raisedAt: Timestamp(millisecondsSinceEpoch: try r[9].decode(Int64.self)),
                    updatedAt: Timestamp(millisecondsSinceEpoch: try r[10].decode(Int64.self)),
                    clearedAt: try r[11].decode(Int64?.self).map { Timestamp(millisecondsSinceEpoch: $0) },
                    location: Self.point(try r[12].decode(Double?.self), try r[13].decode(Double?.self)),
                    acknowledgedBy: try r[14].decode(String?.self),
                    acknowledgedAt: try r[15].decode(Int64?.self).map { Timestamp(millisecondsSinceEpoch: $0) },
                    lastChange: try r[16].decode(Int64.self),
                    lastChangeKind: AlertEvent.Kind(rawValue: try r[17].decode(String.self)) ?? .raised
                )
            )
        }
        return result
    }

    private static func point(_ latitude: Double?, _ longitude: Double?) -> GeoPoint? {
        guard let latitude, let longitude else { return nil }
        return try? GeoPoint(latitude: latitude, longitude: longitude)
    }
}
