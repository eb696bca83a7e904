import KakehashiAlerts
import KakehashiHubCore
import KakehashiModel
import KakehashiSQLite

extension SQLiteStore: AlertStore {
    public func recordAlertEvents(_ events: [AlertEvent]) async throws(StorageError) -> [AlertEventRecord] {
        guard !events.isEmpty else { return [] }
        return try write("recording \(events.count) alert events") { writer in
            let db = writer.connection
            var next = [Tenant: Int64]()
            var records = [AlertEventRecord]()
            records.reserveCapacity(events.count)
            for event in events {
                let tenant = event.tenant
                let id = try next[tenant] ?? Self.lastEventID(db, tenant: tenant) + 1
                next[tenant] = id + 1
                let alert: Int64
                if event.kind == .raised {
                    // A raise while an alert is open for the same rule and entity closes that one first
                    // (it can only happen when the rule changed between runs).
                    try Self.run(
                        db,
                        "UPDATE alerts SET cleared = ?4 WHERE tenant = ?1 AND rule = ?2 AND entity = ?3 AND cleared IS NULL",
                        [.text(tenant.name), .text(event.rule), .text(event.entity.rawValue), .int(event.at.millisecondsSinceEpoch)]
                    )
                    alert = id
                    try Self.run(
                        db,
                        """
                        INSERT INTO alerts(tenant, id, rule, entity, stage, stage_name, severity, value, level, raised, updated, cleared,
                                           latitude, longitude, last_change, last_kind, entity_type)
                        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, NULL, ?11, ?12, ?2, ?13, ?14)
                        """,
                        [
                            .text(tenant.name), .int(id), .text(event.rule), .text(event.entity.rawValue), .int(Int64(event.stage)),
                            .optionalText(event.stageName), .optionalText(event.severity?.rawValue), .optionalReal(event.value),
                            .optionalReal(event.level), .int(event.at.millisecondsSinceEpoch), .optionalReal(event.location?.latitude),
                            .optionalReal(event.location?.longitude), .text(event.kind.rawValue), .text(event.entity.type),
                        ]
                    )
                } else {
                    let open = try db.prepare("SELECT id FROM alerts WHERE tenant = ? AND rule = ? AND entity = ? AND cleared IS NULL")
                    try open.bind(1, tenant.name)
                    try open.bind(2, event.rule)
                    try open.bind(3, event.entity.rawValue)
                    if try open.step() {
                        alert = open.int64(0)
                    } else {
                        // No open alert (its raise predates this database): the event opens one, so it is not lost.
                        alert = id
                        try Self.run(
                            db,
                            """
                            INSERT INTO alerts(tenant, id, rule, entity, stage, raised, updated, last_change, last_kind, entity_type)
                            VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5, ?2, ?6, ?7)
                            """,
                            [
                                .text(tenant.name), .int(id), .text(event.rule), .text(event.entity.rawValue),
                                .int(event.at.millisecondsSinceEpoch), .text(event.kind.rawValue), .text(event.entity.type),
                            ]
                        )
                    }
                    let cleared = event.kind == .cleared
                    try Self.run(
                        db,
                        """
                        UPDATE alerts SET stage = ?3, stage_name = coalesce(?4, stage_name), severity = coalesce(?5, severity),
                            value = coalesce(?6, value), level = coalesce(?7, level), updated = ?8, cleared = ?9,
                            latitude = coalesce(?10, latitude), longitude = coalesce(?11, longitude), last_change = ?12, last_kind = ?13
                        WHERE tenant = ?1 AND id = ?2
                        """,
                        [
                            .text(tenant.name), .int(alert), .int(Int64(event.stage)), .optionalText(event.stageName),
                            .optionalText(event.severity?.rawValue), .optionalReal(event.value), .optionalReal(event.level),
                            .int(event.at.millisecondsSinceEpoch), cleared ? .int(event.at.millisecondsSinceEpoch) : .null,
                            .optionalReal(event.location?.latitude), .optionalReal(event.location?.longitude), .int(id), .text(event.kind.rawValue),
                        ]
                    )
                }
                try Self.insertEvent(db, id: id, alert: alert, event: event, actor: nil)
                records.append(AlertEventRecord(id: id, alert: alert, event: event))
            }
            return records
        }
    }

    public func acknowledgeAlert(tenant: Tenant, id: Int64, by actor: String, at: Timestamp) async throws(StorageError) -> AlertEventRecord? {
        try write("acknowledging alert \(id) of \(tenant)") { writer in
            let db = writer.connection
            guard let alert = try Self.alert(db, tenant: tenant, id: id) else { return nil }
            let eventID = try Self.lastEventID(db, tenant: tenant) + 1
            let event = alert.event(.acknowledged, at: at)
            try Self.run(
                db,
                "UPDATE alerts SET acknowledged_by = ?3, acknowledged = ?4 WHERE tenant = ?1 AND id = ?2",
                [.text(tenant.name), .int(id), .text(actor), .int(at.millisecondsSinceEpoch)]
            )
            try Self.insertEvent(db, id: eventID, alert: id, event: event, actor: actor)
            return AlertEventRecord(id: eventID, alert: id, event: event, actor: actor)
        }
    }

    public func alertEvents(tenant: Tenant, after: Int64, limit: Int) async throws(StorageError) -> [AlertEventRecord] {
        try read("reading alert events of \(tenant)") { db in
            let statement = try db.prepare("SELECT \(Self.eventColumns) FROM alert_events WHERE tenant = ? AND id > ? ORDER BY id LIMIT ?")
            try statement.bind(1, tenant.name)
            try statement.bind(2, after)
            try statement.bind(3, max(0, limit))
            return try Self.events(statement, tenant: tenant)
        }
    }

    public func latestAlertEventID(tenant: Tenant) async throws(StorageError) -> Int64 {
        try read("reading the newest alert event of \(tenant)") { db in
            let statement = try db.prepare("SELECT COALESCE(MAX(id), 0) FROM alert_events WHERE tenant = ?")
            try statement.bind(1, tenant.name)
            _ = try statement.step()
            return statement.int64(0)
        }
    }

    public func alertHistory(tenant: Tenant, alert: Int64) async throws(StorageError) -> [AlertEventRecord] {
        try read("reading the history of alert \(alert) of \(tenant)") { db in
            let statement = try db.prepare("SELECT \(Self.eventColumns) FROM alert_events WHERE tenant = ? AND alert = ? ORDER BY id")
            try statement.bind(1, tenant.name)
            try statement.bind(2, alert)
            return try Self.events(statement, tenant: tenant)
        }
    }

    public func alerts(tenant: Tenant, activeOnly: Bool, limit: Int) async throws(StorageError) -> [AlertRecord] {
        try read("reading alerts of \(tenant)") { db in
            let statement = try db.prepare(
                "SELECT \(Self.alertColumns) FROM alerts WHERE tenant = ?\(activeOnly ? " AND cleared IS NULL" : "") ORDER BY id DESC LIMIT ?"
            )
            try statement.bind(1, tenant.name)
            try statement.bind(2, max(0, limit))
            var result = [AlertRecord]()
            while try statement.step() { result.append(try Self.alertRecord(statement)) }
            return result
        }
    }

    public func alert(tenant: Tenant, id: Int64) async throws(StorageError) -> AlertRecord? {
        try read("reading alert \(id) of \(tenant)") { db in try Self.alert(db, tenant: tenant, id: id) }
    }

    public func activeAlerts() async throws(StorageError) -> [AlertRecord] {
        try read("reading active alerts") { db in
            let statement = try db.prepare("SELECT \(Self.alertColumns) FROM alerts WHERE cleared IS NULL ORDER BY tenant, id")
            var result = [AlertRecord]()
            while try statement.step() { result.append(try Self.alertRecord(statement)) }
            return result
        }
    }

    // MARK: Rows

    enum Value {
        case int(Int64)
        case real(Double)
        case text(String)
        case null
        static func optionalText(_ text: String?) -> Value { text.map { .text($0) } ?? .null }
        static func optionalReal(_ value: Double?) -> Value { value.map { .real($0) } ?? .null }
    }

    static func run(_ db: SQLiteConnection, _ sql: String, _ values: [Value]) throws(SQLiteError) {
        let statement = try db.prepare(sql)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            switch value {
            case .int(let number): try statement.bind(index, number)
            case .real(let number): try statement.bind(index, number)
            case .text(let text): try statement.bind(index, text)
            case .null: try statement.bind(index, nil as String?)
            }
        }
        try statement.run()
    }

    static func lastEventID(_ db: SQLiteConnection, tenant: Tenant) throws(SQLiteError) -> Int64 {
        let statement = try db.prepare("SELECT coalesce(max(id), 0) FROM alert_events WHERE tenant = ?")
        try statement.bind(1, tenant.name)
        _ = try statement.step()
        return statement.int64(0)
    }

    static func insertEvent(_ db: SQLiteConnection, id: Int64, alert: Int64, event: AlertEvent, actor: String?) throws(SQLiteError) {
        try run(
            db,
            """
            INSERT INTO alert_events(tenant, id, alert, kind, rule, entity, stage, stage_name, severity, value, level, at, latitude, longitude, actor,
                                     late, last_reading, entity_type)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
            """,
            [
                .text(event.tenant.name), .int(id), .int(alert), .text(event.kind.rawValue), .text(event.rule), .text(event.entity.rawValue),
                .int(Int64(event.stage)), .optionalText(event.stageName), .optionalText(event.severity?.rawValue), .optionalReal(event.value),
                .optionalReal(event.level), .int(event.at.millisecondsSinceEpoch), .optionalReal(event.location?.latitude),
                .optionalReal(event.location?.longitude), .optionalText(actor), .int(event.late ? 1 : 0),
                event.lastReadingAt.map { .int($0.millisecondsSinceEpoch) } ?? .null, .text(event.entity.type),
            ]
        )
    }

    static let eventColumns =
        "id, alert, kind, rule, entity, stage, stage_name, severity, value, level, at, latitude, longitude, actor, late, last_reading, entity_type"

    static func events(_ statement: SQLiteStatement, tenant: Tenant) throws -> [AlertEventRecord] {
        var result = [AlertEventRecord]()
        while try statement.step() {
            var event = AlertEvent(
                kind: AlertEvent.Kind(rawValue: statement.string(2) ?? "") ?? .raised,
                rule: statement.string(3) ?? "",
                entity: try EntityID(stored: statement.string(4) ?? "", type: statement.string(16), tenant: tenant),
                stage: statement.int(5),
                stageName: statement.string(6),
                severity: statement.string(7).flatMap(Alert.Severity.init(rawValue:)),
                value: optionalDouble(statement, 8),
                level: optionalDouble(statement, 9),
                at: Timestamp(millisecondsSinceEpoch: statement.int64(10)),
                location: point(statement, 11)
            )
            event.late = statement.int(14) != 0
            event.lastReadingAt = statement.isNull(15) ? nil : Timestamp(millisecondsSinceEpoch: statement.int64(15))
            result.append(AlertEventRecord(id: statement.int64(0), alert: statement.int64(1), event: event, actor: statement.string(13)))
        }
        return result
    }

    static let alertColumns = """
        tenant, id, rule, entity, stage, stage_name, severity, value, level, raised, updated, cleared, latitude, longitude,
        acknowledged_by, acknowledged, last_change, last_kind, entity_type
        """

    static func alert(_ db: SQLiteConnection, tenant: Tenant, id: Int64) throws -> AlertRecord? {
        let statement = try db.prepare("SELECT \(alertColumns) FROM alerts WHERE tenant = ? AND id = ?")
        try statement.bind(1, tenant.name)
        try statement.bind(2, id)
        return try statement.step() ? alertRecord(statement) : nil
    }

    static func alertRecord(_ s: SQLiteStatement) throws -> AlertRecord {
        AlertRecord(
            id: s.int64(1),
            tenant: try Tenant(s.string(0) ?? ""),
            rule: s.string(2) ?? "",
            entity: try EntityID(stored: s.string(3) ?? "", type: s.string(18), tenant: Tenant(s.string(0) ?? "")),
            stage: s.int(4),
            stageName: s.string(5),
            severity: s.string(6).flatMap(Alert.Severity.init(rawValue:)),
            value: optionalDouble(s, 7),
            level: optionalDouble(s, 8),
            raisedAt: Timestamp(millisecondsSinceEpoch: s.int64(9)),
            updatedAt: Timestamp(millisecondsSinceEpoch: s.int64(10)),
            clearedAt: s.isNull(11) ? nil : Timestamp(millisecondsSinceEpoch: s.int64(11)),
            location: point(s, 12),
            acknowledgedBy: s.string(14),
            acknowledgedAt: s.isNull(15) ? nil : Timestamp(millisecondsSinceEpoch: s.int64(15)),
            lastChange: s.int64(16),
            lastChangeKind: AlertEvent.Kind(rawValue: s.string(17) ?? "") ?? .raised
        )
    }

    private static func optionalDouble(_ s: SQLiteStatement, _ column: Int32) -> Double? { s.isNull(column) ? nil : s.double(column) }

    private static func point(_ s: SQLiteStatement, _ column: Int32) -> GeoPoint? {
        guard !s.isNull(column), !s.isNull(column + 1) else { return nil }
        return try? GeoPoint(latitude: s.double(column), longitude: s.double(column + 1))
    }
}
