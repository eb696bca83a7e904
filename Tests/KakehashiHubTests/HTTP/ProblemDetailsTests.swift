import HTTPTypes
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiHubTestSupport
import KakehashiModel
import Testing

@Suite("NGSI-LD error paths answer ProblemDetails")
struct ProblemDetailsTests {
    struct Case: Sendable, CustomStringConvertible {
        let name: String
        var method: HTTPRequest.Method = .get
        let uri: String
        var tenant: String? = "kurume"
        var headers: [String: String] = [:]
        var body: String? = nil
        var contentType = "application/json"
        let status: Int
        let type: NGSIProblem.Kind
        var description: String { name }
    }

    static let entity = Readings.gauge("a").rawValue
    static let upsertPath = "/ngsi-ld/v1/entityOperations/upsert"
    static let cases: [Case] = [
        Case(name: "query without any filter", uri: "/ngsi-ld/v1/entities", status: 400, type: .badRequestData),
        Case(name: "limit above the maximum", uri: "/ngsi-ld/v1/entities?type=WaterObserved&limit=5000", status: 403, type: .tooManyResults),
        Case(name: "limit not a number", uri: "/ngsi-ld/v1/entities?type=WaterObserved&limit=ten", status: 400, type: .badRequestData),
        Case(name: "negative offset", uri: "/ngsi-ld/v1/entities?type=WaterObserved&offset=-1", status: 400, type: .badRequestData),
        Case(name: "unknown parameter", uri: "/ngsi-ld/v1/entities?type=WaterObserved&colour=red", status: 400, type: .badRequestData),
        Case(name: "parameter given twice", uri: "/ngsi-ld/v1/entities?type=A&type=B", status: 400, type: .badRequestData),
        Case(name: "q with an open parenthesis", uri: "/ngsi-ld/v1/entities?q=(waterLevel%3E1", status: 400, type: .badRequestData),
        Case(name: "q without a value", uri: "/ngsi-ld/v1/entities?q=waterLevel%3E", status: 400, type: .badRequestData),
        Case(
            name: "near without distance",
            uri: "/ngsi-ld/v1/entities?georel=near&geometry=Point&coordinates=%5B130,33%5D",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "within a point",
            uri: "/ngsi-ld/v1/entities?georel=within&geometry=Point&coordinates=%5B130,33%5D",
            status: 400,
            type: .badRequestData
        ),
        Case(name: "georel without geometry", uri: "/ngsi-ld/v1/entities?georel=near;maxDistance==10", status: 400, type: .badRequestData),
        Case(
            name: "coordinates not JSON",
            uri: "/ngsi-ld/v1/entities?georel=near;maxDistance==10&geometry=Point&coordinates=here",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "open polygon",
            uri: "/ngsi-ld/v1/entities?georel=within&geometry=Polygon&coordinates=%5B%5B%5B0,0%5D,%5B1,0%5D,%5B1,1%5D,%5B0,1%5D%5D%5D",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "unknown georel",
            uri: "/ngsi-ld/v1/entities?georel=overlaps&geometry=Polygon&coordinates=%5B%5D",
            status: 400,
            type: .badRequestData
        ),
        Case(name: "id not a URN", uri: "/ngsi-ld/v1/entities?id=gauge-1", status: 400, type: .badRequestData),
        Case(name: "entity not found", uri: "/ngsi-ld/v1/entities/urn:ngsi-ld:WaterObserved:kurume:nope", status: 404, type: .resourceNotFound),
        Case(name: "entity path not a URN", uri: "/ngsi-ld/v1/entities/nope", status: 400, type: .badRequestData),
        Case(name: "unknown tenant", uri: "/ngsi-ld/v1/entities?type=WaterObserved", tenant: "nowhere", status: 404, type: .nonexistentTenant),
        Case(name: "malformed tenant", uri: "/ngsi-ld/v1/entities?type=WaterObserved", tenant: "Not_A_Tenant", status: 404, type: .nonexistentTenant),
        Case(name: "no tenant and no default", uri: "/ngsi-ld/v1/entities?type=WaterObserved", tenant: nil, status: 400, type: .badRequestData),
        Case(
            name: "unacceptable Accept",
            uri: "/ngsi-ld/v1/entities?type=WaterObserved",
            headers: ["Accept": "text/html"],
            status: 406,
            type: .notAcceptable
        ),
        Case(name: "upsert as text", method: .post, uri: upsertPath, body: "[]", contentType: "text/plain", status: 415, type: .unsupportedMediaType),
        Case(name: "upsert not JSON", method: .post, uri: upsertPath, body: "[{", status: 400, type: .invalidRequest),
        Case(name: "upsert not an array", method: .post, uri: upsertPath, body: "{}", status: 400, type: .badRequestData),
        Case(name: "upsert empty array", method: .post, uri: upsertPath, body: "[]", status: 400, type: .badRequestData),
        Case(
            name: "upsert too large",
            method: .post,
            uri: upsertPath,
            body: "[" + String(repeating: " ", count: 70_000) + "]",
            status: 413,
            type: .requestEntityTooLarge
        ),
        Case(
            name: "temporal between without end",
            uri: "/ngsi-ld/v1/temporal/entities?type=WaterObserved&timerel=between&timeAt=2026-06-01T00:00:00Z",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "temporal unknown timerel",
            uri: "/ngsi-ld/v1/temporal/entities?type=WaterObserved&timerel=around&timeAt=2026-06-01T00:00:00Z",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "temporal timeAt not a date",
            uri: "/ngsi-ld/v1/temporal/entities?type=WaterObserved&timerel=after&timeAt=yesterday",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "temporal timeAt without timerel",
            uri: "/ngsi-ld/v1/temporal/entities?type=WaterObserved&timeAt=2026-06-01T00:00:00Z",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "temporal end before start",
            uri: "/ngsi-ld/v1/temporal/entities?type=WaterObserved&timerel=between&timeAt=2026-06-02T00:00:00Z&endTimeAt=2026-06-01T00:00:00Z",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "aggregation without methods",
            uri: "/ngsi-ld/v1/temporal/entities?type=WaterObserved&options=aggregatedValues",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "unsupported aggregation",
            uri: "/ngsi-ld/v1/temporal/entities?type=WaterObserved&options=aggregatedValues&aggrMethods=median",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "calendar period",
            uri: "/ngsi-ld/v1/temporal/entities?type=WaterObserved&options=aggregatedValues&aggrMethods=avg&aggrPeriodDuration=P1M",
            status: 400,
            type: .badRequestData
        ),
        Case(name: "lastN zero", uri: "/ngsi-ld/v1/temporal/entities?type=WaterObserved&lastN=0", status: 400, type: .badRequestData),
        Case(name: "temporal without filter", uri: "/ngsi-ld/v1/temporal/entities", status: 400, type: .badRequestData),
        Case(
            name: "temporal entity not found",
            uri: "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:WaterObserved:kurume:nope",
            status: 404,
            type: .resourceNotFound
        ),
        Case(
            name: "temporal other time property",
            uri: "/ngsi-ld/v1/temporal/entities?type=WaterObserved&timeproperty=modifiedAt",
            status: 400,
            type: .badRequestData
        ),
        Case(name: "unknown NGSI-LD route", uri: "/ngsi-ld/v1/nothing-here", status: 404, type: .resourceNotFound),
        Case(name: "unknown route under entities", uri: "/ngsi-ld/v1/entities/\(entity)/nothing/here", status: 404, type: .resourceNotFound),
        Case(name: "a method the path does not take", method: .put, uri: upsertPath, body: "[]", status: 405, type: .invalidRequest),
        Case(
            name: "q with a doubled operator",
            uri: "/ngsi-ld/v1/entities?type=WaterObserved&q=waterLevel%3E%3E",
            status: 400,
            type: .badRequestData
        ),
        Case(name: "unknown options value", uri: "/ngsi-ld/v1/entities?type=WaterObserved&options=bogus", status: 400, type: .badRequestData),
        Case(
            name: "zero aggregation period",
            uri: "/ngsi-ld/v1/temporal/entities/\(entity)?options=aggregatedValues&aggrMethods=avg&aggrPeriodDuration=PT0S",
            status: 400,
            type: .badRequestData
        ),
    ]

    @Test(arguments: cases)
    func answersProblemDetails(_ c: Case) async throws {
        try await HubHarness.withHub { _, client in
            var headers = HTTPFields()
            for (name, value) in c.headers { headers[HTTPField.Name(name)!] = value }
            let tenant = c.tenant.flatMap { try? Tenant($0) }
            if let raw = c.tenant, tenant == nil { headers[HubHarness.tenantHeader] = raw }
            let reply = try await client.call(c.method, c.uri, tenant: tenant, headers: headers, body: c.body, contentType: c.contentType)
            #expect(Int(reply.status.code) == c.status, "\(c.name): \(reply.text)")
            #expect(reply.problemType == c.type.rawValue, "\(c.name): \(reply.text)")
            #expect(reply.json["status"]?.numberValue == Double(c.status))
            #expect(reply.json["detail"]?.stringValue?.isEmpty == false)
            #expect(reply.headers[.contentType] == "application/json")
        }
    }

    /// A 405 names the methods the path takes; a collection path with a trailing slash, as
    /// common clients send it, is the same collection.
    @Test func methodNotAllowedSaysWhatIsAndTrailingSlashesWork() async throws {
        try await HubHarness.withHub { _, client in
            let refused = try await client.call(.delete, "/ngsi-ld/v1/temporal/entities")
            #expect(refused.status.code == 405)
            #expect(refused.headers[.allow] == "GET")
            let upsert = try await client.call(.get, Self.upsertPath)
            #expect(upsert.headers[.allow] == "POST")
            let slash = try await client.call(.get, "/ngsi-ld/v1/entities/?type=WaterObserved")
            #expect(slash.status == .ok, "\(slash.text)")
        }
    }

    @Test func upsertWithOneBadEntityStoresTheRestAnd207() async throws {
        try await HubHarness.withHub { _, client in
            let good = Readings.level("good", 1, minutes: 0).json(.normalized).jsonText
            let bad =
                #"{"id":"urn:ngsi-ld:WaterObserved:kurume:bad","type":"WaterObserved","waterLevel":{"type":"Property","value":1,"#
                + #""unitCode":"FURLONG"}}"#
            let reply = try await client.call(.post, Self.upsertPath, body: "[\(good),\(bad)]")
            #expect(reply.status.code == 207)
            #expect(reply.json["success"]?.arrayValue == [.string(Readings.gauge("good").rawValue)])
            let error = reply.json["errors"]?.arrayValue?.first
            #expect(error?["entityId"]?.stringValue == "urn:ngsi-ld:WaterObserved:kurume:bad")
            #expect(error?["error"]?["detail"]?.stringValue?.contains("unitCode") == true)
            #expect(try await client.call(.get, "/ngsi-ld/v1/entities/\(Readings.gauge("good").rawValue)").status == .ok)
        }
    }
}
