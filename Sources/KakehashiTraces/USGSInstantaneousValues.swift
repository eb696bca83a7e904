import KakehashiModel

/// A USGS NWIS instantaneous-values file in RDB format: `#` comment lines, a tab-separated header
/// (`agency_cd, site_no, datetime, tz_cd, <dd>_<parameter>, <dd>_<parameter>_cd, …`), a column
/// format line (`5s 15s 20d …`), then one row per time. Times are local with their zone abbreviation
/// in `tz_cd` (EST, EDT, CST, … or UTC).
///
/// Only rows that carry the requested parameter are readings; a row where it is empty or marked
/// (e.g. `Ice`, `Eqp`) is skipped and counted, never guessed.
public struct USGSInstantaneousValues: Sendable {
    /// One value of one parameter at one time.
    public struct Reading: Sendable, Hashable {
        public let site: String
        public let observedAt: Timestamp
        public let value: Double
        /// The qualification code (`P` provisional, `A` approved, …).
        public let qualifier: String
        public let line: Int
    }

    /// USGS parameter codes Kakehashi knows, with their unit.
    public enum Parameter: String, Sendable, CaseIterable {
        case gageHeight = "00065"  // feet
        case discharge = "00060"  // ft³/s
        case waterTemperature = "00010"  // °C
        case precipitation = "00045"  // inches

        public var name: String {
            switch self {
            case .gageHeight: "gage height (ft)"
            case .discharge: "discharge (ft³/s)"
            case .waterTemperature: "water temperature (°C)"
            case .precipitation: "precipitation (in)"
            }
        }
    }

    /// The readings of the parameter, in file order.
    public let readings: [Reading]
    /// Rows without a usable value of the parameter (empty, marked, or not a number), with the reason.
    public let skipped: [TraceError]
    /// The site names given in the comments (`#    USGS 03287500 KENTUCKY RIVER …`), by site number.
    public let siteNames: [String: String]

    /// UTC offsets of the zone abbreviations NWIS writes in `tz_cd`.
    public static let zoneOffsets: [String: Int] = [
        "UTC": 0, "GMT": 0, "AST": -4 * 3600, "ADT": -3 * 3600, "EST": -5 * 3600, "EDT": -4 * 3600,
        "CST": -6 * 3600, "CDT": -5 * 3600, "MST": -7 * 3600, "MDT": -6 * 3600, "PST": -8 * 3600, "PDT": -7 * 3600,
        "AKST": -9 * 3600, "AKDT": -8 * 3600, "HST": -10 * 3600,
    ]

    /// Parses `text` (named `file` in errors) for `parameter`.
    public init(text: String, file: String, parameter: Parameter) throws(TraceError) {
        var header: [String]?
        var formatSeen = false
        var readings = [Reading]()
        var skipped = [TraceError]()
        var names = [String: String]()
        var columns: (site: Int, time: Int, zone: Int, value: Int, code: Int?)?
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.last == "\r" { line.removeLast() }
            if line.isEmpty { continue }
            if line.first == "#" {
                // "#    USGS 03287500 KENTUCKY RIVER AT LOCK 4 AT FRANKFORT, KY"
                let words = line.dropFirst().split(separator: " ", maxSplits: 2)
                if header == nil, words.count == 3, words[0] == "USGS", words[1].allSatisfy(\.isNumber) {
                    names[String(words[1])] = String(words[2]).trimmingSpaces
                }
                continue
            }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map { String($0).trimmingSpaces }
            guard let names = header else {
                header = fields
                func index(_ name: String) throws(TraceError) -> Int {
                    guard let i = fields.firstIndex(of: name) else {
                        throw TraceError(file: file, line: lineNumber, column: name, reason: "missing column in the RDB header")
                    }
                    return i
                }
                guard let valueIndex = fields.firstIndex(where: { $0.hasSuffix("_\(parameter.rawValue)") }) else {
                    let present = fields.filter(\.isParameterColumn)
                    throw TraceError(
                        file: file,
                        line: lineNumber,
                        column: parameter.rawValue,
                        reason: "the file has no \(parameter.name) column (parameters present: \(present.joined(separator: ", ")))"
                    )
                }
                let codeIndex = fields.firstIndex(of: fields[valueIndex] + "_cd")
                columns = (try index("site_no"), try index("datetime"), try index("tz_cd"), valueIndex, codeIndex)
                continue
            }
            if !formatSeen {
                formatSeen = true  // "5s 15s 20d …": widths and types, nothing to read
                continue
            }
            guard let c = columns else { continue }
            guard fields.count == names.count else {
                skipped.append(TraceError(file: file, line: lineNumber, reason: "\(fields.count) fields where the header has \(names.count)"))
                continue
            }
            let valueText = fields[c.value]
            guard !valueText.isEmpty else {
                skipped.append(TraceError(file: file, line: lineNumber, column: names[c.value], reason: "no value"))
                continue
            }
            guard let value = Double(valueText), value.isFinite else {
                skipped.append(
                    TraceError(
                        file: file,
                        line: lineNumber,
                        column: names[c.value],
                        reason: "\"\(valueText.prefix(20))\" is not a number (a USGS marker such as Ice or Eqp)"
                    )
                )
                continue
            }
            guard let offset = Self.zoneOffsets[fields[c.zone]] else {
                skipped.append(TraceError(file: file, line: lineNumber, column: "tz_cd", reason: "unknown zone \"\(fields[c.zone].prefix(10))\""))
                continue
            }
            // "2014-01-01 00:15" → RFC 3339 with the zone's offset.
            let time = fields[c.time].replacingFirstSpace(with: "T")
            let withSeconds = time.count == 16 ? time + ":00" : time
            do {
                let observedAt = try Timestamp(iso8601: withSeconds, assumedOffsetSeconds: offset, field: "datetime")
                readings.append(
                    Reading(
                        site: fields[c.site],
                        observedAt: observedAt,
                        value: value,
                        qualifier: c.code.map { fields[$0] } ?? "",
                        line: lineNumber
                    )
                )
            } catch {
                skipped.append(TraceError(file: file, line: lineNumber, column: "datetime", reason: ModelError(field: "", error.reason).description))
            }
        }
        guard header != nil else { throw TraceError(file: file, line: 0, reason: "no RDB header line (agency_cd, site_no, datetime, …)") }
        self.readings = readings
        self.skipped = skipped
        self.siteNames = names
    }
}

extension String {
    func replacingFirstSpace(with replacement: String) -> String {
        guard let space = firstIndex(of: " ") else { return self }
        return String(self[..<space]) + replacement + String(self[index(after: space)...])
    }

    /// `<dd>_<5-digit parameter code>`, e.g. `07_00065`.
    var isParameterColumn: Bool {
        let parts = split(separator: "_")
        return parts.count == 2 && parts[0].allSatisfy(\.isNumber) && parts[1].count == 5 && parts[1].allSatisfy(\.isNumber)
    }
}
