import KakehashiModel

/// One tenant's subscriptions, indexed by what their `entities` select, so that a change is
/// matched against the few that may concern it rather than every one: by entity id, by type
/// (with id patterns compiled once), and those that select any entity (`watchedAttributes` only).
struct SubscriptionIndex {
    private(set) var subscriptions: [String: Subscription] = [:]
    private var byID: [String: [String]] = [:]
    private var byType: [String: [(subscription: String, pattern: Regex<AnyRegexOutput>?)]] = [:]
    private var anyEntity: [String] = []

    init(_ list: [Subscription]) {
        for subscription in list { add(subscription) }
    }

    private mutating func add(_ subscription: Subscription) {
        subscriptions[subscription.id] = subscription
        guard !subscription.entities.isEmpty else {
            anyEntity.append(subscription.id)
            return
        }
        for selector in subscription.entities {
            if let id = selector.id {
                byID[id, default: []].append(subscription.id)
            } else {
                let pattern = selector.idPattern.flatMap { try? Regex($0) }
                // A pattern that no longer compiles selects nothing (it was checked when kept).
                if selector.idPattern != nil && pattern == nil { continue }
                byType[selector.type, default: []].append((subscription.id, pattern))
            }
        }
    }

    /// The subscriptions whose `entities` select `entity` (by id and type, id pattern, or any).
    func candidates(_ entity: NGSIEntity) -> [Subscription] {
        var ids = Set<String>()
        var found = [Subscription]()
        func take(_ id: String) {
            guard ids.insert(id).inserted, let subscription = subscriptions[id] else { return }
            found.append(subscription)
        }
        for id in byID[entity.id.rawValue] ?? [] {
            if subscriptions[id]?.entities.contains(where: { $0.id == entity.id.rawValue && $0.type == entity.type }) == true { take(id) }
        }
        for entry in byType[entity.type] ?? [] {
            if let pattern = entry.pattern {
                guard (try? pattern.wholeMatch(in: entity.id.rawValue)) != nil else { continue }
            }
            take(entry.subscription)
        }
        for id in anyEntity { take(id) }
        return found
    }

    var isEmpty: Bool { subscriptions.isEmpty }
}
