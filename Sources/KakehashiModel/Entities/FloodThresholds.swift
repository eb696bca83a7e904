/// A gauge's stage thresholds, in metres on the gauge's own datum, as FloodMonitoring names them.
///
/// Japanese crisis-management gauges (危機管理型水位計) have three: the observation-start level
/// (観測開始水位), the danger level (危険水位, sometimes absent) and the flood-start level
/// (氾濫開始水位). Smart Data Models' FloodMonitoring calls the last two `alertLevel` and
/// `dangerLevel`.
public struct FloodThresholds: Sendable, Hashable {
    /// Level from which the gauge reports (観測開始水位), metres.
    public let observationStartLevel: Double?
    /// Level at which an alert is raised (危険水位), metres.
    public let alertLevel: Double?
    /// Level at which flooding starts (氾濫開始水位), metres.
    public let dangerLevel: Double?

    /// Validates the levels: each must be finite.
    ///
    /// Out-of-order levels are accepted, because published gauge metadata has them (MLIT gauge
    /// 8500000172 lists its danger level above its flood-start level); ``inconsistencies`` names
    /// them so configuration checks can report them.
    public init(observationStartLevel: Double? = nil, alertLevel: Double? = nil, dangerLevel: Double? = nil) throws(ModelError) {
        if let observationStartLevel { _ = try ModelLimits.checkFinite(observationStartLevel, field: "observationStartLevel") }
        if let alertLevel { _ = try ModelLimits.checkFinite(alertLevel, field: "alertLevel") }
        if let dangerLevel { _ = try ModelLimits.checkFinite(dangerLevel, field: "dangerLevel") }
        self.observationStartLevel = observationStartLevel
        self.alertLevel = alertLevel
        self.dangerLevel = dangerLevel
    }

    /// Levels that are out of the order start ≤ alert ≤ danger, described for a person.
    public var inconsistencies: [String] {
        var found = [String]()
        if let alertLevel, let dangerLevel, alertLevel > dangerLevel {
            found.append("alert level \(alertLevel) m is above the danger level \(dangerLevel) m")
        }
        if let observationStartLevel, let next = alertLevel ?? dangerLevel, observationStartLevel > next {
            found.append("observation-start level \(observationStartLevel) m is above the next level \(next) m")
        }
        return found
    }

    /// The status of `level` against these thresholds.
    public func status(of level: Double) -> FloodLevelStatus {
        if let dangerLevel, level >= dangerLevel { return .danger }
        if let alertLevel, level >= alertLevel { return .alert }
        return .normal
    }

    /// Whether no threshold is set.
    public var isEmpty: Bool { observationStartLevel == nil && alertLevel == nil && dangerLevel == nil }
}

/// FloodMonitoring's `floodLevelStatus`: where the water stands against the gauge's thresholds.
public enum FloodLevelStatus: String, Sendable, Hashable, CaseIterable {
    /// Below the alert level.
    case normal = "Normal"
    /// At or above the alert level, below the danger level.
    case alert = "Alert"
    /// At or above the danger level.
    case danger = "Danger"
}
