import KakehashiModel

/// One sensor as the device registry describes it: what entity its readings become, where it is,
/// its name and thresholds.
public struct DeviceRecord: Sendable, Hashable {
    /// The entity types a sensor's readings can become.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case waterObserved = "WaterObserved"
        case crowdFlowObserved = "CrowdFlowObserved"
        case deviceMeasurement = "DeviceMeasurement"

        /// Attributes a decoder may produce for this kind (any for DeviceMeasurement).
        public var attributes: [String]? {
            switch self {
            case .waterObserved: ["waterLevel", "flow"]
            case .crowdFlowObserved: ["peopleCount", "occupancy", "congested"]
            case .deviceMeasurement: nil
            }
        }
    }

    /// The sensor's id as sources name it.
    public let sensor: String
    public let kind: Kind
    /// The local part of the entity id (defaults to the sensor id).
    public let localID: String
    public let name: String?
    public let location: GeoPoint?
    public let thresholds: FloodThresholds?
    /// CrowdFlowObserved: the counting interval that ends at each reading's time, in milliseconds.
    public let intervalMilliseconds: Int64

    public init(
        sensor: String,
        kind: Kind,
        localID: String? = nil,
        name: String? = nil,
        location: GeoPoint? = nil,
        thresholds: FloodThresholds? = nil,
        intervalMilliseconds: Int64 = 60_000
    ) {
        self.sensor = sensor
        self.kind = kind
        self.localID = localID ?? sensor
        self.name = name
        self.location = location
        self.thresholds = thresholds
        self.intervalMilliseconds = intervalMilliseconds
    }
}
