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
        /// Whether entity `a` (a WaterObserved with waterLevel) exists first.
        var seeded = false
        var description: String { name }
    }

    static let entitiesPath = "/ngsi-ld/v1/entities"
    static let seededPath = "/ngsi-ld/v1/entities/\(entity)"
    static func body(_ members: String) -> String { "{\"id\":\"urn:ngsi-ld:WaterObserved:x\",\"type\":\"WaterObserved\"\(members)}" }
    static let level = #""waterLevel":{"type":"Property","value":1.5,"unitCode":"MTR"}"#

    /// Bad writes: entities, attributes and batches.
    static let linkRelation = "rel=\"http://www.w3.org/ns/json-ld#context\""

    /// Bad `@context`s: in a body, in a Link header, and one that cannot be had.
    static let contextCases: [Case] = [
        Case(
            name: "context a number",
            method: .post,
            uri: entitiesPath,
            body: #"{"@context":5,"id":"urn:ngsi-ld:X:1","type":"X"}"#,
            contentType: "application/ld+json",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "context term a number",
            method: .post,
            uri: entitiesPath,
            body: #"{"@context":{"level":5},"id":"urn:ngsi-ld:X:1","type":"X"}"#,
            contentType: "application/ld+json",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "context @vocab a number",
            method: .post,
            uri: "/ngsi-ld/v1/entityOperations/query",
            body: #"{"type":"Query","entities":[{"type":"X"}],"@context":{"@vocab":1}}"#,
            contentType: "application/ld+json",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "context not a URL",
            uri: "/ngsi-ld/v1/entities?type=X",
            headers: ["Link": "<ftp://example.org/c.jsonld>; \(linkRelation)"],
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "context Link without angle brackets",
            uri: "/ngsi-ld/v1/entities?type=X",
            headers: ["Link": "http://example.org/c.jsonld; \(linkRelation)"],
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "context Link with a JSON-LD body",
            method: .post,
            uri: entitiesPath,
            headers: ["Link": "<http://example.org/c.jsonld>; \(linkRelation)"],
            body: #"{"id":"urn:ngsi-ld:X:1","type":"X"}"#,
            contentType: "application/ld+json",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "context hosted here but unknown",
            uri: "/ngsi-ld/v1/entities?type=X",
            headers: ["Link": "<http://localhost/ngsi-ld/v1/jsonldContexts/nothing-here>; \(linkRelation)"],
            status: 503,
            type: .ldContextNotAvailable
        ),
        Case(
            name: "host a context without @context",
            method: .post,
            uri: "/ngsi-ld/v1/jsonldContexts",
            body: #"{"a":"b"}"#,
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "host a context with a bad term",
            method: .post,
            uri: "/ngsi-ld/v1/jsonldContexts",
            body: #"{"@context":{"a":true}}"#,
            status: 400,
            type: .badRequestData
        ),
        Case(name: "unknown context", uri: "/ngsi-ld/v1/jsonldContexts/none", status: 404, type: .resourceNotFound),
        Case(name: "delete an unknown context", method: .delete, uri: "/ngsi-ld/v1/jsonldContexts/none", status: 404, type: .resourceNotFound),
        Case(name: "list contexts of an unknown kind", uri: "/ngsi-ld/v1/jsonldContexts?kind=Remote", status: 400, type: .badRequestData),
        Case(
            name: "reload a hosted context",
            method: .delete,
            uri: "/ngsi-ld/v1/jsonldContexts/none?reload=true",
            status: 404,
            type: .resourceNotFound
        ),
    ]

    static let writeCases: [Case] = [
        Case(
            name: "keyValues and concise together",
            uri: "/ngsi-ld/v1/entities?type=W&options=keyValues,concise",
            status: 400,
            type: .badRequestData
        ),
        Case(name: "create not JSON", method: .post, uri: entitiesPath, body: "{", status: 400, type: .invalidRequest),
        Case(name: "create an array", method: .post, uri: entitiesPath, body: "[]", status: 400, type: .badRequestData),
        Case(name: "create without id", method: .post, uri: entitiesPath, body: #"{"type":"WaterObserved"}"#, status: 400, type: .badRequestData),
        Case(name: "create without type", method: .post, uri: entitiesPath, body: #"{"id":"urn:ngsi-ld:X:1"}"#, status: 400, type: .badRequestData),
        Case(
            name: "create id not a URI",
            method: .post,
            uri: entitiesPath,
            body: #"{"id":"gauge 1","type":"W"}"#,
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "create id without scheme",
            method: .post,
            uri: entitiesPath,
            body: #"{"id":":x","type":"W"}"#,
            status: 400,
            type: .badRequestData
        ),
        Case(name: "create id a number", method: .post, uri: entitiesPath, body: #"{"id":17,"type":"W"}"#, status: 400, type: .badRequestData),
        Case(
            name: "create type with a space",
            method: .post,
            uri: entitiesPath,
            body: #"{"id":"urn:x:1","type":"Water Observed"}"#,
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "create reserved attribute",
            method: .post,
            uri: entitiesPath,
            body: body(#","createdAt":{"type":"Property","value":1}"#),
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "create attribute null",
            method: .post,
            uri: entitiesPath,
            body: body(#","waterLevel":null"#),
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "create property without value",
            method: .post,
            uri: entitiesPath,
            body: body(#","waterLevel":{"type":"Property"}"#),
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "create relationship without object",
            method: .post,
            uri: entitiesPath,
            body: body(#","refDevice":{"type":"Relationship"}"#),
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "create unknown attribute kind",
            method: .post,
            uri: entitiesPath,
            body: body(#","waterLevel":{"type":"Thing","value":1}"#),
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "create unknown unit",
            method: .post,
            uri: entitiesPath,
            body: body(#","waterLevel":{"type":"Property","value":1,"unitCode":"FURLONG"}"#),
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "create bad observedAt",
            method: .post,
            uri: entitiesPath,
            body: body(#","waterLevel":{"type":"Property","value":1,"observedAt":"yesterday"}"#),
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "create location off the globe",
            method: .post,
            uri: entitiesPath,
            body: body(#","location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[200,95]}}"#),
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "create @context in plain JSON",
            method: .post,
            uri: entitiesPath,
            body: body(#","@context":"https://example.org/ctx.jsonld""#),
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "create @context a number",
            method: .post,
            uri: entitiesPath,
            body: body(#","@context":7"#),
            contentType: "application/ld+json",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "create as text",
            method: .post,
            uri: entitiesPath,
            body: body(""),
            contentType: "text/plain",
            status: 415,
            type: .unsupportedMediaType
        ),
        Case(
            name: "create with a parameter",
            method: .post,
            uri: entitiesPath + "?options=keyValues",
            body: body(""),
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "create an existing entity",
            method: .post,
            uri: entitiesPath,
            body: "{\"id\":\"\(entity)\",\"type\":\"WaterObserved\"}",
            status: 409,
            type: .alreadyExists,
            seeded: true
        ),
        Case(
            name: "create too large",
            method: .post,
            uri: entitiesPath,
            body: body(",\"name\":{\"type\":\"Property\",\"value\":\"\(String(repeating: "x", count: 70_000))\"}"),
            status: 413,
            type: .requestEntityTooLarge
        ),
        Case(
            name: "delete a missing entity",
            method: .delete,
            uri: entitiesPath + "/urn:ngsi-ld:WaterObserved:nope",
            status: 404,
            type: .resourceNotFound
        ),
        Case(name: "delete an id that is no URI", method: .delete, uri: entitiesPath + "/nope", status: 400, type: .badRequestData),
        Case(
            name: "merge a missing entity",
            method: .patch,
            uri: entitiesPath + "/urn:ngsi-ld:WaterObserved:nope",
            body: "{\(level)}",
            status: 404,
            type: .resourceNotFound
        ),
        Case(
            name: "merge with another type",
            method: .patch,
            uri: seededPath,
            body: #"{"type":"Device"}"#,
            status: 400,
            type: .badRequestData,
            seeded: true
        ),
        Case(
            name: "merge with another id",
            method: .patch,
            uri: seededPath,
            body: #"{"id":"urn:ngsi-ld:WaterObserved:b"}"#,
            status: 400,
            type: .badRequestData,
            seeded: true
        ),
        Case(name: "merge an array", method: .patch, uri: seededPath, body: "[]", status: 400, type: .badRequestData, seeded: true),
        Case(
            name: "replace a missing entity",
            method: .put,
            uri: entitiesPath + "/urn:ngsi-ld:WaterObserved:nope",
            body: "{\(level)}",
            status: 404,
            type: .resourceNotFound
        ),
        Case(
            name: "replace with a bad attribute",
            method: .put,
            uri: seededPath,
            body: #"{"waterLevel":{"type":"Property"}}"#,
            status: 400,
            type: .badRequestData,
            seeded: true
        ),
        Case(
            name: "append to a missing entity",
            method: .post,
            uri: entitiesPath + "/urn:ngsi-ld:WaterObserved:nope/attrs",
            body: "{\(level)}",
            status: 404,
            type: .resourceNotFound
        ),
        Case(
            name: "append with a bad option",
            method: .post,
            uri: seededPath + "/attrs?options=keyValues",
            body: "{\(level)}",
            status: 400,
            type: .badRequestData,
            seeded: true
        ),
        Case(
            name: "update attributes with a parameter",
            method: .patch,
            uri: seededPath + "/attrs?options=noOverwrite",
            body: "{\(level)}",
            status: 400,
            type: .badRequestData,
            seeded: true
        ),
        Case(
            name: "patch a missing attribute",
            method: .patch,
            uri: seededPath + "/attrs/colour",
            body: #"{"value":1}"#,
            status: 404,
            type: .resourceNotFound,
            seeded: true
        ),
        Case(
            name: "patch an attribute of a missing entity",
            method: .patch,
            uri: entitiesPath + "/urn:ngsi-ld:WaterObserved:nope/attrs/waterLevel",
            body: #"{"value":1}"#,
            status: 404,
            type: .resourceNotFound
        ),
        Case(
            name: "patch an attribute into nonsense",
            method: .patch,
            uri: seededPath + "/attrs/waterLevel",
            body: #"{"type":"Thing"}"#,
            status: 400,
            type: .badRequestData,
            seeded: true
        ),
        Case(
            name: "replace a missing attribute",
            method: .put,
            uri: seededPath + "/attrs/colour",
            body: #"{"type":"Property","value":1}"#,
            status: 404,
            type: .resourceNotFound,
            seeded: true
        ),
        Case(
            name: "delete a missing attribute",
            method: .delete,
            uri: seededPath + "/attrs/colour",
            status: 404,
            type: .resourceNotFound,
            seeded: true
        ),
        Case(
            name: "delete an attribute by unknown datasetId",
            method: .delete,
            uri: seededPath + "/attrs/waterLevel?datasetId=urn:x:1",
            status: 404,
            type: .resourceNotFound,
            seeded: true
        ),
        Case(
            name: "delete an attribute with deleteAll=maybe",
            method: .delete,
            uri: seededPath + "/attrs/waterLevel?deleteAll=maybe",
            status: 400,
            type: .badRequestData,
            seeded: true
        ),
        Case(
            name: "batch create not an array",
            method: .post,
            uri: "/ngsi-ld/v1/entityOperations/create",
            body: "{}",
            status: 400,
            type: .badRequestData
        ),
        Case(name: "batch create empty", method: .post, uri: "/ngsi-ld/v1/entityOperations/create", body: "[]", status: 400, type: .badRequestData),
        Case(
            name: "batch create with an option",
            method: .post,
            uri: "/ngsi-ld/v1/entityOperations/create?options=update",
            body: "[\(body(""))]",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "batch upsert update and replace",
            method: .post,
            uri: upsertPath + "?options=update,replace",
            body: "[\(body(""))]",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "batch upsert noOverwrite",
            method: .post,
            uri: upsertPath + "?options=noOverwrite",
            body: "[\(body(""))]",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "batch update replace",
            method: .post,
            uri: "/ngsi-ld/v1/entityOperations/update?options=replace",
            body: "[\(body(""))]",
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "batch delete not an array",
            method: .post,
            uri: "/ngsi-ld/v1/entityOperations/delete",
            body: #""urn:x:1""#,
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "unknown batch operation",
            method: .post,
            uri: "/ngsi-ld/v1/entityOperations/destroy",
            body: "[]",
            status: 404,
            type: .resourceNotFound
        ),
        Case(
            name: "query without type",
            method: .post,
            uri: "/ngsi-ld/v1/entityOperations/query",
            body: #"{"entities":[{"type":"W"}]}"#,
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "query of another type",
            method: .post,
            uri: "/ngsi-ld/v1/entityOperations/query",
            body: #"{"type":"Subscription"}"#,
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "query with an unknown member",
            method: .post,
            uri: "/ngsi-ld/v1/entityOperations/query",
            body: #"{"type":"Query","colour":"red"}"#,
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "query entities not an array",
            method: .post,
            uri: "/ngsi-ld/v1/entityOperations/query",
            body: #"{"type":"Query","entities":{"type":"W"}}"#,
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "query idPattern",
            method: .post,
            uri: "/ngsi-ld/v1/entityOperations/query",
            body: #"{"type":"Query","entities":[{"idPattern":".*"}]}"#,
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "query attrs not names",
            method: .post,
            uri: "/ngsi-ld/v1/entityOperations/query",
            body: #"{"type":"Query","attrs":[1]}"#,
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "query too broad",
            method: .post,
            uri: "/ngsi-ld/v1/entityOperations/query",
            body: #"{"type":"Query"}"#,
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "query with a bad q",
            method: .post,
            uri: "/ngsi-ld/v1/entityOperations/query",
            body: #"{"type":"Query","q":"waterLevel>>1"}"#,
            status: 400,
            type: .badRequestData
        ),
        Case(
            name: "query with a parameter in the URL it does not take",
            method: .post,
            uri: "/ngsi-ld/v1/entityOperations/query?type=W",
            body: #"{"type":"Query","attrs":["a"]}"#,
            status: 400,
            type: .badRequestData
        ),
    ]

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

    @Test(arguments: cases + writeCases + contextCases)
    func answersProblemDetails(_ c: Case) async throws {
        try await HubHarness.withHub { _, client in
            if c.seeded { #expect(try await client.upsert([Readings.level("a", 1.0, minutes: 0)]).status == .created) }
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
            #expect(refused.headers[.allow] == "GET, POST")
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
