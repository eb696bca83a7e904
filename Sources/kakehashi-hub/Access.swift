import ArgumentParser
import Foundation
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiModel
import Logging

/// Loads the configuration named by `--config`, or fails with its problems.
func loadConfiguration(_ file: String) throws -> HubConfiguration {
    do { return try HubConfiguration.load(file: file, secrets: .deferred) } catch {
        throw CommandFailure("the configuration has problems:\n\(error)")
    }
}

/// The configuration named by `--config` and the access tables of its database.
func openAccess(_ options: ConfigOption) throws -> (HubConfiguration, any AccessRecords) {
    let configuration = try loadConfiguration(options.config)
    return (configuration, try openAccess(configuration))
}

/// The access tables of `configuration`'s database (the SQLite file, or PostgreSQL).
func openAccess(_ configuration: HubConfiguration) throws -> any AccessRecords {
    try accessCall { try Hub.openAccess(configuration, logger: Logger(label: "kakehashi.hub")) }
}

/// Fails for a command not built for `storage.kind: postgres` yet.
func refuseOnPostgres(_ configuration: HubConfiguration, _ command: String) throws {
    if case .postgres = configuration.storageKind {
        throw CommandFailure("\(command) works on SQLite storage only so far; this hub keeps its data in PostgreSQL (storage.kind: postgres)")
    }
}

/// A tenant named on the command line.
func parseTenant(_ text: String, _ field: String) throws -> Tenant {
    do { return try Tenant(text, field: field) } catch { throw ValidationError("\(error)") }
}

/// Runs a storage call, turning its failure into the command's error.
func accessCall<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch { throw CommandFailure("\(error)") }
}

/// `kakehashi-hub tenant add|list`
struct TenantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant",
        abstract: "Add and list the tenants (cities) that share this hub.",
        discussion: """
            Tenants added here are kept in the hub database beside those of the configuration file; a running \
            hub serves them from its next request on (no restart).
            """,
        subcommands: [Add.self, List.self, Export.self, Delete.self]
    )

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy all of a tenant's data into a new SQLite file (the hub's schema, only its rows).",
            discussion: "The file can be handed to the city, archived, or served by a hub of its own. The hub may keep running."
        )
        @OptionGroup var options: ConfigOption
        @Argument(help: "The tenant.")
        var name: String
        @Option(help: "The new file to write.")
        var to: String

        func run() throws {
            let configuration = try loadConfiguration(options.config)
            let tenant = try parseTenant(name, "NAME")
            try refuseOnPostgres(configuration, "tenant export")
            let counts = try accessCall { try TenantArchive.export(tenant, configuration: configuration, to: to) }
            print("\(tenant) exported to \(to): " + counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a tenant with all its data, keys, gateways and grants.",
            discussion: """
                Export it first if the data is to be kept. With storage.separation per_tenant its file is removed:                 stop the hub \
                first. A tenant of the configuration file must also be removed from it.
                """
        )
        @OptionGroup var options: ConfigOption
        @Argument(help: "The tenant.")
        var name: String
        @Flag(help: "Confirm: this cannot be undone.")
        var yes = false

        func run() throws {
            let configuration = try loadConfiguration(options.config)
            let tenant = try parseTenant(name, "NAME")
            guard yes else { throw ValidationError("deleting \(tenant) removes all its data: add --yes to confirm (export it first to keep a copy)") }
            try refuseOnPostgres(configuration, "tenant delete")
            let store = try openAccess(configuration)
            let accounts = GatewayAccounts(configuration: configuration, records: store)
            let theirs = try accessCall { try store.gateways() }.filter { $0.tenant == tenant }.map(\.gateway)
            let counts = try accessCall { try TenantArchive.delete(tenant, configuration: configuration) }
            // Its gateways can no longer log in to the central broker.
            if let files = try accessCall({ try accounts.withdraw(theirs, of: tenant) }) {
                print(
                    "broker users \(theirs.map(\.rawValue).joined(separator: ", ")) removed from \(files.passwordFile) and the ACL: reload the broker"
                )
            }
            print(
                "\(tenant) deleted: "
                    + counts.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            )
            if configuration.tenants[tenant] != nil { print("\(tenant) is still in the configuration file: remove it there too") }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a tenant.")
        @OptionGroup var options: ConfigOption
        @Argument(help: "The tenant's name: lower-case letters, digits and '-' (it appears in entity ids and topics), e.g. kurume.")
        var name: String
        @Option(help: "A name for people, e.g. 久留米市.")
        var display: String?

        func run() throws {
            let (configuration, store) = try openAccess(options)
            let tenant = try parseTenant(name, "NAME")
            if configuration.tenants[tenant] != nil { throw CommandFailure("tenant \(tenant) is in the configuration file already") }
            try accessCall { try store.addTenant(tenant, display: display) }
            print("tenant \(tenant) added; next: kakehashi-hub key create --config \(options.config) --tenant \(tenant) --role admin")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tenants and their gateways.")
        @OptionGroup var options: ConfigOption

        func run() throws {
            let (configuration, store) = try openAccess(options)
            let added = try accessCall { try store.tenants() }
            print("TENANT\tSOURCE\tGATEWAYS\tNAME")
            for (tenant, settings) in configuration.tenants.sorted(by: { $0.key < $1.key }) {
                print("\(tenant)\tconfiguration\t\(settings.gateways.map(\.rawValue).sorted().joined(separator: ","))\t")
            }
            for row in added {
                print("\(row.tenant)\tadded \(row.created.iso8601)\t\(row.gateways.map(\.rawValue).joined(separator: ","))\t\(row.display ?? "")")
            }
        }
    }
}

/// `kakehashi-hub gateway add|list`
struct GatewayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Register gateways, with their broker login and ACL.",
        subcommands: [Add.self, List.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a gateway of a tenant, and let it publish on the central broker.",
            discussion: """
                Writes the gateway's user (its id) with a new random password into the broker password file \
                (with mosquitto_passwd) and rewrites the ACL so that it may publish only under \
                kakehashi/v1/<tenant>/<gateway>/#. Both files are named in the configuration \
                (access.broker_password_file, access.broker_acl_file). Reload the broker afterwards \
                (systemctl reload mosquitto). The password is printed once, with the lines for the gateway's \
                configuration.
                """
        )
        @OptionGroup var options: ConfigOption
        @Option(help: "The tenant the gateway belongs to.")
        var tenant: String
        @Argument(help: "The gateway's id, unique on this hub, e.g. gw-kurume-01.")
        var id: String
        @Option(
            name: .customLong("password-env"),
            help: ArgumentHelp("Take the broker password from this environment variable instead of generating one.", valueName: "NAME")
        )
        var passwordEnvironment: String?

        func run() throws {
            let configuration = try loadConfiguration(options.config)
            let tenantName: Tenant, gateway: GatewayID
            do {
                tenantName = try Tenant(tenant, field: "--tenant")
                gateway = try GatewayID(id, field: "ID")
            } catch { throw ValidationError(error.description) }
            let store = try openAccess(configuration)
            let accounts = GatewayAccounts(configuration: configuration, records: store)
            _ = try accessCall { try accounts.brokerFiles() }
            var password = BrokerAccessFiles.generatePassword()
            if let name = passwordEnvironment {
                guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                    throw CommandFailure("environment variable \(name) is empty or not set")
                }
                password = value
            }
            let files = try accessCall { try accounts.register(gateway, tenant: tenantName, password: password) }
            let shown = passwordEnvironment == nil ? password : "(the value of $\(passwordEnvironment!))"
            print(
                """
                gateway \(gateway) of \(tenantName) registered: broker user \(gateway) in \(files.passwordFile), ACL in \(files.aclFile)
                (it may publish only under kakehashi/v1/\(tenantName)/\(gateway)/#).
                Reload the broker (systemctl reload mosquitto), then give the gateway these settings (gateway.yaml):

                  tenant: \(tenantName)
                  gateway: \(gateway)
                  central:
                    host: <this hub's broker address>
                    port: 8883
                    username: \(gateway)
                    password_env: KAKEHASHI_CENTRAL_PASSWORD
                    tls: { ca_file: /etc/kakehashi/ca.pem }

                and in its environment (e.g. the systemd unit's EnvironmentFile):

                  KAKEHASHI_CENTRAL_PASSWORD=\(shown)

                The password is shown only now.
                """
            )
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the registered gateways.")
        @OptionGroup var options: ConfigOption

        func run() throws {
            let (configuration, store) = try openAccess(options)
            print("TENANT\tGATEWAY\tSOURCE")
            for (tenant, settings) in configuration.tenants.sorted(by: { $0.key < $1.key }) {
                for gateway in settings.gateways.sorted(by: { $0.rawValue < $1.rawValue }) { print("\(tenant)\t\(gateway)\tconfiguration") }
            }
            for (tenant, gateway) in try accessCall({ try store.gateways() }) { print("\(tenant)\t\(gateway)\tadded") }
        }
    }
}

/// `kakehashi-hub key create|list|revoke`
struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Create, list and revoke API keys.",
        discussion: """
            Every HTTP route and feed but /healthz needs a key: `Authorization: Bearer kk_…`, or the dashboard's \
            login. Roles: reader (queries, feeds, dashboard), operator (also acknowledges its tenant's alerts \
            and posts readings), admin (also /metrics), gateway (only posts readings). Only a salted hash is \
            kept: a lost key is revoked and replaced.
            """,
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key and print it (once).")
        @OptionGroup var options: ConfigOption
        @Option(help: "The tenant the key acts for.")
        var tenant: String
        @Option(help: "reader, operator, admin or gateway.")
        var role: String
        @Option(help: "Who or what holds it, e.g. \"disaster office wall screen\".")
        var label: String?
        @Option(help: ArgumentHelp("When it stops working: a time (2027-03-31T00:00:00+09:00) or a span from now (90d, 12h).", valueName: "when"))
        var expires: String?

        func run() throws {
            let configuration = try loadConfiguration(options.config)
            let tenantName = try parseTenant(tenant, "--tenant")
            guard let accessRole = AccessRole(rawValue: role) else {
                throw ValidationError("--role is one of \(AccessRole.allCases.map(\.rawValue).joined(separator: ", ")), not '\(role)'")
            }
            let expiry = try expires.map(Self.parseExpiry)
            let store = try openAccess(configuration)
            let (secret, record) = try accessCall {
                try store.createKey(
                    tenant: tenantName,
                    role: accessRole,
                    label: label,
                    expires: expiry,
                    knownTenants: Set(configuration.tenants.keys)
                )
            }
            print(secret)
            FileHandle.standardError.write(
                Data(
                    """
                    key \(record.id): \(accessRole) of \(tenantName)\(expiry.map { ", expires \($0.iso8601)" } ?? ""). It is shown only now; \
                    use it as `Authorization: Bearer <key>` or log in to the dashboard with it.\n
                    """.utf8
                )
            )
        }

        static func parseExpiry(_ text: String) throws -> Timestamp {
            if let unit = text.last, let amount = Int64(text.dropLast()), amount > 0, let seconds = ["d": 86_400, "h": 3_600, "m": 60][unit] {
                return Timestamp(millisecondsSinceEpoch: Timestamp(Date()).millisecondsSinceEpoch + amount * Int64(seconds) * 1000)
            }
            do { return try Timestamp(iso8601: text, field: "--expires") } catch {
                throw ValidationError("--expires is a time with its zone (2027-03-31T00:00:00+09:00) or a span like 90d, 12h, 30m: \(error)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var options: ConfigOption
        @Option(help: "Only this tenant's keys.")
        var tenant: String?

        func run() throws {
            let (_, store) = try openAccess(options)
            let filter = try tenant.map { try parseTenant($0, "--tenant") }
            let now = Timestamp(Date())
            print("ID\tTENANT\tROLE\tSTATE\tCREATED\tEXPIRES\tLABEL")
            for key in try accessCall({ try store.keys(tenant: filter) }) {
                let state = key.revoked != nil ? "revoked" : (key.expires.map { $0 <= now } == true ? "expired" : "active")
                print("\(key.id)\t\(key.tenant)\t\(key.role)\t\(state)\t\(key.created.iso8601)\t\(key.expires?.iso8601 ?? "-")\t\(key.label ?? "")")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a key: a running hub refuses it from its next request on and closes its open feeds."
        )
        @OptionGroup var options: ConfigOption
        @Argument(help: "The key's id (the 12 hex digits after kk_, as `key list` shows).")
        var id: String

        func run() throws {
            let (_, store) = try openAccess(options)
            try accessCall { try store.revokeKey(id: id) }
            print("key \(id) revoked")
        }
    }
}

/// `kakehashi-hub share grant|list|revoke`
struct ShareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "share",
        abstract: "Let one tenant read another's entities of a type (optionally in an area, or as hourly aggregates only).",
        discussion: """
            Shared entities appear in the grantee's entity queries, temporal queries by id, map feed and alert feed, \
            marked with sharedBy (the owner). Revoking takes effect on the next request, and open feeds stop \
            carrying the owner's alerts within a second.
            """,
        subcommands: [Grant.self, List.self, Revoke.self]
    )

    struct Grant: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Share an owner's entities of one type with another tenant.")
        @OptionGroup var options: ConfigOption
        @Option(help: "The tenant whose data is shared (the owner).")
        var from: String
        @Option(help: "The tenant that may read it (the grantee).")
        var to: String
        @Option(help: "The entity type shared, e.g. WaterObserved.")
        var type: String
        @Option(
            help: ArgumentHelp(
                "Only entities inside this polygon: a GeoJSON Polygon, its coordinates, or a file holding either.",
                valueName: "polygon"
            )
        )
        var area: String?
        @Option(help: "full (latest values, history, alerts) or hourly (hourly aggregates only, no alerts).")
        var precision: String = "full"

        func run() throws {
            let configuration = try loadConfiguration(options.config)
            let owner: Tenant, grantee: Tenant
            do {
                owner = try Tenant(from, field: "--from")
                grantee = try Tenant(to, field: "--to")
            } catch { throw ValidationError("\(error)") }
            guard let level = ShareGrant.Precision(rawValue: precision) else {
                throw ValidationError("--precision is full or hourly, not '\(precision)'")
            }
            var polygon: [GeoPoint]?
            if let area {
                let text = FileManager.default.fileExists(atPath: area) ? ((try? String(contentsOfFile: area, encoding: .utf8)) ?? "") : area
                do { polygon = try ShareGrant.area(parsing: text) } catch { throw ValidationError("--area: \(error)") }
            }
            let store = try openAccess(configuration)
            let grant = try accessCall {
                try store.grant(
                    owner: owner,
                    grantee: grantee,
                    type: type,
                    area: polygon,
                    precision: level,
                    knownTenants: Set(configuration.tenants.keys)
                )
            }
            print("grant \(grant.id): \(grantee) reads \(owner)'s \(type)\(polygon == nil ? "" : " inside the area") (\(level))")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List grants.")
        @OptionGroup var options: ConfigOption
        @Option(help: "Only grants from or to this tenant.")
        var tenant: String?

        func run() throws {
            let (_, store) = try openAccess(options)
            let filter = try tenant.map { try parseTenant($0, "--tenant") }
            print("ID\tOWNER\tGRANTEE\tTYPE\tAREA\tPRECISION\tSTATE")
            for grant in try accessCall({ try store.grants(involving: filter) }) {
                let state = grant.revoked.map { "revoked \($0.iso8601)" } ?? "active"
                let area = grant.area.map { "\($0.count - 1) corners" } ?? "everywhere"
                print("\(grant.id)\t\(grant.owner)\t\(grant.grantee)\t\(grant.type)\t\(area)\t\(grant.precision)\t\(state)")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End a grant at once (open feeds included).")
        @OptionGroup var options: ConfigOption
        @Argument(help: "The grant's id (see `share list`).")
        var id: Int64

        func run() throws {
            let (_, store) = try openAccess(options)
            try accessCall { try store.revokeGrant(id: id) }
            print("grant \(id) revoked")
        }
    }
}
