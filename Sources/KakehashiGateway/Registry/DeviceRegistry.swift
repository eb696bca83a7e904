import KakehashiModel

/// The gateway's sensors by id, loaded from a YAML or CSV file (see `deploy/gateway/devices.yaml`).
public struct DeviceRegistry: Sendable, Hashable {
    public private(set) var records: [String: DeviceRecord]

    public init(_ records: [DeviceRecord] = []) {
        self.records = Dictionary(records.map { ($0.sensor, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public subscript(sensor: String) -> DeviceRecord? { records[sensor] }

    public var count: Int { records.count }
}
