import KakehashiModel

/// The stations file of an MLIT river-gauge trace: one row per gauge,
/// `station_code, name, prefecture, city, latitude, longitude, start_level_m, warn_level_m, flood_level_m`.
///
/// Rows that cannot be read are kept as ``rejected`` with the reason; they never stop the rest.
public struct RiverGaugeStations: Sendable {
    /// The columns the file must have.
    public static let columns = [
        "station_code", "name", "prefecture", "city", "latitude", "longitude", "start_level_m", "warn_level_m", "flood_level_m",
    ]

    /// The stations by code.
    public let byCode: [String: RiverGaugeStation]
    /// Rows that could not be read.
    public let rejected: [TraceError]

    /// Parses the file's text.
    public init(text: String, file: String) throws(TraceError) {
        let table = try CSVTable(text: text, file: file)
        let index = try table.columnIndexes(Self.columns, file: file)
        var stations = [String: RiverGaugeStation]()
        var rejected = table.malformed
        for row in table.rows {
            let f = index.map { row.fields[$0].trimmingSpaces }
            func number(_ column: Int) throws(TraceError) -> Double? {
                if f[column].isEmpty { return nil }
                guard let value = Double(f[column]), value.isFinite else {
                    throw TraceError(file: file, line: row.line, column: Self.columns[column], reason: "\"\(f[column].prefix(40))\" is not a number")
                }
                return value
            }
            do throws(TraceError) {
                guard let latitude = try number(4), let longitude = try number(5) else {
                    throw TraceError(file: file, line: row.line, column: "latitude/longitude", reason: "position is required")
                }
                let (start, warn, flood) = (try number(6), try number(7), try number(8))
                let station = try Self.model(file: file, line: row.line) { () throws(ModelError) in
                    try RiverGaugeStation(
                        code: f[0],
                        name: f[1],
                        prefecture: f[2],
                        city: f[3],
                        location: GeoPoint(latitude: latitude, longitude: longitude),
                        thresholds: FloodThresholds(observationStartLevel: start, alertLevel: warn, dangerLevel: flood)
                    )
                }
                guard stations[station.code] == nil else {
                    throw TraceError(file: file, line: row.line, column: "station_code", reason: "station \(station.code) is listed twice")
                }
                stations[station.code] = station
            } catch {
                rejected.append(error)
            }
        }
        self.byCode = stations
        self.rejected = rejected
    }

    /// Runs a model initializer, turning its error into a located trace error.
    static func model<T>(file: String, line: Int, _ body: () throws(ModelError) -> T) throws(TraceError) -> T {
        do { return try body() } catch {
            throw TraceError(
                file: file,
                line: line,
                column: error.field.isEmpty ? nil : error.field,
                reason: ModelError(field: "", error.reason).description
            )
        }
    }
}
