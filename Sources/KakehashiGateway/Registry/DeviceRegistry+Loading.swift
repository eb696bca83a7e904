import Foundation
import KakehashiConfig
import KakehashiModel
import Yams

extension DeviceRegistry {
    /// Loads a registry from YAML (`devices:` list) or CSV (header row), by the file's extension.
    public static func load(file: String) throws(ConfigurationError) -> DeviceRegistry {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ConfigurationError([
                ConfigurationIssue(
                    file: file,
                    line: nil,
                    column: nil,
                    key: "",
                    problem: "cannot read the device registry (\(error.localizedDescription))"
                )
            ])
        }
        return file.lowercased().hasSuffix(".csv") ? try parseCSV(text, file: file) : try parseYAML(text, file: file)
    }

    static let fields = [
        "id", "type", "entity_id", "name", "latitude", "longitude", "observation_start_level", "alert_level", "danger_level", "interval",
    ]

    /// Builds one record from named text fields; problems go to `report` with the field's name.
    static func record(_ fields: [String: String], report: (String, String) -> Void) -> DeviceRecord? {
        guard let sensor = fields["id"], !sensor.isEmpty else { report("id", "is required"); return nil }
        guard let typeName = fields["type"], !typeName.isEmpty else { report("type", "is required"); return nil }
        guard let kind = DeviceRecord.Kind(rawValue: typeName) else {
            report("type", "unknown entity type '\(typeName)' (\(DeviceRecord.Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
            return nil
        }
        func number(_ key: String) -> Double? {
            guard let text = fields[key], !text.isEmpty else { return nil }
            guard let value = Double(text), value.isFinite else { report(key, "'\(text)' is not a finite number"); return nil }
            return value
        }
        var location: GeoPoint?
        switch (number("latitude"), number("longitude")) {
        case (let lat?, let lon?):
            do { location = try GeoPoint(latitude: lat, longitude: lon) } catch { report("latitude", error.description) }
        case (nil, nil): if kind == .waterObserved { report("latitude", "a water gauge needs latitude and longitude") }
        default: report("longitude", "latitude and longitude go together")
        }
        var thresholds: FloodThresholds?
        let levels = (number("observation_start_level"), number("alert_level"), number("danger_level"))
        if levels.0 != nil || levels.1 != nil || levels.2 != nil {
            if kind != .waterObserved { report("alert_level", "thresholds apply to WaterObserved sensors") }
            do {
                thresholds = try FloodThresholds(observationStartLevel: levels.0, alertLevel: levels.1, dangerLevel: levels.2)
            } catch { report("alert_level", error.description) }
        }
        var interval: Int64 = 60_000
        if let seconds = number("interval") {
            if seconds <= 0 { report("interval", "the counting interval must be positive") } else { interval = Int64(seconds * 1000) }
        }
        let localID = fields["entity_id"].flatMap { $0.isEmpty ? nil : $0 } ?? sensor
        do {
            _ = try EntityID(type: kind.rawValue, tenant: Tenant("check"), localID: localID)
        } catch {
            report(fields["entity_id"] == nil ? "id" : "entity_id", "'\(localID)' cannot be an entity id: \(error.reason)")
            return nil
        }
        return DeviceRecord(
            sensor: sensor,
            kind: kind,
            localID: localID,
            name: fields["name"].flatMap { $0.isEmpty ? nil : $0 },
            location: location,
            thresholds: thresholds,
            intervalMilliseconds: interval
        )
    }

    static func parseYAML(_ text: String, file: String) throws(ConfigurationError) -> DeviceRegistry {
        let reader = ConfigReader(file: file, environment: [:])
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw ConfigurationError([ConfigDocument.yamlIssue(error, file: file)])
        }
        guard let root else {
            throw ConfigurationError([ConfigurationIssue(file: file, line: nil, column: nil, key: "", problem: "the file is empty")])
        }
        let top = ConfigNode(node: root, path: "", reader: reader)
        var records = [DeviceRecord]()
        if let m = top.mapping(allowed: ["devices"]), let list = m["devices"]?.sequence() {
            for item in list {
                guard let members = item.mapping(allowed: fields + ["location", "thresholds"]) else { continue }
                var values = [String: String]()
                for (key, node) in members where key != "location" && key != "thresholds" { values[key] = node.string }
                if let location = members["location"]?.mapping(allowed: ["lat", "lon"]) {
                    values["latitude"] = location["lat"]?.string
                    values["longitude"] = location["lon"]?.string
                }
                if let levels = members["thresholds"]?.mapping(allowed: ["observation_start", "alert", "danger"]) {
                    values["observation_start_level"] = levels["observation_start"]?.string
                    values["alert_level"] = levels["alert"]?.string
                    values["danger_level"] = levels["danger"]?.string
                }
                if let record = record(
                    values,
                    report: { key, problem in
                        reader.report(
                            problem,
                            key: item.child(key),
                            mark: (members[key] ?? members["location"] ?? members["thresholds"] ?? item).mark
                        )
                    }
                ) {
                    records.append(record)
                }
            }
        } else if reader.issues.isEmpty {
            top.fail("expected 'devices:' with a list of sensors")
        }
        try check(records, reader: reader)
        return DeviceRegistry(records)
    }

    /// A CSV registry (RFC 4180 through ``CSV``: a name may hold a comma inside quotes); a line
    /// whose first cell starts with `#` is a comment.
    static func parseCSV(_ text: String, file: String) throws(ConfigurationError) -> DeviceRegistry {
        let reader = ConfigReader(file: file, environment: [:])
        let rows: [CSV.Record]
        do { rows = try CSV.records(text) } catch {
            throw ConfigurationError([
                ConfigurationIssue(file: file, line: error.line, column: nil, key: "", problem: "a quoted cell is never closed")
            ])
        }
        guard let header = rows.first else {
            throw ConfigurationError([ConfigurationIssue(file: file, line: 1, column: nil, key: "", problem: "the file is empty")])
        }
        let columns = header.fields.map { String(Substring($0).trimmingSpaces) }
        for column in columns where !fields.contains(column) {
            reader.report(contentsOf: [
                ConfigurationIssue(
                    file: file,
                    line: header.line,
                    column: nil,
                    key: column,
                    problem: "unknown column (known: \(fields.joined(separator: ", ")))"
                )
            ])
        }
        var records = [DeviceRecord]()
        for row in rows.dropFirst() where !(row.fields.first.map { Substring($0).trimmingSpaces.hasPrefix("#") } ?? false) {
            let cells = row.fields.map { String(Substring($0).trimmingSpaces) }
            guard cells.count == columns.count else {
                reader.report(contentsOf: [
                    ConfigurationIssue(
                        file: file,
                        line: row.line,
                        column: nil,
                        key: "",
                        problem: "\(cells.count) cells, the header has \(columns.count)"
                    )
                ])
                continue
            }
            let values = Dictionary(zip(columns, cells), uniquingKeysWith: { a, _ in a })
            if let record = record(
                values,
                report: { key, problem in
                    reader.report(contentsOf: [ConfigurationIssue(file: file, line: row.line, column: nil, key: key, problem: problem)])
                }
            ) {
                records.append(record)
            }
        }
        try check(records, reader: reader)
        return DeviceRegistry(records)
    }

    static func check(_ records: [DeviceRecord], reader: ConfigReader) throws(ConfigurationError) {
        var seen = Set<String>()
        for record in records where !seen.insert(record.sensor).inserted {
            reader.report("sensor '\(record.sensor)' is listed twice", key: "", mark: nil)
        }
        guard reader.issues.isEmpty else { throw ConfigurationError(reader.issues) }
    }
}
