import KakehashiHubCore
import KakehashiModel
import KakehashiSQLite

/// The notifications file (`<hub database>-notifications`): the notifications not yet delivered
/// and each subscription's delivery status.
///
/// What one change made (a batch's notifications to every subscription it concerns) is kept as
/// one row, so keeping it costs one insert however many subscriptions it notifies. Each
/// subscription's status row holds how far its notifications were delivered or dropped (a batch
/// and an item in it); after a restart its pending notifications are the items past that. The
/// order of each subscription's pending notifications, the number pending and the batches still
/// wanted are kept in memory (rebuilt from the file when opened); a batch row is deleted once none
/// of its items waits. One user at a time (the store holds it under a lock).
final class NotificationQueue {
    /// One notification: item `item` of batch `batch`.
    struct Pointer: Hashable, Comparable {
        let batch: Int64
        let item: Int

        static func < (a: Pointer, b: Pointer) -> Bool { (a.batch, a.item) < (b.batch, b.item) }

        /// As ``PendingNotification/seq``: the batch, then the item in its low 20 bits.
        var seq: Int64 { batch << 20 | Int64(item) }
        init(batch: Int64, item: Int) {
            self.batch = batch
            self.item = item
        }
        init(seq: Int64) { self.init(batch: seq >> 20, item: Int(seq & 0xF_FFFF)) }
    }

    /// A subscription's pending notifications, oldest first.
    struct Pending {
        private var pointers: [Pointer] = []
        private var head = 0

        var count: Int { pointers.count - head }
        var isEmpty: Bool { count == 0 }
        func prefix(_ n: Int) -> ArraySlice<Pointer> { pointers[head..<min(pointers.count, head + n)] }
        mutating func append(_ pointer: Pointer) { pointers.append(pointer) }

        /// Removes and returns the oldest `n`.
        mutating func removeFirst(_ n: Int) -> ArraySlice<Pointer> {
            let taken = pointers[head..<head + n]
            head += n
            if head > 64 && head * 2 > pointers.count {
                pointers.removeFirst(head)
                head = 0
            }
            return taken
        }

        /// Removes `pointer` (normally the oldest); false when it is not pending.
        mutating func remove(_ pointer: Pointer) -> Bool {
            if head < pointers.count, pointers[head] == pointer {
                _ = removeFirst(1)
                return true
            }
            guard let index = pointers[head...].firstIndex(of: pointer) else { return false }
            pointers.remove(at: index)
            return true
        }
    }

    /// At most this many notifications in one batch row (the item number has 20 bits).
    static let itemsPerBatch = 65_536
    /// Decoded batches kept in memory (the ones being delivered are read by many subscriptions).
    static let cachedBatches = 512

    static let schema = """
        CREATE TABLE IF NOT EXISTS notification_batches(
            seq INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL,
            created INTEGER NOT NULL,
            items BLOB NOT NULL
        );
        CREATE TABLE IF NOT EXISTS subscription_status(
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            sent INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            dropped INTEGER NOT NULL DEFAULT 0,
            last_notification INTEGER,
            last_success INTEGER,
            last_failure INTEGER,
            failure_reason TEXT,
            done_batch INTEGER NOT NULL DEFAULT 0,
            done_item INTEGER NOT NULL DEFAULT -1,
            PRIMARY KEY (tenant, id)
        );
        """

    let connection: SQLiteConnection
    private var statements: [String: SQLiteStatement] = [:]
    private(set) var pending: [SubscriptionKey: Pending] = [:]
    /// The last notification of each subscription delivered or dropped.
    private var done: [SubscriptionKey: Pointer] = [:]
    /// Per batch, its items still pending.
    private var wanted: [Int64: Int] = [:]
    private var cache: [Int64: (created: Int64, items: [(id: String, body: String)])] = [:]
    private var cacheOrder: [Int64] = []
    private var nextBatch: Int64 = 1

    /// Opens the queue in `connection` (made or brought to the current layout), with the pending
    /// notifications of the subscriptions in `known` (those of others are forgotten).
    init(_ connection: SQLiteConnection, known: Set<SubscriptionKey>) throws {
        self.connection = connection
        try connection.execute(Self.schema)
        try upgrade()
        try load(known: known)
    }

    /// A file of the first layout (one row per notification) becomes one of batches: each old
    /// row a batch of one, in order; each status row delivered up to nothing.
    private func upgrade() throws {
        let columns = try connection.prepare("PRAGMA table_info(subscription_status)")
        var names = Set<String>()
        while try columns.step() { if let name = columns.string(1) { names.insert(name) } }
        try connection.transaction {
            if !names.contains("done_batch") {
                try connection.execute("ALTER TABLE subscription_status ADD COLUMN done_batch INTEGER NOT NULL DEFAULT 0")
                try connection.execute("ALTER TABLE subscription_status ADD COLUMN done_item INTEGER NOT NULL DEFAULT -1")
            }
            guard try connection.scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'notifications'") == 1 else { return }
            let rows = try connection.prepare("SELECT seq, tenant, created, subscription, body FROM notifications ORDER BY seq")
            let insert = try connection.prepare("INSERT INTO notification_batches(seq, tenant, created, items) VALUES (?, ?, ?, ?)")
            while try rows.step() {
                try insert.bind(1, rows.int64(0))
                try insert.bind(2, rows.string(1))
                try insert.bind(3, rows.int64(2))
                try insert.bind(4, Self.encode([(rows.string(3) ?? "", rows.string(4) ?? "")]))
                try insert.run()
            }
            try connection.execute("DROP TABLE notifications")
        }
    }

    private func load(known: Set<SubscriptionKey>) throws {
        let statuses = try connection.prepare("SELECT tenant, id, done_batch, done_item FROM subscription_status")
        while try statuses.step() {
            guard let name = statuses.string(0), let tenant = try? Tenant(name), let id = statuses.string(1) else { continue }
            done[SubscriptionKey(tenant: tenant, id: id)] = Pointer(batch: statuses.int64(2), item: statuses.int(3))
        }
        var unwanted = [Int64]()
        let batches = try connection.prepare("SELECT seq, tenant, created, items FROM notification_batches ORDER BY seq")
        while try batches.step() {
            let seq = batches.int64(0)
            nextBatch = seq + 1
            guard let name = batches.string(1), let tenant = try? Tenant(name) else {
                unwanted.append(seq)
                continue
            }
            let items = Self.decode(batches.bytes(3))
            var count = 0
            for (index, item) in items.enumerated() {
                let key = SubscriptionKey(tenant: tenant, id: item.id)
                let pointer = Pointer(batch: seq, item: index)
                guard known.contains(key), pointer > done[key] ?? Pointer(batch: 0, item: -1) else { continue }
                pending[key, default: Pending()].append(pointer)
                count += 1
            }
            if count == 0 { unwanted.append(seq) } else { wanted[seq] = count }
        }
        for seq in unwanted { try deleteBatch(seq) }
    }

    // MARK: Statements

    /// Runs `body` with the statement of `sql`, prepared the first time; reset after.
    func with<T>(_ sql: String, _ body: (SQLiteStatement) throws -> T) throws -> T {
        let statement: SQLiteStatement
        if let prepared = statements[sql] {
            statement = prepared
        } else {
            statement = try connection.prepare(sql)
            statements[sql] = statement
        }
        defer { statement.reset() }
        return try body(statement)
    }

    /// Applies `assignments` to the status row of `key` (made if missing); `?3` on are `more`.
    func bump(_ key: SubscriptionKey, _ assignments: String, _ more: [any Sendable] = []) throws {
        try with("INSERT INTO subscription_status(tenant, id) VALUES (?1, ?2) ON CONFLICT DO NOTHING") { insert in
            try insert.bind(1, key.tenant.name)
            try insert.bind(2, key.id)
            try insert.run()
        }
        try with("UPDATE subscription_status SET \(assignments) WHERE tenant = ?1 AND id = ?2") { update in
            try update.bind(1, key.tenant.name)
            try update.bind(2, key.id)
            for (offset, value) in more.enumerated() {
                let index = Int32(3 + offset)
                switch value {
                case let text as String: try update.bind(index, text)
                case let number as Int64: try update.bind(index, number)
                case let number as Int: try update.bind(index, number)
                default: try update.bind(index, String?.none)
                }
            }
            try update.run()
        }
    }

    private func deleteBatch(_ seq: Int64) throws {
        try with("DELETE FROM notification_batches WHERE seq = ?") { delete in
            try delete.bind(1, seq)
            try delete.run()
        }
    }

    // MARK: Operations

    /// Keeps `items` as pending (one batch row per tenant), then drops the oldest of a
    /// subscription beyond `limit`; the number dropped per subscription. In one transaction;
    /// memory follows only once it is committed.
    func enqueue(_ items: [(key: SubscriptionKey, body: String)], at: Timestamp, limit: Int) throws -> [SubscriptionKey: Int] {
        guard !items.isEmpty else { return [:] }
        var rows = [(seq: Int64, tenant: Tenant, items: [(id: String, body: String)])]()
        var seq = nextBatch
        // Mostly one tenant (a change is of one tenant's entities).
        let tenants =
            items.allSatisfy({ $0.key.tenant == items[0].key.tenant })
            ? [(key: items[0].key.tenant, value: items)]
            : Dictionary(grouping: items, by: \.key.tenant).sorted(by: { $0.key.name < $1.key.name })
        for (tenant, group) in tenants {
            for start in stride(from: 0, to: group.count, by: Self.itemsPerBatch) {
                let chunk = group[start..<min(group.count, start + Self.itemsPerBatch)]
                rows.append((seq, tenant, chunk.map { ($0.key.id, $0.body) }))
                seq += 1
            }
        }
        // Per subscription, what it gets and what it drops.
        var added = [SubscriptionKey: [Pointer]]()
        for row in rows {
            for (index, item) in row.items.enumerated() {
                added[SubscriptionKey(tenant: row.tenant, id: item.id), default: []].append(Pointer(batch: row.seq, item: index))
            }
        }
        var drops = [SubscriptionKey: (count: Int, last: Pointer)]()
        for (key, pointers) in added {
            let before = pending[key]?.count ?? 0
            let over = before + pointers.count - limit
            guard over > 0 else { continue }
            let last =
                over <= before ? pending[key]!.prefix(over).last! : pointers[over - before - 1]
            drops[key] = (over, last)
        }
        try connection.transaction {
            for row in rows {
                try with("INSERT INTO notification_batches(seq, tenant, created, items) VALUES (?, ?, ?, ?)") { insert in
                    try insert.bind(1, row.seq)
                    try insert.bind(2, row.tenant.name)
                    try insert.bind(3, at.millisecondsSinceEpoch)
                    try insert.bind(4, Self.encode(row.items))
                    try insert.run()
                }
            }
            for (key, drop) in drops {
                try bump(key, "dropped = dropped + ?3, done_batch = ?4, done_item = ?5", [drop.count, drop.last.batch, drop.last.item])
            }
        }
        // Committed: memory follows.
        nextBatch = seq
        var emptied = Set<Int64>()
        for (key, pointers) in added {
            var list = pending[key] ?? Pending()
            for pointer in pointers {
                list.append(pointer)
                wanted[pointer.batch, default: 0] += 1
            }
            if let drop = drops[key] {
                for pointer in list.removeFirst(drop.count) where release(pointer.batch) { emptied.insert(pointer.batch) }
                done[key] = drop.last
            }
            pending[key] = list.isEmpty ? nil : list
        }
        for batch in emptied { try? deleteBatch(batch) }
        return drops.mapValues(\.count)
    }

    /// One item of `batch` is no longer pending; true when none of the batch is.
    private func release(_ batch: Int64) -> Bool {
        guard let count = wanted[batch] else { return false }
        if count > 1 {
            wanted[batch] = count - 1
            return false
        }
        wanted[batch] = nil
        cache[batch] = nil
        return true
    }

    /// The oldest pending notifications of `key`, at most `limit`.
    func oldest(_ key: SubscriptionKey, limit: Int) throws -> [PendingNotification] {
        guard let list = pending[key] else { return [] }
        var out = [PendingNotification]()
        for pointer in list.prefix(limit) {
            let batch = try items(of: pointer.batch)
            guard pointer.item < batch.items.count else { continue }
            out.append(
                PendingNotification(
                    seq: pointer.seq,
                    key: key,
                    body: batch.items[pointer.item].body,
                    createdAt: Timestamp(millisecondsSinceEpoch: batch.created)
                )
            )
        }
        return out
    }

    private func items(of batch: Int64) throws -> (created: Int64, items: [(id: String, body: String)]) {
        if let known = cache[batch] { return known }
        let read = try with("SELECT created, items FROM notification_batches WHERE seq = ?") { row in
            try row.bind(1, batch)
            return try row.step() ? (row.int64(0), Self.decode(row.bytes(1))) : (0, [])
        }
        cache[batch] = read
        cacheOrder.append(batch)
        if cacheOrder.count > Self.cachedBatches {
            let evicted = cacheOrder.prefix(cacheOrder.count - Self.cachedBatches)
            for old in evicted where old != batch { cache[old] = nil }
            cacheOrder.removeFirst(evicted.count)
        }
        return read
    }

    /// `notifications` (of one subscription or several) were delivered: counted, no longer
    /// pending. One commit for all of them.
    func delivered(_ notifications: [PendingNotification], at: Timestamp) throws {
        // Forgotten while they were on their way (the subscription was deleted): nothing to
        // count, and no status row to leave behind for a later subscription of that id.
        let groups = Dictionary(grouping: notifications, by: \.key).filter { pending[$0.key] != nil || done[$0.key] != nil }
        guard !groups.isEmpty else { return }
        let ms = at.millisecondsSinceEpoch
        // Should the commit fail after memory moved on, the notifications are delivered again
        // after a restart (at least once).
        try connection.transaction {
            for (key, group) in groups {
                let pointers = group.map { Pointer(seq: $0.seq) }
                let last = max(done[key] ?? pointers[0], pointers.max()!)
                try bump(
                    key,
                    "sent = sent + ?6, last_notification = ?3, last_success = ?3, done_batch = ?4, done_item = ?5",
                    [ms, last.batch, last.item, group.count]
                )
                done[key] = last
                for pointer in pointers {
                    guard pending[key]?.remove(pointer) == true else { continue }
                    if release(pointer.batch) { try deleteBatch(pointer.batch) }
                }
                if pending[key]?.isEmpty == true { pending[key] = nil }
            }
        }
    }

    /// The number pending per subscription.
    var counts: [SubscriptionKey: Int] { pending.mapValues(\.count) }

    /// Forgets `key`: its status row and pending notifications.
    func clear(_ key: SubscriptionKey) throws {
        try connection.transaction {
            try with("DELETE FROM subscription_status WHERE tenant = ?1 AND id = ?2") { delete in
                try delete.bind(1, key.tenant.name)
                try delete.bind(2, key.id)
                try delete.run()
            }
            var list = pending[key] ?? Pending()
            for pointer in list.removeFirst(list.count) where release(pointer.batch) { try deleteBatch(pointer.batch) }
        }
        pending[key] = nil
        done[key] = nil
    }

    // MARK: Row encoding

    /// Items as bytes: for each, the subscription id and the body, each as a 4-byte
    /// little-endian length and its UTF-8.
    static func encode(_ items: [(id: String, body: String)]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(items.reduce(0) { $0 + $1.id.utf8.count + $1.body.utf8.count + 8 })
        func put(_ text: String) {
            let count = UInt32(text.utf8.count)
            withUnsafeBytes(of: count.littleEndian) { out.append(contentsOf: $0) }
            out.append(contentsOf: text.utf8)
        }
        for item in items {
            put(item.id)
            put(item.body)
        }
        return out
    }

    /// The items of ``encode(_:)``; a truncated tail is left out.
    static func decode(_ bytes: [UInt8]) -> [(id: String, body: String)] {
        var items = [(id: String, body: String)]()
        var offset = 0
        func take() -> String? {
            guard offset + 4 <= bytes.count else { return nil }
            let count = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2]) << 16 | Int(bytes[offset + 3]) << 24
            offset += 4
            guard offset + count <= bytes.count else { return nil }
            defer { offset += count }
            return String(decoding: bytes[offset..<offset + count], as: UTF8.self)
        }
        while offset < bytes.count, let id = take(), let body = take() { items.append((id, body)) }
        return items
    }
}
