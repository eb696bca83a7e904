import Foundation
import KakehashiHubCore
import KakehashiModel
import Logging
import PostgresNIO
import Synchronization

/// The hub's ``ObservationStore`` over PostgreSQL (postgres-nio), so that several hub processes
/// can share one database. Every ingest is one transaction: readings inserted with
/// `ON CONFLICT DO NOTHING` (each (series, observedAt) once, whichever hub stores it), rollups
/// fed only by the rows that insert returned, entities created by an insert that does nothing
/// when another got there first and then merged under a row lock taken in id order (two hubs
/// writing one entity wait for each other instead of losing a merge).
///
/// ```swift
/// let store = try await PostgresStore.open(.init(url: "postgres://hub@db.example.lg.jp/kakehashi"), logger: logger)
/// let result = try await store.ingest(batch)
/// await store.close()
/// ```
public final class PostgresStore: ObservationStore, Sendable {
    /// Where and how to connect.
    public struct Settings: Sendable {
        /// `postgres://user@host:port/database` (a password in the URL is used too, but keep it
        /// in `password` from the environment instead).
        public var url: String
        public var password: String?
        /// Connections kept at most.
        public var poolSize: Int
        /// TLS: required (verifying the server's certificate) or off.
        public var tls: Bool
        /// Dead letters kept at most.
        public var deadLetterLimit: Int
        /// Per tenant, the entity types the alert rules watch: a stored batch's entities of
        /// these types are put in `alert_inbox` for the hub that holds their partition.
        public var watchedTypes: [Tenant: Set<String>]

        public init(
            url: String,
            password: String? = nil,
            poolSize: Int = 10,
            tls: Bool = false,
            deadLetterLimit: Int = 1000,
            watchedTypes: [Tenant: Set<String>] = [:]
        ) {
            self.url = url
            self.password = password
            self.poolSize = poolSize
            self.tls = tls
            self.deadLetterLimit = deadLetterLimit
            self.watchedTypes = watchedTypes
        }
    }

    /// Dead-letter payloads are kept whole up to this many bytes (as on SQLite).
    static let deadLetterPayloadLimit = 16 << 20

    let client: PostgresClient
    let logger: Logger
    let settings: Settings
    private let running: Task<Void, Never>
    /// Month partitions known to exist (made by this process or found).
    let partitions = Mutex<Set<String>>([])
    let lastMaintenance = Mutex<ContinuousClock.Instant?>(nil)

    private init(client: PostgresClient, settings: Settings, logger: Logger) {
        self.client = client
        self.settings = settings
        self.logger = logger
        running = Task { await client.run() }
    }

    /// Connects, checks that the server answers and applies the migrations not yet applied
    /// (under an advisory lock, so hubs starting together migrate once).
    public static func open(_ settings: Settings, logger: Logger) async throws(StorageError) -> PostgresStore {
        let configuration: PostgresClient.Configuration
        do {
            configuration = try Self.configuration(settings)
            try await Self.probe(settings, logger: logger)
        } catch {
            throw StorageError("opening \(Self.redacted(settings.url))", cause: Self.describe(error))
        }
        let store = PostgresStore(client: PostgresClient(configuration: configuration), settings: settings, logger: logger)
        do {
            try await store.migrate()
        } catch {
            await store.close()
            throw StorageError("opening \(Self.redacted(settings.url))", cause: Self.describe(error))
        }
        return store
    }

    /// Closes the connections.
    public func close() async {
        running.cancel()
        _ = await running.value
    }

    /// What the URL of `settings` names.
    struct Target {
        let host: String
        let port: Int
        let user: String
        let password: String?
        let database: String?
        let tls: Bool
    }

    static func target(_ settings: Settings) throws -> Target {
        guard let components = URLComponents(string: settings.url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty
        else {
            throw PostgresURLError(url: redacted(settings.url))
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        return Target(
            host: host,
            port: components.port ?? 5432,
            user: components.user ?? "postgres",
            password: settings.password ?? components.password,
            database: database.isEmpty ? nil : database,
            tls: settings.tls
        )
    }

    /// The client configuration of `settings` (the URL parsed).
    public static func configuration(_ settings: Settings) throws -> PostgresClient.Configuration {
        let target = try target(settings)
        var configuration = PostgresClient.Configuration(
            host: target.host,
            port: target.port,
            username: target.user,
            password: target.password,
            database: target.database,
            tls: target.tls ? .require(.makeClientConfiguration()) : .disable
        )
        configuration.options.maximumConnections = max(1, settings.poolSize)
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }

    /// The configuration of a connection of its own (outside the pool) to what `settings` names.
    static func connectionConfiguration(_ settings: Settings) throws -> PostgresConnection.Configuration {
        let target = try target(settings)
        var configuration = PostgresConnection.Configuration(
            host: target.host,
            port: target.port,
            username: target.user,
            password: target.password,
            database: target.database,
            tls: target.tls ? .require(try .init(configuration: .makeClientConfiguration())) : .disable
        )
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }

    /// Connects once, outside the pool (which would retry a refused connection for a minute), so
    /// that a wrong address, password or database is said at once.
    static func probe(_ settings: Settings, logger: Logger) async throws {
        let connection = try await PostgresConnection.connect(configuration: try connectionConfiguration(settings), id: 0, logger: logger)
        try await connection.close()
    }

    /// `url` without its password.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }

    /// A PostgreSQL error as the server said it (postgres-nio hides it from `description`).
    public static func describe(_ error: any Error) -> String {
        if let error = error as? PostgresTransactionError {
            if let inner = error.closureError ?? error.beginError ?? error.commitError { return describe(inner) }
            return error.rollbackError.map { "rolling back: " + describe($0) } ?? "\(error)"
        }
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                let code = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                return message + code
            }
            return "\(error.code)" + (error.underlying.map { ": \($0)" } ?? "")
        }
        return "\(error)"
    }

    /// Runs `body` in one transaction, errors as ``StorageError``. A transaction the server
    /// ended to break a deadlock or a serialization conflict (another hub writing the same rows)
    /// is run again, up to 5 times.
    func transaction<T: Sendable>(
        _ operation: @autoclosure () -> String,
        _ body: (PostgresConnection) async throws -> T
    ) async throws(StorageError) -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
            } catch {
                if attempt < 5, Self.isTransient(error) {
                    logger.notice(
                        "a transaction met another hub's and is run again",
                        metadata: ["operation": "\(operation())", "attempt": "\(attempt)"]
                    )
                    continue
                }
                throw StorageError(operation(), cause: Self.describe(error))
            }
        }
    }

    /// Whether `error` is a deadlock or serialization failure (SQLSTATE 40P01, 40001).
    static func isTransient(_ error: any Error) -> Bool {
        if let error = error as? PostgresTransactionError, let inner = error.closureError ?? error.commitError { return isTransient(inner) }
        guard let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40P01" || state == "40001"
    }

    /// Runs `body` with a connection, errors as ``StorageError``.
    func reading<T: Sendable>(
        _ operation: @autoclosure () -> String,
        _ body: (PostgresConnection) async throws -> T
    ) async throws(StorageError) -> T {
        do {
            return try await client.withConnection { connection in try await body(connection) }
        } catch {
            throw StorageError(operation(), cause: Self.describe(error))
        }
    }

    // MARK: Schema

    private func migrate() async throws {
        try await client.withConnection { connection in try await Self.migrate(connection, logger: logger) }
    }

    /// Applies the migrations not yet applied, in one transaction under an advisory lock (hubs
    /// and commands starting together migrate once).
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(7408163)", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS kakehashi_schema(version integer NOT NULL)", logger: logger)
            var applied: Int?
            for try await (version, ) in try await connection.query("SELECT version FROM kakehashi_schema", logger: logger).decode((Int,).self) {
                applied = version
            }
            if applied == nil { try await connection.query("INSERT INTO kakehashi_schema VALUES (0)", logger: logger) }
            let from = applied ?? 0
            guard from < PostgresSchema.migrations.count else { return }
            for migration in PostgresSchema.migrations[from...] {
                for statement in migration.components(separatedBy: ";\n") where !statement.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            }
            let version = PostgresSchema.migrations.count
            try await connection.query("UPDATE kakehashi_schema SET version = \(version)", logger: logger)
        }
    }

    /// Makes the month partitions of `times` that this process has not seen yet (several hubs
    /// may race to make one: `IF NOT EXISTS`, and a lost race's error is retried once).
    func ensurePartitions(for times: some Sequence<Int64>) async throws {
        var wanted = [String: (from: Int64, to: Int64)]()
        let known = partitions.withLock { $0 }
        for t in times {
            let partition = PostgresSchema.partition(of: t)
            if !known.contains(partition.name) && wanted[partition.name] == nil { wanted[partition.name] = (partition.from, partition.to) }
        }
        for (name, bounds) in wanted.sorted(by: { $0.key < $1.key }) {
            let sql = "CREATE TABLE IF NOT EXISTS \(name) PARTITION OF observations FOR VALUES FROM (\(bounds.from)) TO (\(bounds.to))"
            do {
                try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            } catch {
                // Another hub made it between the check and the creation.
                try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            }
            partitions.withLock { _ = $0.insert(name) }
        }
    }

    /// The month partitions of `observations`, by name.
    func partitionNames() async throws(StorageError) -> [String] {
        try await reading("listing partitions") { connection in
            let rows = try await connection.query(
                """
                SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'observations'::regclass ORDER BY 1
                """,
                logger: logger
            )
            var names = [String]()
            for try await (name, ) in rows.decode((String,).self) { names.append(name) }
            return names
        }
    }

    // MARK: Housekeeping

    public func statistics() async throws(StorageError) -> StoreStatistics {
        try await reading("counting rows") { connection in
            var statistics = StoreStatistics()
            let rows = try await connection.query(
                """
                SELECT (SELECT count(*) FROM entities), (SELECT count(*) FROM series), (SELECT count(*) FROM observations),
                  (SELECT count(*) FROM deadletters)
                """,
                logger: logger
            )
            for try await (entities, series, observations, deadLetters) in rows.decode((Int, Int, Int, Int).self) {
                statistics.entities = entities
                statistics.series = series
                statistics.observations = observations
                statistics.deadLetters = deadLetters
            }
            return statistics
        }
    }

    public func check() async throws(StorageError) {
        _ = try await reading("checking the database") { connection in
            try await connection.query("SELECT 1", logger: logger)
            return true
        }
    }

    /// Nothing to do between writes (PostgreSQL checkpoints and vacuums by itself).
    /// Forgets the sequence numbers of gateway batches stored over an hour ago (at most once a minute).
    public func maintain() async throws(StorageError) {
        let due = lastMaintenance.withLock { last in
            guard last.map({ ContinuousClock.now - $0 > .seconds(60) }) ?? true else { return false }
            last = .now
            return true
        }
        guard due else { return }
        _ = try await transaction("forgetting old batch sequence numbers") { connection in
            try await connection.query(
                "DELETE FROM alert_sequences WHERE stored < (extract(epoch from clock_timestamp()) * 1000)::int8 - 3600000",
                logger: logger
            )
            return true
        }
    }
}

/// A storage URL that is not `postgres://host…`.
struct PostgresURLError: Error, CustomStringConvertible {
    let url: String
    var description: String { "\(url) is not a PostgreSQL URL (postgres://user@host:port/database)" }
}
