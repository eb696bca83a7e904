import KakehashiModel

/// Figures about a normalized river trace, for people: how much came in, what was rejected, and
/// how many gauges reached their alert and danger levels.
public struct RiverTraceSummary: Sendable, Equatable {
    /// Distinct readings normalized into entities.
    public let entities: Int
    /// Distinct gauges among them.
    public let gauges: Int
    /// Readings rejected.
    public let rejected: Int
    /// Readings skipped as duplicates.
    public let duplicates: Int
    /// The earliest observation time.
    public let firstObserved: Timestamp?
    /// The latest observation time.
    public let lastObserved: Timestamp?
    /// Gauges with at least one reading at or above their alert level (危険水位).
    public let gaugesAtAlert: Int
    /// Gauges with at least one reading at or above their danger level (氾濫開始水位).
    public let gaugesAtDanger: Int
    /// Readings whose level is below the gauge datum (negative).
    public let belowDatum: Int
    /// Gauges whose published thresholds are out of order, with why.
    public let inconsistentGauges: [String]
    /// The gauges that rose highest above their danger level: (code, name, peak − danger in metres).
    public let worst: [(code: String, name: String, margin: Double)]

    /// Computes the figures.
    public init(_ result: RiverTraceNormalizer.Result, stations: RiverGaugeStations, top: Int = 5) {
        var gauges = Set<String>()
        var alert = Set<String>()
        var danger = Set<String>()
        var peaks = [String: Double]()
        var below = 0
        var first: Timestamp?
        var last: Timestamp?
        for entity in result.entities {
            let code = entity.id.localID
            gauges.insert(code)
            if first == nil || entity.dateObserved < first! { first = entity.dateObserved }
            if last == nil || entity.dateObserved > last! { last = entity.dateObserved }
            guard let level = entity.waterLevel?.value else { continue }
            if level < 0 { below += 1 }
            peaks[code] = max(peaks[code] ?? -.infinity, level)
            switch entity.floodLevelStatus {
            case .danger?:
                danger.insert(code)
                alert.insert(code)
            case .alert?: alert.insert(code)
            default: break
            }
        }
        var inconsistent = [String]()
        for code in gauges.sorted() {
            if let problems = stations.byCode[code]?.thresholds.inconsistencies, !problems.isEmpty {
                inconsistent.append("\(code): " + problems.joined(separator: "; "))
            }
        }
        var margins = [(code: String, name: String, margin: Double)]()
        for (code, peak) in peaks {
            guard let station = stations.byCode[code], let dangerLevel = station.thresholds.dangerLevel else { continue }
            margins.append((code, station.name, ((peak - dangerLevel) * 100).rounded() / 100))
        }
        margins.sort { $0.margin != $1.margin ? $0.margin > $1.margin : $0.code < $1.code }
        self.entities = result.entities.count
        self.gauges = gauges.count
        self.rejected = result.rejected.count
        self.duplicates = result.duplicates
        self.firstObserved = first
        self.lastObserved = last
        self.gaugesAtAlert = alert.count
        self.gaugesAtDanger = danger.count
        self.belowDatum = below
        self.inconsistentGauges = inconsistent
        self.worst = Array(margins.prefix(top))
    }

    public static func == (lhs: RiverTraceSummary, rhs: RiverTraceSummary) -> Bool {
        lhs.entities == rhs.entities && lhs.gauges == rhs.gauges && lhs.rejected == rhs.rejected
            && lhs.duplicates == rhs.duplicates && lhs.firstObserved == rhs.firstObserved && lhs.lastObserved == rhs.lastObserved
            && lhs.gaugesAtAlert == rhs.gaugesAtAlert && lhs.gaugesAtDanger == rhs.gaugesAtDanger && lhs.belowDatum == rhs.belowDatum
            && lhs.inconsistentGauges == rhs.inconsistentGauges
            && lhs.worst.map(\.code) == rhs.worst.map(\.code) && lhs.worst.map(\.margin) == rhs.worst.map(\.margin)
    }
}
