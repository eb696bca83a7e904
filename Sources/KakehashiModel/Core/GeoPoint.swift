/// A WGS 84 position, validated: latitude in -90...90, longitude in -180...180, all finite.
///
/// GeoJSON (and so NGSI-LD) writes coordinates as `[longitude, latitude]`; ``geoJSONCoordinates``
/// and ``init(geoJSONCoordinates:field:)`` keep that order in one place.
///
/// ```swift
/// let gauge = try GeoPoint(latitude: 33.3193, longitude: 130.5083)
/// gauge.geoJSONCoordinates // [130.5083, 33.3193]
/// ```
public struct GeoPoint: Sendable, Hashable {
    /// Degrees north, -90...90.
    public let latitude: Double
    /// Degrees east, -180...180.
    public let longitude: Double
    /// Metres above the WGS 84 ellipsoid, when known.
    public let altitude: Double?

    /// Validates the position; errors name `field.latitude`, `field.longitude` or `field.altitude`.
    public init(latitude: Double, longitude: Double, altitude: Double? = nil, field: String = "") throws(ModelError) {
        let prefix = field.isEmpty ? "" : field + "."
        try Self.check(latitude, limit: 90, field: prefix + "latitude")
        try Self.check(longitude, limit: 180, field: prefix + "longitude")
        if let altitude { _ = try ModelLimits.checkFinite(altitude, field: prefix + "altitude") }
        self.latitude = latitude
        self.longitude = longitude
        self.altitude = altitude
    }

    /// Reads GeoJSON Point coordinates `[lon, lat]` or `[lon, lat, alt]`; errors name
    /// `field[0]` (longitude) or `field[1]` (latitude).
    public init(geoJSONCoordinates coordinates: [Double], field: String = "coordinates") throws(ModelError) {
        guard coordinates.count == 2 || coordinates.count == 3 else {
            throw ModelError(
                field: field,
                .invalid("a GeoJSON Point has 2 or 3 coordinates [longitude, latitude(, altitude)], got \(coordinates.count)")
            )
        }
        try Self.check(coordinates[0], limit: 180, field: field + "[0]")
        try Self.check(coordinates[1], limit: 90, field: field + "[1]")
        if coordinates.count == 3 { _ = try ModelLimits.checkFinite(coordinates[2], field: field + "[2]") }
        self.longitude = coordinates[0]
        self.latitude = coordinates[1]
        self.altitude = coordinates.count == 3 ? coordinates[2] : nil
    }

    /// The GeoJSON coordinates, `[longitude, latitude]` (plus altitude when known).
    public var geoJSONCoordinates: [Double] {
        if let altitude { return [longitude, latitude, altitude] }
        return [longitude, latitude]
    }

    private static func check(_ value: Double, limit: Double, field: String) throws(ModelError) {
        _ = try ModelLimits.checkFinite(value, field: field)
        guard (-limit...limit).contains(value) else {
            throw ModelError(field: field, .outOfRange(value: value, range: "\(Int(-limit))...\(Int(limit))"))
        }
    }
}
