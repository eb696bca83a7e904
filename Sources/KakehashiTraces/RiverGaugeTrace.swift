import KakehashiModel

/// One reading of an MLIT river-gauge trace.
public struct RiverGaugeReading: Sendable, Hashable {
    /// The gauge's station code.
    public let stationCode: String
    /// When the gauge measured.
    public let observedAt: Timestamp
    /// The level in metres on the gauge's datum.
    public let level: Double
    /// The line in the trace file.
    public let line: Int
}

/// The readings file of an MLIT river-gauge trace: `station_code, observed_at, level_m`, with
/// `observed_at` in ISO 8601 UTC. Rows are kept in file order (which is not time order across
/// gauges); rows that cannot be read are kept as ``rejected`` with the reason.
public struct RiverGaugeTrace: Sendable {
    /// The columns the file must have.
    public static let columns = ["station_code", "observed_at", "level_m"]

    /// The readings, in file order.
    public let readings: [RiverGaugeReading]
    /// Rows that could not be read.
    public let rejected: [TraceError]

    /// Parses the file's text.
    public init(text: String, file: String) throws(TraceError) {
        let table = try CSVTable(text: text, file: file)
        let index = try table.columnIndexes(Self.columns, file: file)
        var readings = [RiverGaugeReading]()
        readings.reserveCapacity(table.rows.count)
        var rejected = table.malformed
        for row in table.rows {
            let code = row.fields[index[0]].trimmingSpaces
            let time = row.fields[index[1]].trimmingSpaces
            let levelText = row.fields[index[2]].trimmingSpaces
            guard !code.isEmpty else {
                rejected.append(TraceError(file: file, line: row.line, column: "station_code", reason: "is empty"))
                continue
            }
            guard let level = Double(levelText), level.isFinite else {
                rejected.append(
                    TraceError(file: file, line: row.line, column: "level_m", reason: "\"\(levelText.prefix(40))\" is not a finite number")
                )
                continue
            }
            do {
                let observedAt = try Timestamp(iso8601: time, field: "observed_at")
                readings.append(RiverGaugeReading(stationCode: code, observedAt: observedAt, level: level, line: row.line))
            } catch {
                rejected.append(
                    TraceError(file: file, line: row.line, column: "observed_at", reason: ModelError(field: "", error.reason).description)
                )
            }
        }
        self.readings = readings
        self.rejected = rejected
    }
}
