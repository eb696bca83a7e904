/// The NGSI-LD core context (ETSI GS CIM 009, `ngsi-ld-core-context-v1.8.jsonld`), built in: the
/// hub never fetches it. Its terms for the NGSI-LD and GeoJSON vocabularies, `id` and `type` as
/// keywords, and `@vocab` for every other term.
public enum JSONLDCoreContext {
    static let ngsiLD = "https://uri.etsi.org/ngsi-ld/"
    static let geoJSON = "https://purl.org/geojson/vocab#"

    /// The default vocabulary: a term no context defines is `<vocab><term>`.
    public static let vocab = "https://uri.etsi.org/ngsi-ld/default-context/"

    /// Whether `url` names the core context (any version).
    public static func isCoreURL(_ url: String) -> Bool {
        url.hasPrefix("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context") && url.hasSuffix(".jsonld")
    }

    /// Context URLs read as defining no term of their own (their terms fall to the default
    /// vocabulary, as the hub stores them): the Smart Data Models domains the gateway names, so
    /// that its entities mean the same over MQTT and HTTP on a hub without internet.
    public static let vocabularyAliases: Set<String> = [
        NGSIContext.environment, NGSIContext.transportation, NGSIContext.device, NGSIContext.alert,
    ]

    /// Core terms in the NGSI-LD vocabulary (`https://uri.etsi.org/ngsi-ld/<term>` unless noted).
    static let ngsiTerms = [
        "Attribute", "AttributeList", "ContextSourceIdentity", "ContextSourceNotification", "ContextSourceRegistration", "Date", "DateTime",
        "EntityType", "EntityTypeInfo", "EntityTypeList", "GeoProperty", "LanguageProperty", "ListProperty", "ListRelationship",
        "Notification", "Property", "Relationship", "Subscription", "TemporalProperty", "Time", "VocabProperty", "accept",
        "attributeCount", "attributeDetails", "attributeList", "attributeName", "attributeNames", "attributeTypes", "attributes", "attrs",
        "cacheDuration", "contextSourceInfo", "cooldown", "createdAt", "csf", "data", "datasetId", "deletedAt", "detail", "endpoint",
        "entities", "entity", "entityCount", "entityId", "error", "errors", "expiresAt", "format", "geoQ", "geoproperty", "georel",
        "idPattern", "information", "instanceId", "isActive", "jsonValue", "key", "lang", "languageMap", "lastFailure",
        "lastNotification", "lastSuccess", "localOnly", "location", "management", "managementInterval", "mode", "modifiedAt",
        "notification", "notificationTrigger", "notifiedAt", "notifierInfo", "notUpdated", "objectList", "observationInterval",
        "observationSpace", "observedAt", "operationSpace", "operations", "previousLanguageMap", "previousObject", "previousValue", "q",
        "reason", "receiverInfo", "refreshRate", "registrationId", "registrationName", "relationshipNames", "scope", "scopeQ",
        "showChanges", "startAt", "status", "stlocation", "subscriptionId", "subscriptionName", "success", "sysAttrs", "temporalQ",
        "tenant", "throttling", "timeAt", "timeInterval", "timeout", "timeproperty", "timerel", "timesFailed", "timesSent", "totalCount",
        "triggerReason", "typeList", "typeName", "typeNames", "unchanged", "unitCode", "updated", "uri", "valueList", "vocab",
        "watchedAttributes",
    ]

    /// Core terms in the GeoJSON vocabulary.
    static let geoTerms = [
        "Feature", "FeatureCollection", "GeometryCollection", "LineString", "MultiLineString", "MultiPoint", "MultiPolygon", "Point",
        "Polygon", "bbox", "coordinates", "features", "geometry", "properties",
    ]

    /// Every core term and its IRI.
    public static let terms: [String: String] = {
        var terms = [String: String]()
        for term in ngsiTerms { terms[term] = ngsiLD + term }
        for term in geoTerms { terms[term] = geoJSON + term }
        terms["ngsi-ld"] = ngsiLD
        terms["geojson"] = geoJSON
        terms["id"] = "@id"
        terms["type"] = "@type"
        terms["value"] = ngsiLD + "hasValue"
        terms["object"] = ngsiLD + "hasObject"
        terms["json"] = ngsiLD + "hasJSON"
        terms["title"] = "http://purl.org/dc/terms/title"
        terms["description"] = "http://purl.org/dc/terms/description"
        return terms
    }()
}
