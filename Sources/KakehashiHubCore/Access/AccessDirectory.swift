import Foundation
import KakehashiModel
import Synchronization

/// The running hub's view of tenants, gateways and keys: the configuration file's tenants plus
/// those added with `kakehashi-hub tenant add`, and the keys, reloaded from the database when
/// `access_version` moves (checked on each use: one indexed row), so a key created or revoked
/// by the command line takes effect on the next request.
public final class AccessDirectory: Sendable {
    public let store: (any AccessRecords)?
    let configured: [Tenant: HubConfiguration.TenantSettings]
    let now: @Sendable () -> Timestamp

    private struct State {
        var snapshot = AccessSnapshot()
        var tenants: [Tenant: HubConfiguration.TenantSettings] = [:]
        /// When the version was last compared (monotonic).
        var checked = ContinuousClock.now
    }
    private let state: Mutex<State>

    /// A directory of the configured tenants only (no keys can be checked: every key is refused).
    public convenience init(tenants: [Tenant: HubConfiguration.TenantSettings]) {
        self.init(store: nil, configured: tenants)
    }

    public init(
        store: (any AccessRecords)?,
        configured: [Tenant: HubConfiguration.TenantSettings],
        now: @escaping @Sendable () -> Timestamp = { Timestamp(Date()) }
    ) {
        self.store = store
        self.configured = configured
        self.now = now
        var initial = State()
        initial.tenants = configured
        if let store, let snapshot = try? store.snapshot() {
            initial.snapshot = snapshot
            initial.tenants = Self.merge(configured, snapshot)
        }
        state = Mutex(initial)
    }

    static func merge(
        _ configured: [Tenant: HubConfiguration.TenantSettings],
        _ snapshot: AccessSnapshot
    ) -> [Tenant: HubConfiguration.TenantSettings] {
        var tenants = configured
        for (tenant, gateways) in snapshot.tenants { tenants[tenant, default: .init()].gateways.formUnion(gateways) }
        return tenants
    }

    /// Reloads when the stored version moved. The version is one row read on the directory's
    /// own connection, so a change made by the command line counts from the next request.
    func refresh() {
        guard let store else { return }
        state.withLock { $0.checked = .now }
        guard let version = try? store.version() else { return }
        guard version != state.withLock({ $0.snapshot.version }), let snapshot = try? store.snapshot() else { return }
        state.withLock { state in
            state.snapshot = snapshot
            state.tenants = Self.merge(configured, snapshot)
        }
    }

    /// Every tenant served now.
    public var tenants: [Tenant: HubConfiguration.TenantSettings] {
        refresh()
        return state.withLock { $0.tenants }
    }

    /// A tenant's settings, or nil when the hub does not serve it.
    public func settings(of tenant: Tenant) -> HubConfiguration.TenantSettings? {
        refresh()
        return state.withLock { $0.tenants[tenant] }
    }

    /// Whether `gateway` may send batches for `tenant`.
    public func accepts(gateway: GatewayID, tenant: Tenant) -> Bool {
        settings(of: tenant)?.gateways.contains(gateway) == true
    }

    /// Whether a gateway's batch is admitted, decided on the access snapshot in memory: ingest
    /// reads the stored version at most once a ``ingestRecheck`` (a tenant or gateway removed
    /// stops within it), and at once when the batch names a tenant or gateway the snapshot does
    /// not know (one added counts from its first batch).
    public func admits(gateway: GatewayID, tenant: Tenant) -> Admission {
        func decide(_ state: State) -> Admission {
            guard let settings = state.tenants[tenant] else { return .unknownTenant }
            return settings.gateways.contains(gateway) ? .admitted : .unknownGateway
        }
        let (known, checked) = state.withLock { (decide($0), $0.checked) }
        if known == .admitted {
            if ContinuousClock.now - checked < Self.ingestRecheck { return known }
        }
        refresh()
        return state.withLock { decide($0) }
    }

    /// How long ingest trusts the access snapshot without reading the stored version.
    public static let ingestRecheck: Duration = .seconds(1)

    /// What ``admits(gateway:tenant:)`` decided.
    public enum Admission: Sendable, Hashable {
        case admitted
        case unknownTenant
        case unknownGateway
    }

    /// The active grants that let `grantee` read other tenants' data.
    public func grants(to grantee: Tenant) -> [ShareGrant] {
        refresh()
        return state.withLock { $0.snapshot.grants[grantee] ?? [] }
    }

    /// Why a key was refused.
    public enum Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        case malformed
        case unknown(String)
        case unusable(String)

        public var description: String {
            switch self {
            case .malformed: "the API key is not a Kakehashi key (kk_<12 hex>_<48 hex>)"
            case .unknown(let id): "no key has the id \(id)"
            case .unusable(let reason): reason
            }
        }
    }

    /// The principal of a presented key.
    public func authenticate(_ text: String) -> Result<AccessPrincipal, Refusal> {
        guard let key = APIKeySecret(text) else { return .failure(.malformed) }
        refresh()
        let record = state.withLock { $0.snapshot.keys[key.id] }
        guard let record, record.matches(key) else { return .failure(.unknown(key.id)) }
        if let reason = record.unusable(at: now()) { return .failure(.unusable(reason)) }
        return .success(AccessPrincipal(keyID: record.id, tenant: record.tenant, role: record.role))
    }

    /// Whether the key `id` is still usable (an open feed asks this on its heartbeat).
    public func isUsable(keyID id: String) -> Bool {
        refresh()
        guard let record = state.withLock({ $0.snapshot.keys[id] }) else { return false }
        return record.unusable(at: now()) == nil
    }
}
