import KakehashiModel

/// What a subscription is told of: which changes concern it, when throttling holds a
/// notification back, and the notification's body (NGSI-LD 5.3.1).
extension Subscription {
    /// Whether the subscription is in force at `now` (active and not expired).
    public func isInForce(at now: Timestamp) -> Bool {
        isActive && (expiresAt.map { now < $0 } ?? true)
    }

    /// Whether `entity` is one the subscription's `entities` select (any, when none are given).
    public func selects(_ entity: NGSIEntity) -> Bool {
        guard !entities.isEmpty else { return true }
        return entities.contains { selector in
            guard selector.type == entity.type else { return false }
            if let id = selector.id { return id == entity.id.rawValue }
            if let pattern = selector.idPattern {
                guard let regex = try? Regex(pattern) else { return false }
                return (try? regex.wholeMatch(in: entity.id.rawValue)) != nil
            }
            return true
        }
    }

    /// Whether a change of `entity` notifies: in force, not periodic, the entity selected, one of
    /// the `watchedAttributes` among the `changed` ones (nil: created or deleted, every attribute),
    /// and `q` and `geoQ` true of the entity as it is now.
    public func concerns(_ entity: NGSIEntity, changed: Set<String>?, at now: Timestamp) -> Bool {
        selects(entity) && notifies(entity, changed: changed, at: now)
    }

    /// ``concerns(_:changed:at:)`` for an entity already known to be selected: a trigger for
    /// created or updated attributes asked for, a watched attribute among the `changed` ones, and
    /// `q` and `geoQ` true of the entity as it is now.
    public func notifies(_ entity: NGSIEntity, changed: Set<String>?, at now: Timestamp, filters: SubscriptionFilters? = nil) -> Bool {
        guard isInForce(at: now), timeInterval == nil else { return false }
        guard !effectiveTriggers.isDisjoint(with: [.entityCreated, .entityUpdated, .attributeCreated, .attributeUpdated]) else { return false }
        guard watches(changed) else { return false }
        return (filters ?? SubscriptionFilters(self)).matches(entity)
    }

    /// Whether the deletion of a selected entity (`attributes` nil) or of some of its attributes
    /// notifies: the `entityDeleted` or `attributeDeleted` trigger asked for, and for attributes
    /// a watched one among them (`remaining` is the entity after, which `q` and `geoQ` are read on).
    public func notifiesDeletion(of attributes: Set<String>?, remaining: NGSIEntity?, at now: Timestamp) -> Bool {
        guard isInForce(at: now), timeInterval == nil else { return false }
        guard let attributes else { return effectiveTriggers.contains(.entityDeleted) }
        guard effectiveTriggers.contains(.attributeDeleted), watches(attributes) else { return false }
        return remaining.map(matchesFilters) ?? true
    }

    /// Whether one of the `watchedAttributes` is among `changed` (always, without either).
    func watches(_ changed: Set<String>?) -> Bool {
        guard let watchedAttributes, let changed else { return true }
        let names = Set(changed.map { NGSIEntity.splitName($0).attribute })
        return !names.isDisjoint(with: watchedAttributes)
    }

    /// Whether `q` and `geoQ` hold for `entity` (for a periodic notification too).
    public func matchesFilters(_ entity: NGSIEntity) -> Bool { SubscriptionFilters(self).matches(entity) }

    /// Whether a notification at `now` must wait for `throttling` after the last one; and until when.
    public func throttledUntil(lastNotification: Timestamp?, now: Timestamp) -> Timestamp? {
        guard let throttling, let last = lastNotification else { return nil }
        let next = Timestamp(millisecondsSinceEpoch: last.millisecondsSinceEpoch + Int64((throttling * 1000).rounded()))
        return now < next ? next : nil
    }

    /// The notification body for `entities`: `{"id", "type": "Notification", "subscriptionId",
    /// "notifiedAt", "data"}`, each entity in the subscription's format with only its
    /// `notification.attributes` (every attribute without), multi-attributes as arrays. With
    /// `accept: application/ld+json` the body carries the core `@context`; with
    /// `application/geo+json` the data is a FeatureCollection (geometry from `location`).
    /// `shown`, when given, holds each entity as ``shown(_:)`` renders it.
    public func notification(_ entities: [NGSIEntity], id: String, at now: Timestamp, shown: [JSONValue]? = nil) -> JSONValue {
        let data = shown ?? entities.map(self.shown)
        var members: [String: JSONValue] = [
            "id": .string(id), "type": "Notification", "subscriptionId": .string(self.id), "notifiedAt": .string(now.iso8601),
            "data": .array(data),
        ]
        switch endpoint.accept {
        case "application/ld+json": members["@context"] = .string(NGSIContext.core)
        case "application/geo+json": members["data"] = Self.featureCollection(entities, data: data)
        default: break
        }
        return .object(members)
    }

    /// One entity of a notification's `data`: in the subscription's format, with only its
    /// `notification.attributes` (every attribute without) and its LanguageProperties in `lang`.
    public func shown(_ entity: NGSIEntity) -> JSONValue {
        var shown = entity
        shown.context = []
        if let attributes {
            let wanted = Set(attributes)
            shown.attributes = shown.attributes.filter { wanted.contains(NGSIEntity.splitName($0.key).attribute) }
        }
        let rendered: JSONValue
        switch format {
        case .normalized: rendered = shown.json(.normalized)
        case .keyValues: rendered = shown.json(.keyValues)
        case .concise: rendered = NGSIConcise.compactEntity(shown.json(.normalized))
        }
        // LanguageProperties in the subscription's language, as a query with `lang` shows them.
        guard let lang else { return rendered }
        return NGSIEntity.inLanguage(rendered, of: shown, lang, keyValues: format == .keyValues, concise: format == .concise)
    }

    /// Whether a notification is the plain JSON body of ``notification(_:id:at:shown:)`` with
    /// nothing added after (no `@context`, FeatureCollection, system attributes or previous
    /// values): then ``notificationText(_:id:at:)`` writes it from entities already serialized.
    public var notifiesPlainJSON: Bool {
        endpoint.accept == "application/json" && jsonldContext == nil && !sysAttrs && !showChanges
    }

    /// The text of the plain JSON notification whose `data` are `shown` (each entity's JSON text
    /// as ``shown(_:)`` renders it); `notifiedAt` is the time in ISO 8601 (written once for all
    /// notifications of a change).
    public func notificationText(_ shown: [[UInt8]], id: String, notifiedAt: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(160 + shown.reduce(0) { $0 + $1.count + 1 })
        out.append(contentsOf: "{\"id\":".utf8)
        JSONValue.writeString(id, into: &out)
        out.append(contentsOf: ",\"type\":\"Notification\",\"subscriptionId\":".utf8)
        JSONValue.writeString(self.id, into: &out)
        out.append(contentsOf: ",\"notifiedAt\":".utf8)
        JSONValue.writeString(notifiedAt, into: &out)
        out.append(contentsOf: ",\"data\":[".utf8)
        for (index, entity) in shown.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: entity)
        }
        out.append(contentsOf: "]}".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// What ``shown(_:)`` depends on besides the entity: subscriptions alike in it show an entity alike.
    public var showing: Showing { Showing(format: format, attributes: attributes, lang: lang) }

    /// The parts of a subscription that decide how an entity is shown in its notifications.
    public struct Showing: Hashable, Sendable {
        let format: Format
        let attributes: [String]?
        let lang: String?
    }

    /// The notification of entities deleted: each as its id, type and `deletedAt`.
    public func deletionNotification(_ entities: [(id: EntityID, type: String)], id: String, at now: Timestamp) -> JSONValue {
        var members: [String: JSONValue] = [
            "id": .string(id), "type": "Notification", "subscriptionId": .string(self.id), "notifiedAt": .string(now.iso8601),
            "data": .array(entities.map { ["id": .string($0.id.rawValue), "type": .string($0.type), "deletedAt": .string(now.iso8601)] }),
        ]
        if endpoint.accept == "application/ld+json" { members["@context"] = .string(NGSIContext.core) }
        return .object(members)
    }

    static func featureCollection(_ entities: [NGSIEntity], data: [JSONValue]) -> JSONValue {
        let features = zip(entities, data).map { entity, shown -> JSONValue in
            var properties = shown.objectValue ?? [:]
            properties["id"] = nil
            let geometry: JSONValue =
                if let point = try? entity.location("location") {
                    ["type": "Point", "coordinates": .array(point.geoJSONCoordinates.map(JSONValue.number))]
                } else { .null }
            return ["id": .string(entity.id.rawValue), "type": "Feature", "geometry": geometry, "properties": .object(properties)]
        }
        return ["type": "FeatureCollection", "features": .array(features)]
    }
}

/// A subscription's `q` and `geoQ` parsed once (they are checked at every change it may concern).
public struct SubscriptionFilters: Sendable {
    let q: QExpression?
    let geo: GeoQuery?
    let geoproperty: String
    /// False when a filter no longer parses: then nothing matches.
    let valid: Bool

    public init(_ subscription: Subscription) {
        var valid = true
        q = subscription.q.flatMap { text in
            let parsed = try? QExpression(text)
            if parsed == nil { valid = false }
            return parsed
        }
        geo = subscription.geoQ.flatMap { selector in
            let parsed = try? GeoQuery(georel: selector.georel, geometry: selector.geometry, coordinates: selector.coordinates)
            if parsed == nil { valid = false }
            return parsed
        }
        geoproperty = subscription.geoQ?.geoproperty ?? "location"
        self.valid = valid
    }

    /// Whether `q` and `geoQ` hold for `entity`.
    public func matches(_ entity: NGSIEntity) -> Bool {
        guard valid else { return false }
        if let q, !q.matches(entity) { return false }
        if let geo {
            guard let point = try? entity.location(geoproperty), geo.matches(point) else { return false }
        }
        return true
    }
}
