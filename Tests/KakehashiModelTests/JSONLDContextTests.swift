import KakehashiModel
import Testing

/// The JSON-LD subset of NGSI-LD: expansion and compaction of terms, table-driven, and entities
/// round-tripped between two clients' contexts.
@Suite struct JSONLDContextTests {
    static let vocab = "https://uri.etsi.org/ngsi-ld/default-context/"
    static let sdm = "https://smartdatamodels.org/dataModel.Environment/"

    /// A client context in the shape users write: terms, a prefix, a compact IRI, an object
    /// definition, and a term that points at another term.
    static let city: JSONValue = [
        "sdm": .string(sdm),
        "nivel": "sdm:waterLevel",
        "Aforo": ["@id": .string(sdm + "WaterObserved")],
        "caudal": .string(sdm + "flow"),
        "flujo": "caudal",
    ]

    struct Expansion: CustomTestStringConvertible, Sendable {
        let context: [JSONValue]
        let term: String
        let iri: String
        var testDescription: String { "\(term) → \(iri)" }
    }

    static let expansions: [Expansion] = [
        // The core alone: its own terms, everything else in the default vocabulary.
        .init(context: [], term: "waterLevel", iri: vocab + "waterLevel"),
        .init(context: [], term: "location", iri: "https://uri.etsi.org/ngsi-ld/location"),
        .init(context: [], term: "observedAt", iri: "https://uri.etsi.org/ngsi-ld/observedAt"),
        .init(context: [], term: "type", iri: "@type"),
        .init(context: [], term: "Point", iri: "https://purl.org/geojson/vocab#Point"),
        .init(context: [], term: "ngsi-ld:foo", iri: "https://uri.etsi.org/ngsi-ld/foo"),
        .init(context: [], term: "http://example.org/a", iri: "http://example.org/a"),
        .init(context: [], term: "urn:x:y", iri: "urn:x:y"),
        // A user context: a compact IRI, an object definition, a term defined by another.
        .init(context: [city], term: "nivel", iri: sdm + "waterLevel"),
        .init(context: [city], term: "Aforo", iri: sdm + "WaterObserved"),
        .init(context: [city], term: "flujo", iri: sdm + "flow"),
        .init(context: [city], term: "sdm:anything", iri: sdm + "anything"),
        .init(context: [city], term: "undefined", iri: vocab + "undefined"),
        // The core wins over a user context that redefines one of its terms.
        .init(context: [["location": "http://example.org/where"]], term: "location", iri: "https://uri.etsi.org/ngsi-ld/location"),
        // A user @vocab is kept; null removes a term an earlier context defined.
        .init(context: [["@vocab": "http://example.org/v#"]], term: "level", iri: "http://example.org/v#level"),
        .init(context: [city, ["nivel": nil]], term: "nivel", iri: vocab + "nivel"),
        // The Smart Data Models URLs the gateway names are read in the default vocabulary.
        .init(context: [.string(NGSIContext.environment)], term: "waterLevel", iri: vocab + "waterLevel"),
        .init(
            context: [.string(JSONLDCoreContext.vocab), "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"],
            term: "a",
            iri: vocab + "a"
        ),
    ]

    @Test(arguments: expansions)
    func expands(_ row: Expansion) throws {
        let documents: [String: JSONValue] = [JSONLDCoreContext.vocab: ["@context": [:]]]
        let context = try JSONLDContext(row.context, documents: documents)
        #expect(context.expand(row.term) == row.iri)
    }

    struct Compaction: CustomTestStringConvertible, Sendable {
        let context: [JSONValue]
        let iri: String
        let term: String
        var testDescription: String { "\(iri) → \(term)" }
    }

    static let compactions: [Compaction] = [
        .init(context: [], iri: vocab + "waterLevel", term: "waterLevel"),
        .init(context: [], iri: "https://uri.etsi.org/ngsi-ld/location", term: "location"),
        .init(context: [], iri: "https://uri.etsi.org/ngsi-ld/somethingNew", term: "ngsi-ld:somethingNew"),
        .init(context: [], iri: "http://example.org/a", term: "http://example.org/a"),
        .init(context: [city], iri: sdm + "waterLevel", term: "nivel"),
        // Two terms for one IRI: the shorter.
        .init(context: [city], iri: sdm + "flow", term: "flujo"),
        .init(context: [city], iri: sdm + "other", term: "sdm:other"),
        // A vocabulary suffix that another term names is not used bare: a compact IRI instead.
        .init(context: [["waterLevel": "http://example.org/wl"]], iri: vocab + "waterLevel", term: "ngsi-ld:default-context/waterLevel"),
    ]

    @Test(arguments: compactions)
    func compacts(_ row: Compaction) throws {
        #expect(try JSONLDContext(row.context).compact(row.iri) == row.term)
    }

    static let badContexts: [([JSONValue], String)] = [
        ([.number(3)], "a context is a URL, an object or an array of them, not a number"),
        ([["level": 5]], "term level must be defined by an IRI, an object or null, not a number"),
        ([["level": ["@id": 5]]], "the @id of term level must be an IRI, not a number"),
        ([["@vocab": 5]], "@vocab must be an IRI or null, not a number"),
        (["http://example.org/missing.jsonld"], "the context http://example.org/missing.jsonld is not available"),
    ]

    @Test(arguments: badContexts)
    func badContextsAreRefusedWithTheirReason(_ context: [JSONValue], _ reason: String) {
        #expect(throws: JSONLDError.self) { try JSONLDContext(context) }
        do { _ = try JSONLDContext(context) } catch { #expect(error.reason == reason) }
    }

    @Test func aLoopOfContextsIsRefused() {
        let documents: [String: JSONValue] = ["http://a/": ["@context": "http://b/"], "http://b/": ["@context": "http://a/"]]
        #expect(throws: JSONLDError.self) { try JSONLDContext(["http://a/"], documents: documents) }
    }

    @Test func urlsAreFoundInArraysAndDocuments() {
        #expect(JSONLDContext.urls(in: ["http://a/", ["x": "y"], ["http://b/"]]) == ["http://a/", "http://b/"])
        #expect(JSONLDContext.contextOf(document: ["@context": ["x": "y"]]) == ["x": "y"])
    }

    /// Two clients with different contexts write and read the same entity: each sees the same
    /// attributes under its own names, and the stored form is the core context's.
    @Test func anEntityRoundTripsBetweenTwoContexts() throws {
        let spanish = try JSONLDContext([Self.city])
        let english = try JSONLDContext([
            [
                "level": JSONValue.string(Self.sdm + "waterLevel"), "Gauge": JSONValue.string(Self.sdm + "WaterObserved"),
                "colour": "http://example.org/color",
            ]
        ])
        let written: JSONValue = [
            "id": "urn:ngsi-ld:WaterObserved:g1", "type": "Aforo",
            "nivel": ["type": "Property", "value": 1.5, "observedAt": "2026-06-02T10:00:00Z", "flujo": ["type": "Property", "value": 3]],
            "http://example.org/color": ["type": "Property", "value": "red"],
            "location": ["type": "GeoProperty", "value": ["type": "Point", "coordinates": [130.5, 33.3]]],
            "plain": ["type": "Property", "value": ["nivel": "a value, not a name"]],
        ]
        let stored = NGSITermMapping.storing(from: spanish).entity(written)
        #expect(stored["type"] == .string(Self.sdm + "WaterObserved"))
        #expect(stored[Self.sdm + "waterLevel"]?[Self.sdm + "flow"]?["value"] == 3)
        #expect(stored["location"] != nil && stored["plain"]?["value"]?["nivel"] != nil)

        let read = NGSITermMapping.showing(to: english).entity(stored)
        #expect(read["type"] == "Gauge")
        #expect(read["level"]?["value"] == 1.5 && read["level"]?["observedAt"] == "2026-06-02T10:00:00Z")
        #expect(read["level"]?["sdm:flow"] == nil && read["level"]?[Self.sdm + "flow"]?["value"] == 3)
        #expect(read["colour"]?["value"] == "red" && read["plain"] != nil && read["location"] != nil)
        // And back: the Spanish client reads what it wrote.
        #expect(NGSITermMapping.showing(to: spanish).entity(stored) == written)
    }

    @Test func listsOfNamesKeepTheirSeparators() throws {
        let mapping = NGSITermMapping.storing(from: try JSONLDContext([Self.city]))
        #expect(mapping.list("nivel,id,(Aforo|flujo);x") == "\(Self.sdm)waterLevel,id,(\(Self.sdm)WaterObserved|\(Self.sdm)flow);x")
    }
}
