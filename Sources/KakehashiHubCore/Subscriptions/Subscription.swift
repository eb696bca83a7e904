import Foundation
import KakehashiModel

/// An NGSI-LD subscription (ETSI GS CIM 009, 5.2.12): what to watch, where to notify, and how
/// often. Decoded from a client's JSON with every member checked, the error naming the member.
///
/// ```swift
/// let subscription = try Subscription(json: body, now: now)   // SubscriptionError names the member
/// subscription.json   // as GET /subscriptions/{id} shows it (status members added by the service)
/// ```
public struct Subscription: Sendable, Hashable {
    /// One entity selector: a type, with an id or an id pattern.
    public struct EntitySelector: Sendable, Hashable {
        public var type: String
        public var id: String?
        public var idPattern: String?

        public init(type: String, id: String? = nil, idPattern: String? = nil) {
            self.type = type
            self.id = id
            self.idPattern = idPattern
        }
    }

    /// How notifications are written.
    public enum Format: String, Sendable, Hashable, CaseIterable {
        case normalized, keyValues, concise
    }

    /// Where notifications go.
    public struct Endpoint: Sendable, Hashable {
        public var uri: String
        /// `application/json`, `application/ld+json` or `application/geo+json`.
        public var accept: String = "application/json"
        /// Sent with each notification (HTTP headers, or MQTT 5 user properties).
        public var receiverInfo: [KeyValue] = []
        /// For the notifier (`MQTT-QoS`, `MQTT-Version`).
        public var notifierInfo: [KeyValue] = []

        public init(uri: String) { self.uri = uri }
    }

    public struct KeyValue: Sendable, Hashable {
        public var key: String
        public var value: String
    }

    public var id: String
    public var name: String?
    public var description: String?
    public var entities: [EntitySelector] = []
    public var watchedAttributes: [String]?
    /// Periodic notification every this many seconds (instead of on change).
    public var timeInterval: Double?
    /// The `q` filter as given (parsed when checked).
    public var q: String?
    /// `georel`, `geometry`, `coordinates` (as in a query) and `geoproperty`.
    public var geoQ: GeoSelector?
    public var attributes: [String]?
    public var format: Format = .normalized
    public var endpoint: Endpoint
    public var showChanges = false
    public var sysAttrs = false
    /// At most one notification per this many seconds.
    public var throttling: Double?
    public var expiresAt: Timestamp?
    public var isActive = true
    public var lang: String?
    /// The client's JSON-LD context (a URL): notifications name types and attributes in it.
    public var jsonldContext: String?
    /// What kinds of change notify (`notificationTrigger`); nil: ``defaultTriggers``.
    public var triggers: [Trigger]?

    /// A kind of change (NGSI-LD `notificationTrigger`).
    public enum Trigger: String, Sendable, Hashable, CaseIterable {
        case entityCreated, entityUpdated, entityDeleted, attributeCreated, attributeUpdated, attributeDeleted
    }

    /// The triggers of a subscription that names none: attributes created or updated (so an
    /// entity's creation too, as its attributes are), as Stellio reads the spec.
    public static let defaultTriggers: [Trigger] = [.attributeCreated, .attributeUpdated]

    /// The triggers in force.
    public var effectiveTriggers: Set<Trigger> { Set(triggers ?? Self.defaultTriggers) }

    /// A subscription's geographic filter.
    public struct GeoSelector: Sendable, Hashable {
        public var georel: String
        public var geometry: String
        public var coordinates: String
        public var geoproperty: String = "location"
    }

    public init(id: String, endpoint: Endpoint) {
        self.id = id
        self.endpoint = endpoint
    }
}

/// A subscription member that is wrong: which, and why (answered `400 BadRequestData`).
public struct SubscriptionError: Error, Sendable, Hashable, CustomStringConvertible {
    public let member: String
    public let problem: String

    public init(_ member: String, _ problem: String) {
        self.member = member
        self.problem = problem
    }

    public var description: String { "\(member): \(problem)" }
}

extension Subscription {
    /// The members a client may write (status members are the hub's).
    static let writable: Set<String> = [
        "id", "type", "subscriptionName", "description", "entities", "watchedAttributes", "notificationTrigger", "timeInterval", "q",
        "geoQ", "scopeQ", "lang", "notification", "expiresAt", "throttling", "isActive", "jsonldContext", "@context",
    ]

    /// Decodes and checks a subscription a client sent (`POST /subscriptions`); without an `id`,
    /// one is made. `now` checks that `expiresAt` is ahead.
    public init(json: JSONValue, now: Timestamp) throws(SubscriptionError) {
        guard case .object(let members) = json else { throw SubscriptionError("subscription", "must be a JSON object, not \(json.typeName)") }
        for key in members.keys where !Self.writable.contains(key) {
            throw SubscriptionError(key, "is not a member of a subscription (or is the hub's to set)")
        }
        guard members["type"] == "Subscription" else { throw SubscriptionError("type", "must be \"Subscription\"") }
        let id: String
        switch members["id"] {
        case nil: id = "urn:ngsi-ld:Subscription:\(UUID().uuidString.lowercased())"
        case .string(let text)?:
            do { try EntityID.checkURI(text, field: "id") } catch { throw SubscriptionError("id", error.description) }
            id = text
        case let other?: throw SubscriptionError("id", "must be a URI string, not \(other.typeName)")
        }
        guard case .object(let notification)? = members["notification"] else { throw SubscriptionError("notification", "is required (an object)") }
        self.init(id: id, endpoint: try Self.endpoint(notification["endpoint"]))
        try apply(members, now: now, creating: true)
        try check()
    }

    /// Applies a partial update (`PATCH /subscriptions/{id}`): the members given replace theirs.
    public mutating func update(_ json: JSONValue, now: Timestamp) throws(SubscriptionError) {
        guard case .object(let members) = json else { throw SubscriptionError("subscription", "must be a JSON object, not \(json.typeName)") }
        for key in members.keys where !Self.writable.contains(key) || key == "id" {
            throw SubscriptionError(key, key == "id" ? "cannot be changed" : "is not a member of a subscription (or is the hub's to set)")
        }
        if let type = members["type"], type != "Subscription" { throw SubscriptionError("type", "must be \"Subscription\"") }
        try apply(members, now: now, creating: false)
        try check()
    }

    private mutating func apply(_ members: [String: JSONValue], now: Timestamp, creating: Bool) throws(SubscriptionError) {
        if let value = members["subscriptionName"] { name = try Self.text(value, "subscriptionName") }
        if let value = members["description"] { description = try Self.text(value, "description") }
        if let value = members["entities"] { entities = try Self.selectors(value) }
        if let value = members["watchedAttributes"] { watchedAttributes = try Self.names(value, "watchedAttributes") }
        if let value = members["timeInterval"] { timeInterval = try Self.seconds(value, "timeInterval") }
        if let value = members["throttling"] { throttling = try Self.seconds(value, "throttling") }
        if let value = members["q"] {
            let text = try Self.text(value, "q")
            do { _ = try QExpression(text) } catch { throw SubscriptionError("q", error.problem) }
            q = text
        }
        if let value = members["geoQ"] { geoQ = try Self.geo(value) }
        if let value = members["lang"] { lang = try Self.text(value, "lang") }
        if let value = members["isActive"] {
            guard case .bool(let flag) = value else { throw SubscriptionError("isActive", "must be true or false") }
            isActive = flag
        }
        if let value = members["expiresAt"] {
            guard case .string(let text) = value else { throw SubscriptionError("expiresAt", "must be a date-time string") }
            let at: Timestamp
            do { at = try Timestamp(iso8601: text, field: "expiresAt") } catch { throw SubscriptionError("expiresAt", error.description) }
            guard at > now else { throw SubscriptionError("expiresAt", "\(text) is not in the future") }
            expiresAt = at
        }
        if let value = members["scopeQ"] { _ = try Self.text(value, "scopeQ") }
        if let value = members["jsonldContext"] {
            let text = try Self.text(value, "jsonldContext")
            do { try EntityID.checkURI(text, field: "jsonldContext") } catch { throw SubscriptionError("jsonldContext", error.description) }
            jsonldContext = text
        }
        if let value = members["notificationTrigger"] {
            guard case .array(let items) = value, !items.isEmpty else {
                throw SubscriptionError("notificationTrigger", "must be a non-empty array of trigger names")
            }
            var list = [Trigger]()
            for item in items {
                guard case .string(let text) = item, let trigger = Trigger(rawValue: text) else {
                    throw SubscriptionError(
                        "notificationTrigger",
                        "\(item.jsonText.prefix(40)) is not one of \(Trigger.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                if !list.contains(trigger) { list.append(trigger) }
            }
            triggers = list
        }
        if case .object(let notification)? = members["notification"] {
            for key in notification.keys where !["attributes", "format", "endpoint", "showChanges", "sysAttrs"].contains(key) {
                throw SubscriptionError("notification.\(key)", "is not a member of a notification (or is the hub's to set)")
            }
            if let value = notification["attributes"] { attributes = try Self.names(value, "notification.attributes") }
            if let value = notification["format"] {
                guard case .string(let text) = value, let parsed = Format(rawValue: text) else {
                    throw SubscriptionError("notification.format", "is normalized, keyValues or concise")
                }
                format = parsed
            }
            if let value = notification["showChanges"] {
                guard case .bool(let flag) = value else { throw SubscriptionError("notification.showChanges", "must be true or false") }
                showChanges = flag
            }
            if let value = notification["sysAttrs"] {
                guard case .bool(let flag) = value else { throw SubscriptionError("notification.sysAttrs", "must be true or false") }
                sysAttrs = flag
            }
            if !creating, let value = notification["endpoint"] { endpoint = try Self.endpoint(value) }
        } else if let value = members["notification"] {
            throw SubscriptionError("notification", "must be an object, not \(value.typeName)")
        }
    }

    /// The rules between members (5.2.12).
    func check() throws(SubscriptionError) {
        if entities.isEmpty && watchedAttributes == nil {
            throw SubscriptionError("entities", "give entities or watchedAttributes (or both)")
        }
        if timeInterval != nil && watchedAttributes != nil {
            throw SubscriptionError("timeInterval", "a periodic subscription has no watchedAttributes")
        }
        if timeInterval != nil && throttling != nil {
            throw SubscriptionError("throttling", "a periodic subscription has no throttling")
        }
    }

    static func text(_ value: JSONValue, _ member: String) throws(SubscriptionError) -> String {
        guard case .string(let text) = value, !text.isEmpty else { throw SubscriptionError(member, "must be a non-empty string") }
        guard text.utf8.count <= 4096 else { throw SubscriptionError(member, "is longer than 4096 bytes") }
        return text
    }

    static func seconds(_ value: JSONValue, _ member: String) throws(SubscriptionError) -> Double {
        guard case .number(let number) = value, number.isFinite, number > 0 else {
            throw SubscriptionError(member, "must be a number of seconds above 0")
        }
        return number
    }

    static func names(_ value: JSONValue, _ member: String) throws(SubscriptionError) -> [String] {
        guard case .array(let items) = value, !items.isEmpty else { throw SubscriptionError(member, "must be a non-empty array of attribute names") }
        var names = [String]()
        for item in items {
            guard case .string(let name) = item, !name.isEmpty, !name.contains(" ") else {
                throw SubscriptionError(member, "must hold attribute names, not \(item.jsonText.prefix(40))")
            }
            names.append(name)
        }
        return names
    }

    static func selectors(_ value: JSONValue) throws(SubscriptionError) -> [EntitySelector] {
        guard case .array(let items) = value, !items.isEmpty else { throw SubscriptionError("entities", "must be a non-empty array") }
        var selectors = [EntitySelector]()
        for (index, item) in items.enumerated() {
            let field = "entities[\(index)]"
            guard case .object(let members) = item else { throw SubscriptionError(field, "must be an object with a type") }
            for key in members.keys where !["type", "id", "idPattern"].contains(key) {
                throw SubscriptionError("\(field).\(key)", "is not a member of an entity selector")
            }
            guard case .string(let type)? = members["type"], !type.isEmpty else { throw SubscriptionError("\(field).type", "is required") }
            var selector = EntitySelector(type: type)
            if let id = members["id"] {
                guard case .string(let text) = id else { throw SubscriptionError("\(field).id", "must be a URI string") }
                do { try EntityID.checkURI(text, field: "id") } catch { throw SubscriptionError("\(field).id", error.description) }
                selector.id = text
            }
            if let pattern = members["idPattern"] {
                guard case .string(let text) = pattern, (try? Regex(text)) != nil else {
                    throw SubscriptionError("\(field).idPattern", "must be a regular expression")
                }
                selector.idPattern = text
            }
            if selector.id != nil && selector.idPattern != nil { throw SubscriptionError(field, "give id or idPattern, not both") }
            selectors.append(selector)
        }
        return selectors
    }

    static func geo(_ value: JSONValue) throws(SubscriptionError) -> GeoSelector {
        guard case .object(let members) = value else { throw SubscriptionError("geoQ", "must be an object") }
        guard case .string(let georel)? = members["georel"], case .string(let geometry)? = members["geometry"] else {
            throw SubscriptionError("geoQ", "needs georel, geometry and coordinates")
        }
        let coordinates: String
        switch members["coordinates"] {
        case .string(let text)?: coordinates = text
        case .array?: coordinates = members["coordinates"]!.jsonText
        default: throw SubscriptionError("geoQ.coordinates", "is required (an array, or its JSON text)")
        }
        do { _ = try GeoQuery(georel: georel, geometry: geometry, coordinates: coordinates) } catch {
            throw SubscriptionError("geoQ.\(error.parameter)", error.problem)
        }
        var selector = GeoSelector(georel: georel, geometry: geometry, coordinates: coordinates)
        if let property = members["geoproperty"] { selector.geoproperty = try text(property, "geoQ.geoproperty") }
        return selector
    }

    static func endpoint(_ value: JSONValue?) throws(SubscriptionError) -> Endpoint {
        guard case .object(let members)? = value else { throw SubscriptionError("notification.endpoint", "is required (an object with uri)") }
        guard case .string(let uri)? = members["uri"] else { throw SubscriptionError("notification.endpoint.uri", "is required") }
        guard let scheme = URLComponents(string: uri)?.scheme?.lowercased(), ["http", "https", "mqtt", "mqtts"].contains(scheme),
            URLComponents(string: uri)?.host?.isEmpty == false
        else {
            throw SubscriptionError("notification.endpoint.uri", "must be an http(s):// or mqtt(s):// URI with a host, not \(uri.prefix(80))")
        }
        var endpoint = Endpoint(uri: uri)
        if let accept = members["accept"] {
            guard case .string(let text) = accept, ["application/json", "application/ld+json", "application/geo+json"].contains(text) else {
                throw SubscriptionError("notification.endpoint.accept", "is application/json, application/ld+json or application/geo+json")
            }
            endpoint.accept = text
        }
        endpoint.receiverInfo = try keyValues(members["receiverInfo"], "notification.endpoint.receiverInfo")
        endpoint.notifierInfo = try keyValues(members["notifierInfo"], "notification.endpoint.notifierInfo")
        for info in endpoint.notifierInfo {
            switch info.key {
            case "MQTT-QoS" where !["0", "1", "2"].contains(info.value):
                throw SubscriptionError("notification.endpoint.notifierInfo", "MQTT-QoS is 0, 1 or 2")
            case "MQTT-Version" where !["mqtt3.1.1", "mqtt5.0"].contains(info.value):
                throw SubscriptionError("notification.endpoint.notifierInfo", "MQTT-Version is mqtt3.1.1 or mqtt5.0")
            default: break
            }
        }
        return endpoint
    }

    static func keyValues(_ value: JSONValue?, _ member: String) throws(SubscriptionError) -> [KeyValue] {
        guard let value else { return [] }
        guard case .array(let items) = value else { throw SubscriptionError(member, "must be an array of {key, value}") }
        var pairs = [KeyValue]()
        for item in items {
            guard case .string(let key)? = item["key"], case .string(let text)? = item["value"], !key.isEmpty,
                key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }), !text.contains("\r"), !text.contains("\n")
            else { throw SubscriptionError(member, "each is {\"key\": a header name, \"value\": a one-line text}") }
            pairs.append(KeyValue(key: key, value: text))
        }
        return pairs
    }

    // MARK: Writing

    /// The subscription as NGSI-LD JSON (without the status members, which the service adds).
    public var json: JSONValue {
        var members: [String: JSONValue] = ["id": .string(id), "type": "Subscription", "isActive": .bool(isActive)]
        if let name { members["subscriptionName"] = .string(name) }
        if let description { members["description"] = .string(description) }
        if !entities.isEmpty {
            members["entities"] = .array(
                entities.map { selector in
                    var fields: [String: JSONValue] = ["type": .string(selector.type)]
                    if let id = selector.id { fields["id"] = .string(id) }
                    if let pattern = selector.idPattern { fields["idPattern"] = .string(pattern) }
                    return .object(fields)
                }
            )
        }
        if let watchedAttributes { members["watchedAttributes"] = .array(watchedAttributes.map(JSONValue.string)) }
        if let timeInterval { members["timeInterval"] = .number(timeInterval) }
        if let throttling { members["throttling"] = .number(throttling) }
        if let q { members["q"] = .string(q) }
        if let geoQ {
            members["geoQ"] = [
                "georel": .string(geoQ.georel), "geometry": .string(geoQ.geometry), "coordinates": .string(geoQ.coordinates),
                "geoproperty": .string(geoQ.geoproperty),
            ]
        }
        if let lang { members["lang"] = .string(lang) }
        if let jsonldContext { members["jsonldContext"] = .string(jsonldContext) }
        if let triggers { members["notificationTrigger"] = .array(triggers.map { .string($0.rawValue) }) }
        if let expiresAt { members["expiresAt"] = .string(expiresAt.iso8601) }
        var endpoint: [String: JSONValue] = ["uri": .string(self.endpoint.uri), "accept": .string(self.endpoint.accept)]
        func pairs(_ list: [KeyValue]) -> JSONValue { .array(list.map { ["key": .string($0.key), "value": .string($0.value)] }) }
        if !self.endpoint.receiverInfo.isEmpty { endpoint["receiverInfo"] = pairs(self.endpoint.receiverInfo) }
        if !self.endpoint.notifierInfo.isEmpty { endpoint["notifierInfo"] = pairs(self.endpoint.notifierInfo) }
        var notification: [String: JSONValue] = ["format": .string(format.rawValue), "endpoint": .object(endpoint)]
        if let attributes { notification["attributes"] = .array(attributes.map(JSONValue.string)) }
        if showChanges { notification["showChanges"] = true }
        if sysAttrs { notification["sysAttrs"] = true }
        members["notification"] = .object(notification)
        return .object(members)
    }
}
