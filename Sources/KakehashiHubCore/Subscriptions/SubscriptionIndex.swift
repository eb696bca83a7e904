import KakehashiModel

/// One tenant's subscriptions, indexed by what their `entities` select, so that a change is
/// matched against the few that may concern it rather than every one: by entity id, by type
/// (with id patterns compiled once), and those that select any entity (`watchedAttributes` only).
struct SubscriptionIndex {
    /// A subscription with its filters parsed once; shared by reference (a change of a batch
    /// meets each several times).
    final class Entry: Sendable {
        let subscription: Subscription
        let filters: SubscriptionFilters
        /// Whether a created or updated attribute can notify (a trigger for it asked for, and not
        /// periodic).
        let onChange: Bool
        /// The `watchedAttributes`, nil for every attribute.
        let watched: [String]?

        init(_ subscription: Subscription) {
            self.subscription = subscription
            self.filters = SubscriptionFilters(subscription)
            onChange =
                subscription.timeInterval == nil
                && !subscription.effectiveTriggers.isDisjoint(with: [.entityCreated, .entityUpdated, .attributeCreated, .attributeUpdated])
            watched = subscription.watchedAttributes
        }

        /// ``Subscription/notifies(_:changed:at:filters:)`` with what it reads of the subscription
        /// decided once: `changed` holds the attribute names changed (no dataset ids, each once).
        func notifies(_ entity: NGSIEntity, changed: [String], at now: Timestamp) -> Bool {
            guard onChange, subscription.isInForce(at: now) else { return false }
            // Both lists are short: compared, not hashed.
            if let watched, !watched.contains(where: changed.contains) { return false }
            return filters.matches(entity)
        }
    }

    private(set) var subscriptions: [String: Subscription] = [:]
    private var byID: [String: [(entry: Entry, type: String)]] = [:]
    private var byType: [String: [(entry: Entry, pattern: Regex<AnyRegexOutput>?)]] = [:]
    private var anyEntity: [Entry] = []

    init(_ list: [Subscription]) {
        for subscription in list { add(subscription) }
    }

    private mutating func add(_ subscription: Subscription) {
        subscriptions[subscription.id] = subscription
        let entry = Entry(subscription)
        guard !subscription.entities.isEmpty else {
            anyEntity.append(entry)
            return
        }
        for selector in subscription.entities {
            if let id = selector.id {
                byID[id, default: []].append((entry, selector.type))
            } else {
                let pattern = selector.idPattern.flatMap { try? Regex($0) }
                // A pattern that no longer compiles selects nothing (it was checked when kept).
                if selector.idPattern != nil && pattern == nil { continue }
                byType[selector.type, default: []].append((entry, pattern))
            }
        }
    }

    /// The subscriptions whose `entities` select `entity` (by id and type, id pattern, or any),
    /// with their filters.
    func candidates(_ entity: NGSIEntity) -> [Entry] {
        var found = [Entry]()
        func take(_ entry: Entry) {
            guard !found.contains(where: { $0 === entry }) else { return }
            found.append(entry)
        }
        for (entry, type) in byID[entity.id.rawValue] ?? [] where type == entity.type { take(entry) }
        for (entry, pattern) in byType[entity.type] ?? [] {
            if let pattern {
                guard (try? pattern.wholeMatch(in: entity.id.rawValue)) != nil else { continue }
            }
            take(entry)
        }
        for entry in anyEntity { take(entry) }
        return found
    }

    var isEmpty: Bool { subscriptions.isEmpty }
}
