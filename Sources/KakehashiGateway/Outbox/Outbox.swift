import Foundation
import KakehashiModel
import KakehashiSQLite
import Synchronization

/// The gateway's durable outbox: a SQLite file in WAL mode.
///
/// Readings are committed in batches and get the gateway's sequence numbers then (strictly
/// increasing, never reused); they stay until the central broker acknowledged the batch that
/// carried them. Over the quota, the lowest-priority oldest readings are dropped and counted.
/// Rejected messages are kept (bounded) in a dead-letter table. Everything is thread-safe.
///
/// ```swift
/// let outbox = try Outbox(configuration: OutboxConfiguration(path: "/var/lib/kakehashi/outbox.sqlite"))
/// let result = try outbox.commit([PendingReading(priority: 3, entity: bytes)])
/// let batch = try outbox.readings(after: 0, limit: 500)
/// outbox.acknowledge(batch.first!.sequence...batch.last!.sequence)
/// ```
public final class Outbox: Sendable {
    struct State {
        let db: SQLiteConnection
        let insert: SQLiteStatement
        let deleteRange: SQLiteStatement
        let dropOldest: SQLiteStatement
        let countDrop: SQLiteStatement
        let insertDeadLetter: SQLiteStatement
        let trimDeadLetters: SQLiteStatement
        let select: SQLiteStatement
        let oldest: SQLiteStatement
        let pageSize: Int64
        /// The WAL's checkpoint threshold now, in pages (smaller as the filesystem fills).
        var walPages: Int64 = 4000
        var depth: Int
        var bytes: Int64
        var lastSequence: Int64
        var drops: [Int: Int64]
        var pendingAcknowledgements: [ClosedRange<Int64>] = []
        var pendingDeadLetters: [DeadLetter] = []
        var deadLetterCount: Int
    }

    public let configuration: OutboxConfiguration
    let state: Mutex<State>

    /// Opens (creating or migrating) the outbox file.
    public init(configuration: OutboxConfiguration) throws(OutboxError) {
        self.configuration = configuration
        do {
            let db = try SQLiteConnection(path: configuration.path)
            try db.execute("PRAGMA journal_mode=WAL")
            try db.execute("PRAGMA synchronous=\(configuration.sync == .full ? "FULL" : "NORMAL")")
            try db.execute("PRAGMA wal_autocheckpoint=4000")
            // A checkpoint truncates the WAL back to 4 MiB (it keeps its largest size otherwise).
            try db.execute("PRAGMA journal_size_limit=4194304")
            try db.migrate(OutboxSchema.migrations)
            let depth = Int(try db.scalar("SELECT count(*) FROM outbox") ?? 0)
            let bytes = (try db.scalar("SELECT sum(length(entity)) FROM outbox") ?? 0) + Int64(depth) * OutboxSchema.rowOverhead
            let last = try db.scalar("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'") ?? 0
            var drops = [Int: Int64]()
            let dropRows = try db.prepare("SELECT priority, count FROM drops")
            while try dropRows.step() { drops[dropRows.int(0)] = dropRows.int64(1) }
            let deadLetters = Int(try db.scalar("SELECT count(*) FROM deadletters") ?? 0)
            state = Mutex(
                State(
                    db: db,
                    insert: try db.prepare("INSERT INTO outbox(priority, entity, committed_at) VALUES (?, ?, ?)"),
                    deleteRange: try db.prepare("DELETE FROM outbox WHERE seq BETWEEN ? AND ? RETURNING length(entity)"),
                    dropOldest: try db.prepare(
                        "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE priority = ? ORDER BY seq LIMIT ?) RETURNING length(entity)"
                    ),
                    countDrop: try db.prepare(
                        "INSERT INTO drops(priority, count) VALUES (?, ?) ON CONFLICT(priority) DO UPDATE SET count = count + excluded.count"
                    ),
                    insertDeadLetter: try db.prepare(
                        "INSERT INTO deadletters(received_at, source, topic, reason, detail, size, payload) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    ),
                    trimDeadLetters: try db.prepare("DELETE FROM deadletters WHERE id <= (SELECT max(id) FROM deadletters) - ?"),
                    select: try db.prepare("SELECT seq, entity FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?"),
                    oldest: try db.prepare("SELECT committed_at FROM outbox ORDER BY seq LIMIT 1"),
                    pageSize: max(512, try db.scalar("PRAGMA page_size") ?? 4096),
                    depth: depth,
                    bytes: bytes,
                    lastSequence: last,
                    drops: drops,
                    deadLetterCount: deadLetters
                )
            )
        } catch let error as SQLiteError {
            throw OutboxError("open \(configuration.path)", error)
        } catch {
            throw OutboxError("open \(configuration.path)", SQLiteError(code: 0, message: "\(error)", operation: "opening", path: configuration.path))
        }
    }

    /// Readings waiting for acknowledgement.
    public var depth: Int { state.withLock { $0.depth } }

    /// Bytes counted against the quota.
    public var bytes: Int64 { state.withLock { $0.bytes } }

    /// The last sequence number ever given (0 before the first).
    public var lastSequence: Int64 { state.withLock { $0.lastSequence } }

    /// Readings dropped by the quota since the outbox was created, by priority.
    public var drops: [Int: Int64] { state.withLock { $0.drops } }

    /// Dead letters stored (after trimming to the limit).
    public var deadLetterCount: Int { state.withLock { $0.deadLetterCount + $0.pendingDeadLetters.count } }

    /// Marks readings as acknowledged; they are deleted at the next commit (a crash before it
    /// only means they are sent again, with the same sequence numbers).
    public func acknowledge(_ sequences: ClosedRange<Int64>) {
        state.withLock { $0.pendingAcknowledgements.append(sequences) }
    }

    /// Keeps a rejected message; stored at the next commit.
    public func recordDeadLetter(_ letter: DeadLetter) {
        state.withLock { $0.pendingDeadLetters.append(letter) }
    }

    /// Whether a commit has anything to write besides new readings.
    public var hasPendingWork: Bool {
        state.withLock { !$0.pendingAcknowledgements.isEmpty || !$0.pendingDeadLetters.isEmpty }
    }

    /// Commits the pending acknowledgements and dead letters in one transaction, then `readings`
    /// (giving them sequence numbers) with the quota in another: what shrinks the outbox never
    /// waits on new readings, so a full disk cannot keep confirmed readings in it. The quota is
    /// the configured one or, when the filesystem has less than `minFreeBytes` free, what fits.
    @discardableResult
    public func commit(
        _ readings: [PendingReading],
        at now: Timestamp = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
    ) throws(OutboxError) -> CommitResult {
        do {
            return try state.withLock { (state) throws -> CommitResult in
                var result = CommitResult()
                let acknowledgements = state.pendingAcknowledgements
                let letters = state.pendingDeadLetters
                let free = Self.freeBytes(near: configuration.path)
                let short = free.map { $0 < configuration.minFreeBytes } ?? false
                // The WAL grows to its checkpoint threshold before it is copied into the file: keep
                // that under an eighth of the free space, so it never fills the filesystem itself.
                if let free {
                    // In powers of two, so it changes only when the free space halves or doubles.
                    let room = max(32, free / 8 / state.pageSize)
                    let pages = min(4000, Int64(1) << (63 - room.leadingZeroBitCount))
                    if pages != state.walPages {
                        try state.db.execute("PRAGMA wal_autocheckpoint=\(pages)")
                        try state.db.execute("PRAGMA journal_size_limit=\(pages * state.pageSize)")
                        state.walPages = pages
                    }
                }
                defer {
                    // Short of space: move the WAL into the file and truncate it, so it gives its space back.
                    if short { try? state.db.execute("PRAGMA wal_checkpoint(TRUNCATE)") }
                }
                // Confirmed readings leave first. Short of space, one range per transaction with a
                // checkpoint after each: a large delete needs as much WAL as the pages it touches.
                let groups: [[ClosedRange<Int64>]] = short ? acknowledgements.map { [$0] } : (acknowledgements.isEmpty ? [] : [acknowledgements])
                for group in groups {
                    var depth = state.depth, bytes = state.bytes, deleted = 0
                    try state.db.transaction {
                        for range in group {
                            try state.deleteRange.bind(1, range.lowerBound)
                            try state.deleteRange.bind(2, range.upperBound)
                            while try state.deleteRange.step() {
                                depth -= 1
                                bytes -= state.deleteRange.int64(0) + OutboxSchema.rowOverhead
                                deleted += 1
                            }
                            state.deleteRange.reset()
                        }
                    }
                    result.acknowledged += deleted
                    state.pendingAcknowledgements.removeFirst(group.count)
                    state.depth = depth
                    state.bytes = bytes
                    if short { try? state.db.execute("PRAGMA wal_checkpoint(TRUNCATE)") }
                }
                if !letters.isEmpty {
                    try state.db.transaction {
                        for letter in letters {
                            try state.insertDeadLetter.bind(1, letter.receivedAt.millisecondsSinceEpoch)
                            try state.insertDeadLetter.bind(2, letter.source)
                            try state.insertDeadLetter.bind(3, letter.topic)
                            try state.insertDeadLetter.bind(4, letter.reason)
                            try state.insertDeadLetter.bind(5, letter.detail)
                            try state.insertDeadLetter.bind(6, letter.size)
                            try state.insertDeadLetter.bind(7, letter.payload.prefix(OutboxSchema.deadLetterPayloadLimit))
                            try state.insertDeadLetter.run()
                        }
                        try state.trimDeadLetters.bind(1, configuration.deadLetterLimit)
                        try state.trimDeadLetters.run()
                    }
                    state.deadLetterCount = min(configuration.deadLetterLimit, state.deadLetterCount + letters.count)
                    state.pendingDeadLetters.removeFirst(letters.count)
                }
                // Pages the file holds but no row uses (left by deletes) are room as well: the
                // outbox reuses them before it grows the file. Not counting them would shrink the
                // quota with every delete that leaves the file fragmented.
                let room = try free.map { try $0 + state.pageSize * (state.db.scalar("PRAGMA freelist_count") ?? 0) }
                if let room, short, !readings.isEmpty, state.bytes < configuration.minFreeBytes - room {
                    // Others filled the filesystem: dropping what the outbox holds would not give
                    // back enough. Hold the readings (the sources wait, the edge broker keeps the rest).
                    throw SQLiteError(
                        code: 13,
                        message: "only \(free ?? 0) bytes free on the outbox's filesystem (outbox.min_free is \(configuration.minFreeBytes))",
                        operation: "committing",
                        path: configuration.path
                    )
                }
                // Short of space with the outbox the larger user: it gives back what is missing.
                let quota =
                    room.map { min(configuration.quotaBytes, max(0, state.bytes + $0 - configuration.minFreeBytes)) } ?? configuration.quotaBytes
                guard !readings.isEmpty || state.bytes > quota else { return result }
                var depth = state.depth, bytes = state.bytes, last = state.lastSequence
                var drops = [Int: Int]()
                try state.db.transaction {
                    var first: Int64?
                    for reading in readings {
                        try state.insert.bind(1, reading.priority)
                        try state.insert.bind(2, reading.entity)
                        try state.insert.bind(3, now.millisecondsSinceEpoch)
                        try state.insert.run()
                        last = state.db.lastInsertRowID
                        if first == nil { first = last }
                        depth += 1
                        bytes += Int64(reading.entity.count) + OutboxSchema.rowOverhead
                    }
                    if let first { result.sequences = first...last }
                    while bytes > quota && depth > 0 {
                        guard let lowest = try state.db.scalar("SELECT min(priority) FROM outbox") else { break }
                        let average = max(1, bytes / Int64(depth))
                        let excess = Int((bytes - quota) / average) + 1
                        try state.dropOldest.bind(1, Int64(lowest))
                        try state.dropOldest.bind(2, Int64(min(excess, 10_000)))
                        var removed = 0
                        while try state.dropOldest.step() {
                            removed += 1
                            depth -= 1
                            bytes -= state.dropOldest.int64(0) + OutboxSchema.rowOverhead
                        }
                        state.dropOldest.reset()
                        if removed == 0 { break }
                        drops[Int(lowest), default: 0] += removed
                    }
                    for (priority, count) in drops {
                        try state.countDrop.bind(1, priority)
                        try state.countDrop.bind(2, count)
                        try state.countDrop.run()
                    }
                }
                state.depth = depth
                state.bytes = bytes
                state.lastSequence = last
                for (priority, count) in drops { state.drops[priority, default: 0] += Int64(count) }
                result.dropped = drops
                return result
            }
        } catch let error as SQLiteError {
            throw OutboxError("commit \(readings.count) readings", error)
        } catch {
            throw OutboxError(
                "commit \(readings.count) readings",
                SQLiteError(code: 0, message: "\(error)", operation: "committing", path: configuration.path)
            )
        }
    }

    /// Bytes free for an unprivileged writer on the filesystem holding `path` (nil if unknown).
    static func freeBytes(near path: String) -> Int64? {
        var info = statvfs()
        let directory = (path as NSString).deletingLastPathComponent
        guard statvfs(directory.isEmpty ? "." : directory, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    /// Up to `limit` stored readings with sequence numbers above `sequence`, in order.
    public func readings(after sequence: Int64, limit: Int) throws(OutboxError) -> [StoredReading] {
        do {
            return try state.withLock { (state) throws(SQLiteError) -> [StoredReading] in
                defer { state.select.reset() }
                try state.select.bind(1, sequence)
                try state.select.bind(2, limit)
                var rows = [StoredReading]()
                while try state.select.step() {
                    rows.append(StoredReading(sequence: state.select.int64(0), entity: state.select.bytes(1)))
                }
                return rows
            }
        } catch {
            throw OutboxError("read readings after \(sequence)", error)
        }
    }

    /// When the oldest reading still waiting was committed (nil when the outbox is empty; readings
    /// committed before this was recorded say the epoch).
    public var oldestCommittedAt: Timestamp? {
        state.withLock { state in
            defer { state.oldest.reset() }
            guard (try? state.oldest.step()) == true else { return nil }
            return Timestamp(millisecondsSinceEpoch: state.oldest.int64(0))
        }
    }

    /// The most recent dead letters, newest first.
    public func deadLetters(limit: Int = 100) throws(OutboxError) -> [DeadLetter] {
        do {
            return try state.withLock { (state) throws(SQLiteError) -> [DeadLetter] in
                let query = try state.db.prepare(
                    "SELECT id, received_at, source, topic, reason, detail, size, payload FROM deadletters ORDER BY id DESC LIMIT ?"
                )
                try query.bind(1, limit)
                var letters = [DeadLetter]()
                while try query.step() {
                    letters.append(
                        DeadLetter(
                            id: query.int64(0),
                            receivedAt: Timestamp(millisecondsSinceEpoch: query.int64(1)),
                            source: query.string(2) ?? "",
                            topic: query.string(3) ?? "",
                            reason: query.string(4) ?? "",
                            detail: query.string(5) ?? "",
                            size: query.int(6),
                            payload: query.bytes(7)
                        )
                    )
                }
                return letters
            }
        } catch {
            throw OutboxError("read dead letters", error)
        }
    }

    /// The database file's size on disk, with its WAL.
    public var fileBytes: Int64 {
        state.withLock { state in
            let pages = ((try? state.db.scalar("PRAGMA page_count")) ?? nil) ?? 0
            let size = ((try? state.db.scalar("PRAGMA page_size")) ?? nil) ?? 0
            return pages * size
        }
    }
}
