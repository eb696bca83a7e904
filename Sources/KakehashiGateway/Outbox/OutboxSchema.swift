/// The outbox database's migrations; `PRAGMA user_version` counts those applied.
enum OutboxSchema {
    static let migrations = [
        """
        CREATE TABLE outbox(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            priority INTEGER NOT NULL,
            entity BLOB NOT NULL
        );
        CREATE INDEX outbox_priority ON outbox(priority, seq);
        CREATE TABLE drops(priority INTEGER PRIMARY KEY, count INTEGER NOT NULL);
        CREATE TABLE deadletters(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            received_at INTEGER NOT NULL,
            source TEXT NOT NULL,
            topic TEXT NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL,
            size INTEGER NOT NULL,
            payload BLOB NOT NULL
        );
        """,
        // When each reading was committed (ms since the epoch), for the age of the oldest one waiting.
        "ALTER TABLE outbox ADD COLUMN committed_at INTEGER NOT NULL DEFAULT 0;",
    ]

    /// Bytes a stored reading costs besides its entity (row header, index entry), for the quota.
    static let rowOverhead: Int64 = 48
    /// Dead-letter payloads are kept up to this many bytes.
    static let deadLetterPayloadLimit = 4096
}
