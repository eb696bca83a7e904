import KakehashiModel

/// The gateways a hub accepts batches from, and their logins on the central broker: the
/// configuration file's gateways plus those registered at run time (``AccessRecords``), kept in
/// step with the broker's password file and ACL (``BrokerAccessFiles``) whenever one is added
/// or a tenant's are withdrawn.
public struct GatewayAccounts: Sendable {
    public let configuration: HubConfiguration
    public let records: any AccessRecords

    /// Why a change was refused.
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public init(configuration: HubConfiguration, records: any AccessRecords) {
        self.configuration = configuration
        self.records = records
    }

    /// Every gateway with its tenant: the configuration file's, then the registered ones.
    public func all() throws(StorageError) -> [(tenant: Tenant, gateway: GatewayID)] {
        var all = [(tenant: Tenant, gateway: GatewayID)]()
        for (tenant, settings) in configuration.tenants.sorted(by: { $0.key < $1.key }) {
            all += settings.gateways.sorted { $0.rawValue < $1.rawValue }.map { (tenant, $0) }
        }
        return all + (try records.gateways())
    }

    /// The broker files named by the configuration, or why there are none.
    public func brokerFiles() throws(Refusal) -> BrokerAccessFiles {
        guard let files = configuration.brokerAccessFiles else {
            throw Refusal("the configuration names no broker files: set access.broker_password_file and access.broker_acl_file")
        }
        return files
    }

    /// Registers `gateway` for `tenant`, writes its broker login with `password` and rewrites the
    /// ACL so that it may publish only under its own topics. Returns the files written (the broker
    /// must be reloaded).
    @discardableResult
    public func register(_ gateway: GatewayID, tenant: Tenant, password: String) throws -> BrokerAccessFiles {
        let files = try brokerFiles()
        if configuration.tenants.values.contains(where: { $0.gateways.contains(gateway) }) {
            throw Refusal("gateway \(gateway) is in the configuration file already")
        }
        try records.addGateway(gateway, tenant: tenant)
        try files.setPassword(user: gateway.rawValue, password: password)
        try files.writeACL(gateways: try all())
        return files
    }

    /// Once `tenant` is deleted: removes the broker logins of its registered `gateways` and
    /// rewrites the ACL from the other tenants' gateways (a deleted tenant still in the
    /// configuration file gets no ACL lines). Nothing is written when `gateways` is empty or the
    /// configuration names no broker files; returns the files written.
    @discardableResult
    public func withdraw(_ gateways: [GatewayID], of tenant: Tenant) throws -> BrokerAccessFiles? {
        guard let files = configuration.brokerAccessFiles, !gateways.isEmpty else { return nil }
        let remaining = try all().filter { $0.tenant != tenant && !gateways.contains($0.gateway) }
        for gateway in gateways { try files.removeUser(gateway.rawValue) }
        try files.writeACL(gateways: remaining)
        return files
    }
}
