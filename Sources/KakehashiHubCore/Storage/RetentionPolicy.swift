import KakehashiModel

/// How long raw observations and rollups are kept, per tenant and entity type.
///
/// ```swift
/// var policy = RetentionPolicy(default: .init(raw: .days(90), minute: .days(400), hour: nil))
/// policy.set(.init(raw: .days(30), minute: .days(400), hour: nil), tenant: kurume, type: "WaterObserved")
/// policy.rule(tenant: kurume, type: "WaterObserved").raw  // 30 days
/// ```
public struct RetentionPolicy: Sendable, Hashable {
    /// Ages in milliseconds; nil keeps forever.
    public struct Rule: Sendable, Hashable {
        /// Age after which raw observations are deleted.
        public var raw: Int64?
        /// Age after which per-minute rollups are deleted.
        public var minute: Int64?
        /// Age after which per-hour rollups are deleted.
        public var hour: Int64?

        /// Creates a rule.
        public init(raw: Int64? = nil, minute: Int64? = nil, hour: Int64? = nil) {
            self.raw = raw
            self.minute = minute
            self.hour = hour
        }

        /// Keep everything.
        public static let forever = Rule()

        /// `days` days in milliseconds.
        public static func days(_ days: Int64) -> Int64 { days * 86_400_000 }

        /// The age limit for a rollup resolution.
        public func limit(for resolution: RollupResolution) -> Int64? {
            switch resolution {
            case .minute: minute
            case .hour: hour
            }
        }
    }

    /// Where a rule applies: a tenant, an entity type, or both.
    public struct Scope: Sendable, Hashable {
        /// The tenant, or every tenant.
        public let tenant: Tenant?
        /// The entity type, or every type.
        public let type: String?

        /// Creates a scope.
        public init(tenant: Tenant?, type: String?) {
            self.tenant = tenant
            self.type = type
        }
    }

    /// The rule where no other applies.
    public var defaultRule: Rule
    /// Rules for scopes; the most specific wins (tenant and type, then type, then tenant).
    public private(set) var rules: [Scope: Rule] = [:]

    /// A policy with a default rule.
    public init(default defaultRule: Rule = .forever) {
        self.defaultRule = defaultRule
    }

    /// Sets the rule of a scope.
    public mutating func set(_ rule: Rule, tenant: Tenant?, type: String?) {
        rules[Scope(tenant: tenant, type: type)] = rule
    }

    /// The rule for the series of one tenant and entity type.
    public func rule(tenant: Tenant, type: String) -> Rule {
        rules[Scope(tenant: tenant, type: type)] ?? rules[Scope(tenant: nil, type: type)]
            ?? rules[Scope(tenant: tenant, type: nil)] ?? defaultRule
    }

    /// The oldest observation time still stored at `now`, or nil when raw data is kept forever.
    public func oldestRaw(tenant: Tenant, type: String, now: Timestamp) -> Timestamp? {
        rule(tenant: tenant, type: type).raw.map { now.advanced(byMilliseconds: -$0) }
    }
}
