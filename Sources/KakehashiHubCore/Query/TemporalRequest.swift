import KakehashiModel

/// The temporal parameters of an NGSI-LD temporal query, validated.
///
/// ```swift
/// let request = try TemporalRequest(parameters: ["timerel": "between", "timeAt": "2026-06-01T00:00:00Z",
///     "endTimeAt": "2026-07-01T00:00:00Z", "options": "aggregatedValues", "aggrMethods": "avg,max",
///     "aggrPeriodDuration": "PT1H"])
/// ```
public struct TemporalRequest: Sendable, Hashable {
    /// How instances are represented.
    public enum Representation: Sendable, Hashable {
        /// Each instance an object with value, observedAt and unitCode.
        case normalized
        /// `values: [[value, observedAt], …]` (`options=temporalValues`).
        case temporalValues
        /// Aggregates per period (`options=aggregatedValues`).
        case aggregated(methods: [AggregationMethod], period: Int64)
    }

    /// The aggregation methods supported.
    public enum AggregationMethod: String, Sendable, Hashable, CaseIterable {
        case totalCount, sum, avg, min, max
    }

    /// The time range selected by timerel/timeAt/endTimeAt (all time without timerel).
    public let range: TimeRange
    /// Where aggregation periods start: `timeAt` for between/after, the epoch otherwise.
    public let origin: Timestamp
    /// Only the newest N instances (or periods) per attribute.
    public let lastN: Int?
    /// Attributes asked for, or all.
    public let attributes: Set<String>?
    /// The representation.
    public let representation: Representation

    /// Validates the parameters; errors name the parameter.
    public init(parameters: [String: String]) throws(QueryError) {
        let timeAt = try parameters["timeAt"].map { (text) throws(QueryError) in try Self.timestamp(text, "timeAt") }
        let endTimeAt = try parameters["endTimeAt"].map { (text) throws(QueryError) in try Self.timestamp(text, "endTimeAt") }
        if let property = parameters["timeproperty"], property != "observedAt" {
            throw QueryError("timeproperty", "only observedAt is kept for time series, not \(property)")
        }
        switch parameters["timerel"] {
        case nil:
            guard timeAt == nil, endTimeAt == nil else { throw QueryError("timerel", "timeAt needs timerel (before, after or between)") }
            range = .all
            origin = Timestamp(millisecondsSinceEpoch: 0)
        case "before"?:
            guard let timeAt else { throw QueryError("timeAt", "timerel=before needs timeAt") }
            range = TimeRange(from: nil, to: timeAt)
            origin = Timestamp(millisecondsSinceEpoch: 0)
        case "after"?:
            guard let timeAt else { throw QueryError("timeAt", "timerel=after needs timeAt") }
            range = TimeRange(from: timeAt, to: nil)
            origin = timeAt
        case "between"?:
            guard let timeAt else { throw QueryError("timeAt", "timerel=between needs timeAt") }
            guard let endTimeAt else { throw QueryError("endTimeAt", "timerel=between needs endTimeAt") }
            guard timeAt < endTimeAt else { throw QueryError("endTimeAt", "must be later than timeAt") }
            range = TimeRange(from: timeAt, to: endTimeAt)
            origin = timeAt
        case let other?:
            throw QueryError("timerel", "'\(other)' is not before, after or between")
        }
        if let text = parameters["lastN"] {
            guard let n = Int(text), n >= 1 else { throw QueryError("lastN", "'\(text)' is not a positive integer") }
            lastN = n
        } else {
            lastN = nil
        }
        attributes = parameters["attrs"].map { Set($0.split(separator: ",").map(String.init)) }
        let options = Set((parameters["options"] ?? "").split(separator: ",").map(String.init))
        if options.contains("aggregatedValues") {
            guard let text = parameters["aggrMethods"] else { throw QueryError("aggrMethods", "aggregatedValues needs aggrMethods") }
            var methods = [AggregationMethod]()
            for name in text.split(separator: ",") {
                guard let method = AggregationMethod(rawValue: String(name)) else {
                    throw QueryError(
                        "aggrMethods",
                        "'\(name)' is not supported (\(AggregationMethod.allCases.map(\.rawValue).joined(separator: ", ")))"
                    )
                }
                if !methods.contains(method) { methods.append(method) }
            }
            guard !methods.isEmpty else { throw QueryError("aggrMethods", "is empty") }
            let period = try parameters["aggrPeriodDuration"].map { (text) throws(QueryError) in try ISODuration.milliseconds(text) } ?? 0
            if parameters["aggrPeriodDuration"] != nil && period <= 0 {
                throw QueryError("aggrPeriodDuration", "must be longer than zero (PT0S would make one period of every instant)")
            }
            representation = .aggregated(methods: methods, period: period)
        } else if options.contains("temporalValues") {
            representation = .temporalValues
        } else {
            representation = .normalized
        }
    }

    static func timestamp(_ text: String, _ parameter: String) throws(QueryError) -> Timestamp {
        do { return try Timestamp(iso8601: text) } catch {
            throw QueryError(parameter, "'\(text)' is not an ISO 8601 date-time with a zone (e.g. 2026-06-02T00:00:00Z)")
        }
    }
}

/// ISO 8601 durations of fixed length: `PnW`, `PnDTnHnMnS` (no years or months, whose length
/// depends on the calendar).
public enum ISODuration {
    /// The duration in milliseconds; `P0D` is 0.
    public static func milliseconds(_ text: String) throws(QueryError) -> Int64 {
        let fail = QueryError(
            "aggrPeriodDuration",
            "'\(text)' is not an ISO 8601 duration such as PT1M, PT1H or P1D (years and months are not supported)"
        )
        var chars = Substring(text)
        guard chars.first == "P", chars.count >= 2 else { throw fail }
        chars = chars.dropFirst()
        var total: Double = 0
        var inTime = false
        var number = ""
        for c in chars {
            if c == "T" { guard !inTime, number.isEmpty else { throw fail }; inTime = true; continue }
            if c.isNumber || c == "." || c == "," { number.append(c == "," ? "." : c); continue }
            guard let value = Double(number) else { throw fail }
            number = ""
            switch (c, inTime) {
            case ("W", false): total += value * 604_800_000
            case ("D", false): total += value * 86_400_000
            case ("H", true): total += value * 3_600_000
            case ("M", true): total += value * 60_000
            case ("S", true): total += value * 1000
            default: throw fail
            }
        }
        guard number.isEmpty, total.isFinite, total >= 0, total < 1e15 else { throw fail }
        return Int64(total.rounded())
    }
}
