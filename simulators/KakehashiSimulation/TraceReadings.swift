import KakehashiModel
import KakehashiTraces

/// The readings each recorded trace gives a simulator, and the device registry rows a gateway
/// needs to turn them into entities.
public enum TraceReadings {
    /// An MLIT river-gauge trace: one level reading per row, gauges limited to `prefectures` when
    /// given (names as in the stations file, e.g. 三重県). Readings of gauges missing from the
    /// stations file are skipped and counted.
    public static func river(
        _ trace: RiverGaugeTrace,
        stations: RiverGaugeStations,
        prefectures: Set<String> = []
    ) -> (readings: [SimReading], unknownStations: Int, otherPrefectures: Int) {
        var readings = [SimReading]()
        readings.reserveCapacity(trace.readings.count)
        var unknown = 0, elsewhere = 0
        for reading in trace.readings {
            guard let station = stations.byCode[reading.stationCode] else { unknown += 1; continue }
            if !prefectures.isEmpty && !prefectures.contains(station.prefecture) { elsewhere += 1; continue }
            readings.append(SimReading(sensor: reading.stationCode, time: reading.observedAt, value: .level(metres: reading.level)))
        }
        return (readings, unknown, elsewhere)
    }

    /// A USGS instantaneous-values file: the gage height, converted from feet to metres (exactly
    /// 0.3048 m per foot, rounded to the millimetre the gauge resolves).
    public static func usgs(_ file: USGSInstantaneousValues) -> [SimReading] {
        file.readings.map { reading in
            let metres = (reading.value * 0.3048 * 1000).rounded() / 1000
            return SimReading(sensor: reading.site, time: reading.observedAt, value: .level(metres: metres))
        }
    }

    /// Melbourne pedestrian counts: each column's sensor found in the locations file by its
    /// description; columns of sensors it does not list are skipped and named.
    public static func pedestrians(
        _ counts: PedestrianCounts,
        locations: PedestrianSensorLocations
    ) -> (readings: [SimReading], sensors: [PedestrianSensorLocations.Sensor], unmatchedColumns: [String]) {
        var byColumn = [String: PedestrianSensorLocations.Sensor]()
        var unmatched = [String]()
        var matched = [PedestrianSensorLocations.Sensor]()
        for column in counts.sensors {
            if let sensor = locations.sensor(described: column) {
                byColumn[column] = sensor
                matched.append(sensor)
            } else {
                unmatched.append(column)
            }
        }
        let readings = counts.readings.compactMap { reading in
            byColumn[reading.sensor].map { SimReading(sensor: $0.id, time: reading.observedAt, value: .count(reading.count)) }
        }
        return (readings, matched, unmatched)
    }
}

/// Rows of a gateway device registry in its CSV form (see deploy/gateway/devices.csv):
/// `id,type,entity_id,name,latitude,longitude,observation_start_level,alert_level,danger_level,interval`.
public struct DeviceRegistryCSV: Sendable {
    public static let header = "id,type,entity_id,name,latitude,longitude,observation_start_level,alert_level,danger_level,interval"

    public private(set) var rows: [String] = []

    public init() {}

    public mutating func add(
        id: String,
        type: String,
        entityID: String? = nil,
        name: String?,
        location: GeoPoint?,
        thresholds: FloodThresholds? = nil,
        intervalSeconds: Int? = nil
    ) {
        func number(_ value: Double?) -> String { value.map { $0.description } ?? "" }
        let fields = [
            id, type, entityID ?? "", name ?? "",
            location.map { $0.latitude.description } ?? "", location.map { $0.longitude.description } ?? "",
            number(thresholds?.observationStartLevel), number(thresholds?.alertLevel), number(thresholds?.dangerLevel),
            intervalSeconds.map(String.init) ?? "",
        ]
        rows.append(fields.map(Self.quoted).joined(separator: ","))
    }

    public var text: String { ([Self.header] + rows).joined(separator: "\n") + "\n" }

    static func quoted(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return field }
        return "\"" + field.replacing("\"", with: "\"\"") + "\""
    }
}

/// Moves a set of sensor positions as one piece, so a recorded network can be replayed in another
/// city (the Melbourne counters around a Japanese station, say) with its layout kept.
public enum Relocation {
    /// `points` shifted so that their centre (mean latitude and longitude) lands on `center`;
    /// distances in degrees between them are unchanged.
    public static func move(_ points: [GeoPoint], centerTo center: GeoPoint) throws(ModelError) -> [GeoPoint] {
        guard !points.isEmpty else { return [] }
        let latitude = points.map(\.latitude).reduce(0, +) / Double(points.count)
        let longitude = points.map(\.longitude).reduce(0, +) / Double(points.count)
        var moved = [GeoPoint]()
        moved.reserveCapacity(points.count)
        for point in points {
            moved.append(
                try GeoPoint(
                    latitude: point.latitude - latitude + center.latitude,
                    longitude: point.longitude - longitude + center.longitude
                )
            )
        }
        return moved
    }
}
