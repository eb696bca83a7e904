import KakehashiModel

/// An owner tenant's permission for a grantee tenant to read its entities of one type,
/// optionally only inside an area and at reduced precision. Shared entities appear in the
/// grantee's entity queries, temporal queries by id, map feed and alert feed, marked with
/// `sharedBy` (the owner).
public struct ShareGrant: Sendable, Hashable {
    /// The attribute naming the owner on an entity shown to a grantee (and on a federation
    /// mirror's entities).
    public static let sharedByAttribute = "sharedBy"

    /// How much of the owner's data the grantee sees.
    public enum Precision: String, Sendable, Hashable, CaseIterable {
        /// Latest values, history and alerts, as the owner sees them.
        case full
        /// Hourly aggregates only: entity queries omit observed values, temporal queries must
        /// aggregate by whole hours, no alerts.
        case hourly
    }

    public let id: Int64
    public let owner: Tenant
    public let grantee: Tenant
    public let type: String
    /// A closed ring of positions (the Polygon's outer ring), or nil for everywhere.
    public let area: [GeoPoint]?
    public let precision: Precision
    public let created: Timestamp
    public let revoked: Timestamp?

    public init(
        id: Int64,
        owner: Tenant,
        grantee: Tenant,
        type: String,
        area: [GeoPoint]?,
        precision: Precision,
        created: Timestamp,
        revoked: Timestamp? = nil
    ) {
        self.id = id
        self.owner = owner
        self.grantee = grantee
        self.type = type
        self.area = area
        self.precision = precision
        self.created = created
        self.revoked = revoked
    }

    /// Whether an entity of `type` at `location` falls under the grant (with an area, an entity
    /// without a location does not).
    public func covers(type: String, location: GeoPoint?) -> Bool {
        guard type == self.type else { return false }
        guard let area else { return true }
        guard let location else { return false }
        return GeoQuery.contains(area, location)
    }

    /// Parses an area: GeoJSON Polygon coordinates (`[[[lon,lat], …]]`) or a Polygon geometry.
    public static func area(parsing text: String) throws(QueryError) -> [GeoPoint] {
        let json: JSONValue
        do { json = try JSONValue(parsing: Array(text.utf8)) } catch {
            throw QueryError("area", "not JSON: \(error.reason)")
        }
        if let coordinates = json["coordinates"] {
            guard json["type"]?.stringValue == "Polygon" else { throw QueryError("area", "the area must be a Polygon") }
            return try GeoQuery.polygon(coordinates)
        }
        return try GeoQuery.polygon(json)
    }

    /// The area as GeoJSON Polygon coordinates.
    public var areaText: String? {
        area.map { ring in JSONValue.array([.array(ring.map { .array([.number($0.longitude), .number($0.latitude)]) })]).jsonText }
    }
}
