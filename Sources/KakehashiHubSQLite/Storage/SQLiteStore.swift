import Dispatch
import Foundation
import KakehashiHubCore
import KakehashiModel
import KakehashiSQLite
import Synchronization

/// The embedded ``ObservationStore``: one SQLite file in WAL mode.
///
/// One writer connection (batches are written in one `BEGIN IMMEDIATE` transaction each, with
/// prepared statements) and a small pool of reader connections, which WAL lets read while the
/// writer writes.
///
/// ```swift
/// let store = try SQLiteStore(path: "/var/lib/kakehashi/hub.sqlite")
/// ```
public final class SQLiteStore: ObservationStore, Sendable {
    /// How hard commits push to disk.
    public typealias Sync = StorageSync
    /// Store settings.
    public typealias Options = StorageOptions

    /// The database file.
    public let path: String
    let options: Options
    let writer: Mutex<SQLiteStoreWriter>
    private let readers = Mutex<[SQLiteConnection]>([])
    private let checkpointer = Mutex<SQLiteConnection?>(nil)
    /// Batches waiting for the writer, and the thread that writes them.
    private let pendingIngest = Mutex<[PendingIngest]>([])
    private let writerQueue = DispatchQueue(label: "kakehashi.hub.store.writer")
    /// The decoded latest state of entities, for queries.
    let cache: EntityCache
    /// This store's name in the writer mark.
    let token = UUID().uuidString
    /// The write-ahead log size (pages) at which the writer itself checkpoints.
    static let backstopCheckpointPages = 16_384

    /// Opens (creating and migrating if needed) the database at `path`.
    public init(path: String, options: Options = Options()) throws(StorageError) {
        self.path = path
        self.options = options
        let connection: SQLiteConnection
        do {
            connection = try Self.open(path: path, sync: options.sync)
            try connection.execute("PRAGMA cache_size=-\(max(options.writerCacheBytes / 1024, 64))")
            // Checkpoints run beside the writer (``maintain()``); this is only the backstop.
            try connection.execute("PRAGMA wal_autocheckpoint=\(Self.backstopCheckpointPages)")
            try connection.migrate(SQLiteStoreSchema.migrations)
            let writer = try SQLiteStoreWriter(connection: connection, deadLetterLimit: options.deadLetterLimit)
            writer.lastMark = try SQLiteStoreWriter.mark(try connection.prepare("SELECT token, n FROM writer_mark WHERE id = 1"))
            self.cache = EntityCache(version: writer.lastMark)
            self.writer = Mutex(writer)
        } catch {
            throw StorageError("opening the hub database \(path)", cause: "\(error)")
        }
    }

    /// Applies pending migrations to the database at `path` without opening a store; returns
    /// the schema version before and after.
    public static func migrate(path: String) throws(StorageError) -> (from: Int, to: Int) {
        do {
            let connection = try open(path: path, sync: .full)
            let before = try connection.userVersion
            try connection.migrate(SQLiteStoreSchema.migrations)
            return (before, try connection.userVersion)
        } catch {
            throw StorageError("migrating the hub database \(path)", cause: "\(error)")
        }
    }

    /// The schema version this program writes.
    public static var schemaVersion: Int { SQLiteStoreSchema.migrations.count }

    static func open(path: String, sync: Sync) throws(SQLiteError) -> SQLiteConnection {
        let connection = try SQLiteConnection(path: path)
        // Switching a new database to WAL takes a lock that the busy timeout does not wait for: when
        // the hub and its command line open a new database at once, one of them waits here.
        var waited = 0
        while true {
            do {
                try connection.execute("PRAGMA journal_mode=WAL")
                break
            } catch  where error.isBusy && waited < 10_000 {
                usleep(20_000)
                waited += 20
            }
        }
        try connection.execute("PRAGMA synchronous=\(sync == .full ? "FULL" : "NORMAL")")
        try connection.execute("PRAGMA temp_store=MEMORY")
        return connection
    }

    // MARK: Connections

    /// Runs `body` with the writer connection, in one transaction.
    func write<T: Sendable>(_ operation: @autoclosure () -> String, _ body: (SQLiteStoreWriter) throws -> T) throws(StorageError) -> T {
        do {
            return try writer.withLock { writer in
                do {
                    let (value, mark, foreign) = try writer.connection.transaction {
                        let (mark, foreign) = try writer.moveMark(token: token)
                        return (try body(writer), mark, foreign)
                    }
                    writer.lastMark = mark
                    cache.apply(writer.takeCacheChanges(), version: mark, foreign: foreign)
                    return value
                } catch {
                    // Caches may hold rows of the rolled-back transaction.
                    writer.forgetCaches()
                    throw error
                }
            }
        } catch {
            throw StorageError(operation(), cause: "\(error)")
        }
    }

    /// Runs `body` with a reader connection.
    func read<T: Sendable>(_ operation: @autoclosure () -> String, _ body: (SQLiteConnection) throws -> T) throws(StorageError) -> T {
        let pooled = readers.withLock { $0.popLast() }
        let connection: SQLiteConnection
        do {
            connection = try pooled ?? Self.open(path: path, sync: options.sync)
        } catch {
            throw StorageError(operation(), cause: "\(error)")
        }
        defer {
            readers.withLock { pool in
                if pool.count < options.readers { pool.append(connection) }
            }
        }
        do {
            return try body(connection)
        } catch {
            throw StorageError(operation(), cause: "\(error)")
        }
    }

    // MARK: ObservationStore

    /// Stores `batch` on the writer's own thread (a commit waits for the disk: no task thread
    /// waits with it). Batches that arrive while another is being written are written together,
    /// in one transaction (group commit: one sync for all); each caller gets its own batch's
    /// result once that transaction is committed. If it fails, each batch is tried alone, so one
    /// that cannot be stored does not hold back the others.
    public func ingest(_ batch: IngestBatch) async throws(StorageError) -> IngestResult {
        // Planned here, on the caller's thread, while the writer writes other batches.
        let plan = IngestPlan(batch)
        let outcome: Result<IngestResult, StorageError> = await withCheckedContinuation { continuation in
            pendingIngest.withLock { $0.append(PendingIngest(batch: batch, plan: plan, done: continuation)) }
            writerQueue.async { self.writePending() }
        }
        return try outcome.get()
    }

    /// A batch waiting for the writer.
    struct PendingIngest: Sendable {
        let batch: IngestBatch
        let plan: IngestPlan
        let done: CheckedContinuation<Result<IngestResult, StorageError>, Never>
    }

    /// The most batches written in one transaction.
    static let groupCommitLimit = 16

    /// Writes the waiting batches (on `writerQueue`).
    private func writePending() {
        while true {
            let group = pendingIngest.withLock { pending -> [PendingIngest] in
                let taken = Array(pending.prefix(Self.groupCommitLimit))
                pending.removeFirst(taken.count)
                return taken
            }
            guard !group.isEmpty else { return }
            func operation(_ batch: IngestBatch) -> String { "storing a batch of \(batch.tenant)/\(batch.gateway?.rawValue ?? "http")" }
            do {
                let results = try write(group.count == 1 ? operation(group[0].batch) : "storing \(group.count) batches") { writer in
                    try writer.ingest(group.map { ($0.batch, $0.plan) })
                }
                for (pending, result) in zip(group, results) { pending.done.resume(returning: .success(result)) }
            } catch {
                guard group.count > 1 else {
                    group[0].done.resume(returning: .failure(error))
                    continue
                }
                for pending in group {
                    do {
                        let result = try write(operation(pending.batch)) { writer in try writer.ingest([(pending.batch, pending.plan)])[0] }
                        pending.done.resume(returning: .success(result))
                    } catch {
                        pending.done.resume(returning: .failure(error))
                    }
                }
            }
        }
    }

    public func remove(tenant: Tenant, id: EntityID, attributes names: Set<String>?, at: Timestamp) async throws(StorageError) -> Bool {
        try write("removing \(names.map { "attributes \($0.sorted().joined(separator: ",")) of " } ?? "")\(id) of \(tenant)") { writer in
            try writer.remove(tenant: tenant, id: id, attributes: names, at: at)
        }
    }

    public func removeHistory(tenant: Tenant, id: EntityID, attributes names: Set<String>?) async throws(StorageError) -> Int? {
        try write("deleting the history of \(id) of \(tenant)") { writer in try writer.removeHistory(tenant: tenant, id: id, attributes: names) }
    }

    public func replaceInstance(
        tenant: Tenant,
        id: EntityID,
        attribute name: String,
        at: Timestamp,
        with attribute: NGSIAttribute
    ) async throws(StorageError) -> Bool {
        try write("replacing the \(name) of \(id) of \(tenant) at \(at.iso8601)") { writer in
            try writer.replaceInstance(tenant: tenant, id: id, attribute: name, at: at, with: attribute)
        }
    }

    public func recordDeadLetter(_ letter: HubDeadLetter) async throws(StorageError) {
        try write("keeping a dead letter from \(letter.source)") { writer in try writer.recordDeadLetter(letter) }
    }

    public func deleteDeadLetter(id: Int64) async throws(StorageError) -> Bool {
        try write("forgetting dead letter #\(id)") { writer in
            let statement = try writer.connection.prepare("DELETE FROM deadletters WHERE id = ?")
            try statement.bind(1, id)
            try statement.run()
            return writer.connection.changes > 0
        }
    }

    public func applyRetention(_ policy: RetentionPolicy, now: Timestamp) async throws(StorageError) -> RetentionResult {
        try write("applying retention") { writer in try writer.applyRetention(policy, now: now) }
    }

    /// Copies committed pages from the write-ahead log into the database on its own connection
    /// (PASSIVE: never waits for, nor blocks, the writer or readers), so the writer does not pay
    /// for checkpoints while a batch waits for its acknowledgement.
    public func maintain() async throws(StorageError) {
        do {
            try checkpointer.withLock { connection in
                if connection == nil { connection = try Self.open(path: path, sync: options.sync) }
                try connection!.execute("PRAGMA wal_checkpoint(PASSIVE)")
            }
        } catch {
            throw StorageError("checkpointing the hub database", cause: "\(error)")
        }
    }

    public func check() async throws(StorageError) {
        _ = try read("checking the hub database") { db in try db.scalar("SELECT count(*) FROM sqlite_master") }
    }
}
