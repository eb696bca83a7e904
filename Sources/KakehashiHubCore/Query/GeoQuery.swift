import Foundation
import KakehashiModel

/// An NGSI-LD geo-query on entities' `location`: `georel` with `geometry` and `coordinates`.
///
/// ```swift
/// let near = try GeoQuery(georel: "near;maxDistance==2000", geometry: "Point", coordinates: "[130.5,33.3]")
/// near.matches(GeoPoint(latitude: 33.31, longitude: 130.51))
/// ```
public struct GeoQuery: Sendable, Hashable {
    /// The relations supported.
    public enum Relation: Sendable, Hashable {
        /// Within `maxDistance` (and beyond `minDistance`) metres of a point.
        case near(center: GeoPoint, minDistance: Double?, maxDistance: Double?)
        /// Inside a polygon (also `intersects`, which for points is the same).
        case within(polygon: [GeoPoint])
        /// Outside a polygon.
        case disjoint(polygon: [GeoPoint])
        /// At a point.
        case equals(GeoPoint)
    }

    /// The relation.
    public let relation: Relation

    /// Parses the three parameters; errors name the parameter at fault.
    public init(georel: String, geometry: String?, coordinates: String?) throws(QueryError) {
        guard let geometry else { throw QueryError("geometry", "a geo-query needs geometry (Point or Polygon)") }
        guard let coordinates else { throw QueryError("coordinates", "a geo-query needs coordinates") }
        let parts = georel.split(separator: ";").map(String.init)
        guard let name = parts.first else { throw QueryError("georel", "is empty") }
        let json: JSONValue
        do { json = try JSONValue(parsing: coordinates) } catch {
            throw QueryError("coordinates", "not a JSON array of numbers: \(error.reason)")
        }
        switch name {
        case "near":
            guard geometry == "Point" else { throw QueryError("geometry", "near needs a Point, not \(geometry)") }
            var minDistance: Double?
            var maxDistance: Double?
            for modifier in parts.dropFirst() {
                let pieces = modifier.components(separatedBy: "==")
                guard pieces.count == 2, let value = Double(pieces[1]), value >= 0, value.isFinite else {
                    throw QueryError("georel", "'\(modifier)' is not maxDistance==<metres> or minDistance==<metres>")
                }
                switch pieces[0] {
                case "maxDistance": maxDistance = value
                case "minDistance": minDistance = value
                default: throw QueryError("georel", "unknown modifier '\(pieces[0])' (maxDistance or minDistance)")
                }
            }
            guard minDistance != nil || maxDistance != nil else { throw QueryError("georel", "near needs maxDistance or minDistance") }
            relation = .near(center: try Self.point(json), minDistance: minDistance, maxDistance: maxDistance)
        case "within", "intersects", "disjoint":
            guard geometry == "Polygon" else { throw QueryError("geometry", "\(name) needs a Polygon, not \(geometry)") }
            let ring = try Self.polygon(json)
            relation = name == "disjoint" ? .disjoint(polygon: ring) : .within(polygon: ring)
        case "equals":
            guard geometry == "Point" else { throw QueryError("geometry", "equals is supported for a Point, not \(geometry)") }
            relation = .equals(try Self.point(json))
        default:
            throw QueryError("georel", "unknown relation '\(name)' (near, within, intersects, disjoint, equals)")
        }
    }

    /// Whether an entity at `point` satisfies the query.
    public func matches(_ point: GeoPoint) -> Bool {
        switch relation {
        case .near(let center, let minDistance, let maxDistance):
            let distance = Self.distance(center, point)
            return (minDistance.map { distance >= $0 } ?? true) && (maxDistance.map { distance <= $0 } ?? true)
        case .within(let polygon): return Self.contains(polygon, point)
        case .disjoint(let polygon): return !Self.contains(polygon, point)
        case .equals(let other): return other.latitude == point.latitude && other.longitude == point.longitude
        }
    }

    static func point(_ json: JSONValue) throws(QueryError) -> GeoPoint {
        guard let numbers = json.arrayValue?.compactMap(\.numberValue), numbers.count >= 2, numbers.count == json.arrayValue?.count else {
            throw QueryError("coordinates", "a Point is [longitude, latitude]")
        }
        do { return try GeoPoint(geoJSONCoordinates: numbers) } catch { throw QueryError("coordinates", error.description) }
    }

    static func polygon(_ json: JSONValue) throws(QueryError) -> [GeoPoint] {
        guard let rings = json.arrayValue, let outer = rings.first?.arrayValue, outer.count >= 4 else {
            throw QueryError("coordinates", "a Polygon is [[[lon,lat], …]] with a closed ring of at least 4 positions")
        }
        var ring = [GeoPoint]()
        for position in outer { ring.append(try point(position)) }
        guard ring.first == ring.last else { throw QueryError("coordinates", "the polygon ring must end where it starts") }
        return ring
    }

    /// Great-circle distance in metres (haversine, mean Earth radius).
    static func distance(_ a: GeoPoint, _ b: GeoPoint) -> Double {
        let radians = Double.pi / 180
        let dLat = (b.latitude - a.latitude) * radians
        let dLon = (b.longitude - a.longitude) * radians
        let h = sin(dLat / 2) * sin(dLat / 2) + cos(a.latitude * radians) * cos(b.latitude * radians) * sin(dLon / 2) * sin(dLon / 2)
        return 2 * 6_371_008.8 * asin(min(1, sqrt(h)))
    }

    /// Even-odd ray casting on longitude/latitude (fine at city scale).
    static func contains(_ ring: [GeoPoint], _ p: GeoPoint) -> Bool {
        var inside = false
        var j = ring.count - 1
        for i in 0..<ring.count {
            let a = ring[i], b = ring[j]
            if (a.latitude > p.latitude) != (b.latitude > p.latitude),
                p.longitude < (b.longitude - a.longitude) * (p.latitude - a.latitude) / (b.latitude - a.latitude) + a.longitude
            {
                inside.toggle()
            }
            j = i
        }
        return inside
    }
}
