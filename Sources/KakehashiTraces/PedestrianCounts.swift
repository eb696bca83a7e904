import KakehashiModel

/// The City of Melbourne Pedestrian Counting System, as published in monthly files:
/// `Date, Hour, <one column per sensor, named by its description>`, one row per hour with the count
/// of people who passed during that hour (`Date` like `1-Jan-10`, `Hour` 0–23, local time).
///
/// Rows without a date (the blank rows and the totals row that close the published files) are
/// not readings and are skipped silently; an empty cell is a sensor that did not report that hour.
public struct PedestrianCounts: Sendable {
    /// One hourly count of one sensor.
    public struct Reading: Sendable, Hashable {
        /// The sensor's column name (its description).
        public let sensor: String
        /// The end of the counted hour.
        public let observedAt: Timestamp
        public let count: Int
        public let line: Int
    }

    /// The sensors, by column name, in column order.
    public let sensors: [String]
    /// The readings, row by row, sensors in column order.
    public let readings: [Reading]
    /// Cells or rows that could not be read, with the reason.
    public let rejected: [TraceError]

    static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Parses `text` (named `file` in errors); local times are at `utcOffsetSeconds`.
    public init(text: String, file: String, utcOffsetSeconds: Int) throws(TraceError) {
        let table = try CSVTable(text: text, file: file)
        let index = try table.columnIndexes(["Date", "Hour"], file: file)
        let sensorColumns = table.header.indices.filter { !index.contains($0) && !table.header[$0].isEmpty }
        sensors = sensorColumns.map { table.header[$0] }
        var readings = [Reading]()
        var rejected = table.malformed
        for row in table.rows {
            let dateText = row.fields[index[0]].trimmingSpaces
            if dateText.isEmpty { continue }
            let hourText = row.fields[index[1]].trimmingSpaces
            guard let hour = Int(hourText), (0...23).contains(hour) else {
                rejected.append(TraceError(file: file, line: row.line, column: "Hour", reason: "\"\(hourText.prefix(10))\" is not an hour 0-23"))
                continue
            }
            guard let day = Self.day(dateText) else {
                rejected.append(
                    TraceError(file: file, line: row.line, column: "Date", reason: "\"\(dateText.prefix(20))\" is not a date like 1-Jan-10")
                )
                continue
            }
            let start: Timestamp
            do {
                start = try Timestamp(iso8601: "\(day)T\(hour < 10 ? "0" : "")\(hour):00:00", assumedOffsetSeconds: utcOffsetSeconds, field: "Date")
            } catch {
                rejected.append(TraceError(file: file, line: row.line, column: "Date", reason: ModelError(field: "", error.reason).description))
                continue
            }
            let end = start.advanced(byMilliseconds: 3_600_000)
            for column in sensorColumns {
                let cell = row.fields[column].trimmingSpaces
                if cell.isEmpty { continue }
                guard let count = Int(cell), count >= 0 else {
                    rejected.append(
                        TraceError(file: file, line: row.line, column: table.header[column], reason: "\"\(cell.prefix(20))\" is not a count")
                    )
                    continue
                }
                readings.append(Reading(sensor: table.header[column], observedAt: end, count: count, line: row.line))
            }
        }
        self.readings = readings
        self.rejected = rejected
    }

    /// `1-Jan-10` → `2010-01-01` (two-digit years are 20xx; four-digit years are kept).
    static func day(_ text: String) -> String? {
        let parts = text.split(separator: "-")
        guard parts.count == 3, let day = Int(parts[0]), (1...31).contains(day),
            let month = months.firstIndex(of: parts[1].lowercased().prefix(3).description), let rawYear = Int(parts[2])
        else { return nil }
        let year = parts[2].count <= 2 ? 2000 + rawYear : rawYear
        guard (1...9999).contains(year) else { return nil }
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let y = String(year)
        return String(repeating: "0", count: max(0, 4 - y.count)) + y + "-" + two(month + 1) + "-" + two(day)
    }
}

/// The sensor-locations file of the Melbourne Pedestrian Counting System:
/// `sensor_id, sensor_description, sensor_name, …, latitude, longitude, …`.
public struct PedestrianSensorLocations: Sendable {
    public struct Sensor: Sendable, Hashable {
        public let id: String
        public let description: String
        public let name: String
        public let location: GeoPoint
    }

    public let sensors: [Sensor]
    public let rejected: [TraceError]

    public init(text: String, file: String) throws(TraceError) {
        let table = try CSVTable(text: text, file: file)
        let index = try table.columnIndexes(["sensor_id", "sensor_description", "sensor_name", "latitude", "longitude"], file: file)
        var sensors = [Sensor]()
        var rejected = table.malformed
        for row in table.rows {
            let f = index.map { row.fields[$0].trimmingSpaces }
            guard !f[0].isEmpty else { continue }
            guard let latitude = Double(f[3]), let longitude = Double(f[4]) else {
                rejected.append(TraceError(file: file, line: row.line, column: "latitude/longitude", reason: "not a position"))
                continue
            }
            do {
                sensors.append(Sensor(id: f[0], description: f[1], name: f[2], location: try GeoPoint(latitude: latitude, longitude: longitude)))
            } catch {
                rejected.append(TraceError(file: file, line: row.line, column: "latitude/longitude", reason: error.description))
            }
        }
        self.sensors = sensors
        self.rejected = rejected
    }

    /// The sensor a counts file names by its description. The published files are not always
    /// spelled alike ("Flinders St Station Underpass" / "Flinders Street Station Underpass"), so
    /// descriptions are compared without case, punctuation, and with "Street" as "St".
    public func sensor(described description: String) -> Sensor? {
        let key = Self.key(description)
        return sensors.first { $0.description == description } ?? sensors.first { Self.key($0.description) == key }
    }

    static func key(_ text: String) -> String {
        let words = text.lowercased().split { !$0.isLetter && !$0.isNumber }
        return words.map { $0 == "street" ? "st" : String($0) }.joined(separator: " ")
    }
}
