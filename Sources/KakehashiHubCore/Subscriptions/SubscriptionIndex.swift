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

        init(_ subscription: Subscription) {
            self.subscription = subscription
            self.filters = SubscriptionFilters(subscription)
        }
    }

    private(set) var subscriptions: [String: Subscription] = [:]
    private var byID: [String: [Entry]] = [:]
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
                byID[id, default: []].append(entry)
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
        for entry in byID[entity.id.rawValue] ?? [] {
            if entry.subscription.entities.contains(where: { $0.id == entity.id.rawValue && $0.type == entity.type }) { take(entry) }
        }
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
