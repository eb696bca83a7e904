import KakehashiHubCore

/// The hub database's migrations; `PRAGMA user_version` counts those applied.
///
/// - `entities`: the latest state of each entity (its merged NGSI-LD fragment), with its
///   location for geo-queries.
/// - `series`: one row per (tenant, entity, attribute); observations and rollups refer to it
///   by number, so the long entity ids are stored once.
/// - `observations`: one row per (series, observedAt): the exactly-once key is the primary key.
/// - `rollups`: count, min, max and sum per series, resolution and bucket. Hour buckets are
///   kept up to date at ingest; minute buckets are written by retention from the raw rows it
///   deletes (while raw rows exist, minute aggregates are computed from them). Writing a minute
///   row for every 1-minute reading would double the pages each batch dirties.
/// - `gateways`: the highest sequence and last batch time seen per gateway.
/// - `deadletters`: rejected batches with the reason (bounded).
/// - `alerts`, `alert_events`: alerts and their history (see ``AlertStore``).
/// - `access_tenants`, `access_gateways`, `access_keys`, `access_grants`, `access_version`: see ``AccessStore``.
enum SQLiteStoreSchema {
    static let migrations = [
        """
        CREATE TABLE entities(
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            type TEXT NOT NULL,
            body BLOB NOT NULL,
            latitude REAL,
            longitude REAL,
            modified INTEGER NOT NULL,
            PRIMARY KEY(tenant, id)
        ) WITHOUT ROWID;
        CREATE INDEX entities_type ON entities(tenant, type, id);
        CREATE TABLE series(
            id INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL,
            entity TEXT NOT NULL,
            type TEXT NOT NULL,
            attribute TEXT NOT NULL,
            kind INTEGER NOT NULL,
            unit TEXT,
            UNIQUE(tenant, entity, attribute)
        );
        CREATE INDEX series_type ON series(tenant, type);
        CREATE TABLE observations(
            series INTEGER NOT NULL,
            t INTEGER NOT NULL,
            num REAL,
            txt TEXT,
            received INTEGER NOT NULL,
            PRIMARY KEY(series, t)
        ) WITHOUT ROWID;
        CREATE TABLE rollups(
            series INTEGER NOT NULL,
            resolution INTEGER NOT NULL,
            bucket INTEGER NOT NULL,
            n INTEGER NOT NULL,
            mn REAL NOT NULL,
            mx REAL NOT NULL,
            sm REAL NOT NULL,
            PRIMARY KEY(series, resolution, bucket)
        ) WITHOUT ROWID;
        CREATE TABLE gateways(
            tenant TEXT NOT NULL,
            gateway TEXT NOT NULL,
            last_sequence INTEGER NOT NULL,
            batches INTEGER NOT NULL,
            last_seen INTEGER NOT NULL,
            PRIMARY KEY(tenant, gateway)
        ) WITHOUT ROWID;
        CREATE TABLE deadletters(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            received INTEGER NOT NULL,
            source TEXT NOT NULL,
            tenant TEXT,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL,
            payload BLOB NOT NULL,
            size INTEGER NOT NULL
        );
        """,
        // 2: minute rollups are no longer kept at ingest; drop those whose raw rows are still there.
        """
        DELETE FROM rollups WHERE resolution = 60000 AND EXISTS (
            SELECT 1 FROM observations o WHERE o.series = rollups.series AND o.t >= rollups.bucket AND o.t < rollups.bucket + 60000);
        """,
        // 3: alerts (one row per raise-to-clear episode, named by its raising event) and their events
        // (ids strictly increasing per tenant: the feeds resume from them).
        """
        CREATE TABLE alert_events(
            tenant TEXT NOT NULL,
            id INTEGER NOT NULL,
            alert INTEGER NOT NULL,
            kind TEXT NOT NULL,
            rule TEXT NOT NULL,
            entity TEXT NOT NULL,
            stage INTEGER NOT NULL,
            stage_name TEXT,
            severity TEXT,
            value REAL,
            level REAL,
            at INTEGER NOT NULL,
            latitude REAL,
            longitude REAL,
            actor TEXT,
            PRIMARY KEY(tenant, id)
        ) WITHOUT ROWID;
        CREATE INDEX alert_events_alert ON alert_events(tenant, alert, id);
        CREATE TABLE alerts(
            tenant TEXT NOT NULL,
            id INTEGER NOT NULL,
            rule TEXT NOT NULL,
            entity TEXT NOT NULL,
            stage INTEGER NOT NULL,
            stage_name TEXT,
            severity TEXT,
            value REAL,
            level REAL,
            raised INTEGER NOT NULL,
            updated INTEGER NOT NULL,
            cleared INTEGER,
            latitude REAL,
            longitude REAL,
            acknowledged_by TEXT,
            acknowledged INTEGER,
            last_change INTEGER NOT NULL,
            last_kind TEXT NOT NULL,
            PRIMARY KEY(tenant, id)
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX alerts_open ON alerts(tenant, rule, entity) WHERE cleared IS NULL;
        """,
        // Access: tenants and gateways added by `kakehashi-hub tenant add` / `gateway add`
        // (besides those of the configuration file), API keys (salted hashes only), and a
        // version the running hub watches to reload them.
        """
        CREATE TABLE access_tenants(
            name TEXT PRIMARY KEY,
            display TEXT,
            created INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE access_gateways(
            tenant TEXT NOT NULL REFERENCES access_tenants(name) ON DELETE CASCADE,
            gateway TEXT NOT NULL,
            created INTEGER NOT NULL,
            PRIMARY KEY(tenant, gateway)
        ) WITHOUT ROWID;
        CREATE TABLE access_keys(
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            role TEXT NOT NULL,
            label TEXT,
            salt BLOB NOT NULL,
            hash BLOB NOT NULL,
            created INTEGER NOT NULL,
            expires INTEGER,
            revoked INTEGER
        ) WITHOUT ROWID;
        CREATE INDEX access_keys_tenant ON access_keys(tenant);
        CREATE TABLE access_version(
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
            version INTEGER NOT NULL
        );
        INSERT INTO access_version VALUES (1, 1);
        """,
        // Sharing: an owner tenant lets a grantee read its entities of one type, optionally only
        // inside an area (a GeoJSON Polygon's coordinates) and at reduced precision.
        """
        CREATE TABLE access_grants(
            id INTEGER PRIMARY KEY,
            owner TEXT NOT NULL,
            grantee TEXT NOT NULL,
            type TEXT NOT NULL,
            area TEXT,
            precision TEXT NOT NULL,
            created INTEGER NOT NULL,
            revoked INTEGER
        );
        CREATE INDEX access_grants_grantee ON access_grants(grantee) WHERE revoked IS NULL;
        """,
        // Alert events decided on a reading that arrived after later ones of the entity (late), and
        // the entity's newest reading when the event was decided (a silent sensor's last reading).
        """
        ALTER TABLE alert_events ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE alert_events ADD COLUMN last_reading INTEGER;
        """,
        // Rejection reasons are spelled as the gateway's (snake_case): dead letters kept before too.
        """
        UPDATE deadletters SET reason = replace(reason, '-', '_');
        """,
        // Entity ids are any URI: an alert keeps its entity's type beside the id (rows from before
        // hold convention ids, urn:ngsi-ld:<Type>:…, which name it).
        """
        ALTER TABLE alerts ADD COLUMN entity_type TEXT;
        ALTER TABLE alert_events ADD COLUMN entity_type TEXT;
        """,
        // Who wrote last and how many writes the file has seen: moved by every write transaction,
        // so a store knows when its decoded entities still match the file (see EntityCache).
        """
        CREATE TABLE writer_mark(id INTEGER PRIMARY KEY CHECK (id = 1), token TEXT NOT NULL, n INTEGER NOT NULL);
        INSERT INTO writer_mark VALUES (1, '', 0);
        """,
        // When an entity was created (NGSI-LD createdAt; `modified` is its modifiedAt). Unknown
        // for entities created before.
        """
        ALTER TABLE entities ADD COLUMN created INTEGER;
        """,
        // NGSI-LD subscriptions, per tenant (see SubscriptionStore).
        """
        CREATE TABLE subscriptions(
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            body TEXT NOT NULL,
            created INTEGER NOT NULL,
            modified INTEGER NOT NULL,
            PRIMARY KEY (tenant, id)
        );
        """,
        // Notifications not yet delivered and delivery status (kept here first; now in a file of
        // their own, see SubscriptionStore, and dropped by the next migration).
        """
        CREATE TABLE notifications(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            tenant TEXT NOT NULL,
            subscription TEXT NOT NULL,
            body TEXT NOT NULL,
            created INTEGER NOT NULL
        );
        CREATE INDEX notifications_by_subscription ON notifications(tenant, subscription, seq);
        CREATE TABLE subscription_status(
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            sent INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            dropped INTEGER NOT NULL DEFAULT 0,
            last_notification INTEGER,
            last_success INTEGER,
            last_failure INTEGER,
            failure_reason TEXT,
            PRIMARY KEY (tenant, id)
        );
        """,
        """
        DROP TABLE notifications;
        DROP TABLE subscription_status;
        """,
    ]

    /// Rollup resolutions updated by every batch; the others are written by retention.
    static let eagerRollups: [RollupResolution] = [.hour]

    /// The minute bucket of column `t` in SQL (floor, also before 1970).
    static let minuteBucket = "(t - ((t % 60000) + 60000) % 60000)"

    /// The value kinds of a series.
    enum Kind: Int {
        case number = 0, text = 1, boolean = 2
    }

    /// Dead-letter payloads are kept whole up to this many bytes (beyond any batch a gateway
    /// writes; the central broker's `message_size_limit` is lower), so `deadletters retry` can
    /// ingest them again.
    static let deadLetterPayloadLimit = 16 << 20
}
