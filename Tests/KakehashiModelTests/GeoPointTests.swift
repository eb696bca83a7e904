import Testing

@testable import KakehashiModel

struct GeoPointTests {
    @Test func geoJSONOrderIsLongitudeLatitude() throws {
        let point = try GeoPoint(latitude: 35.474224, longitude: 133.75763)
        #expect(point.geoJSONCoordinates == [133.75763, 35.474224])
        let back = try GeoPoint(geoJSONCoordinates: [133.75763, 35.474224])
        #expect(back == point)
        #expect(try GeoPoint(geoJSONCoordinates: [133.7, 35.4, 12.5]).altitude == 12.5)
    }

    static let bad: [(Double, Double, String)] = [
        (91, 140, "latitude: 91.0 is outside -90...90"),
        (-90.0001, 140, "latitude: -90.0001 is outside -90...90"),
        (35, 180.5, "longitude: 180.5 is outside -180...180"),
        (.nan, 140, "latitude: must be a finite number"),
        (35, .infinity, "longitude: must be a finite number"),
    ]

    @Test(arguments: bad)
    func rejectsOutOfRange(latitude: Double, longitude: Double, message: String) {
        expectModelError(messagePrefix: message, containing: message) { _ = try GeoPoint(latitude: latitude, longitude: longitude) }
    }

    @Test func geoJSONErrorsNameTheCoordinate() {
        // [lat, lon] by mistake: 140 is not a latitude.
        #expect(throws: ModelError(field: "coordinates[1]", .outOfRange(value: 140, range: "-90...90"))) {
            try GeoPoint(geoJSONCoordinates: [35.4, 140])
        }
        #expect(throws: ModelError.self) { try GeoPoint(geoJSONCoordinates: [35.4]) }
        #expect(throws: ModelError.self) { try GeoPoint(geoJSONCoordinates: [1, 2, 3, 4]) }
    }
}
