/// The hub's tables in PostgreSQL; `kakehashi_schema` counts the migrations applied. Times are
/// milliseconds since 1970 (`bigint`), as in the SQLite store, so both stores share their
/// bucketing and ranges exactly.
///
/// - `entities`: each entity's latest state (its merged NGSI-LD fragment, as text) with its
///   location; `created` and `modified`.
/// - `series`: one row per (tenant, entity, attribute); readings and rollups refer to it by
///   number, so the exactly-once key (tenant, entity, attribute, observedAt) is the primary key
///   (series, t) of `observations`.
/// - `observations`: partitioned by month of `t` (declarative range partitioning), so retention
///   drops whole months; partitions are made as readings of a new month arrive.
/// - `rollups`: count, min, max and sum per series, resolution and bucket (hours at ingest, from
///   the rows actually inserted).
/// - `gateways`, `deadletters`: as in SQLite.
/// - `access_tenants`, `access_gateways`, `access_keys`, `access_grants`, `access_version`: as
///   in SQLite (see ``PostgresAccessStore``).
/// - `leases`, `hub_instances`: which hub holds which of the 64 fixed partitions of entities
///   (work that must happen once: see ``PartitionLeases``), and when each hub was last seen.
/// - `alert_inbox`: stored readings of watched entities waiting for the hub that holds their
///   partition to evaluate the rules on them; written in the transaction that stores the batch,
///   deleted by the owner once their events are stored (so a hub dying in between leaves them
///   to the next owner). `alert_sequences`: the sequence numbers of every gateway batch stored
///   (an hour of them) and the partitions it has rows for, so that an owner evaluates a gateway's batches in their order and
///   knows a gap is only batches with nothing for its partitions. `alert_cursors`: per
///   partition and gateway, the sequence number below which everything was evaluated (a new
///   owner goes on from there).
/// - `alerts`, `alert_events`: alerts and their history, as in SQLite; the database itself
///   forbids a second open alert for one rule and entity (a partial unique index). Event ids
///   come from `alert_event_counters`, one row per tenant moved in the transaction that writes
///   the events: not a sequence (a sequence hands out ids that commit out of order, and a feed
///   reader would skip one), and the row lock makes every other hub writing that tenant's events
///   wait until this one commits, so ids become visible in order.
enum PostgresSchema {
    static let migrations = [
        """
        CREATE TABLE entities(
            tenant text NOT NULL,
            id text NOT NULL,
            type text NOT NULL,
            body text NOT NULL,
            latitude double precision,
            longitude double precision,
            created bigint,
            modified bigint NOT NULL,
            PRIMARY KEY(tenant, id)
        );
        CREATE INDEX entities_type ON entities(tenant, type, id);
        CREATE TABLE series(
            id bigserial PRIMARY KEY,
            tenant text NOT NULL,
            entity text NOT NULL,
            type text NOT NULL,
            attribute text NOT NULL,
            kind smallint NOT NULL,
            unit text,
            UNIQUE(tenant, entity, attribute)
        );
        CREATE INDEX series_type ON series(tenant, type);
        CREATE TABLE observations(
            series bigint NOT NULL,
            t bigint NOT NULL,
            num double precision,
            txt text,
            received bigint NOT NULL,
            PRIMARY KEY(series, t)
        ) PARTITION BY RANGE (t);
        CREATE TABLE rollups(
            series bigint NOT NULL,
            resolution bigint NOT NULL,
            bucket bigint NOT NULL,
            n bigint NOT NULL,
            mn double precision NOT NULL,
            mx double precision NOT NULL,
            sm double precision NOT NULL,
            PRIMARY KEY(series, resolution, bucket)
        );
        CREATE TABLE gateways(
            tenant text NOT NULL,
            gateway text NOT NULL,
            last_sequence bigint NOT NULL,
            batches bigint NOT NULL,
            last_seen bigint NOT NULL,
            PRIMARY KEY(tenant, gateway)
        );
        CREATE TABLE deadletters(
            id bigserial PRIMARY KEY,
            received bigint NOT NULL,
            source text NOT NULL,
            tenant text,
            reason text NOT NULL,
            detail text NOT NULL,
            payload bytea NOT NULL,
            size bigint NOT NULL
        );
        """,
        """
        CREATE TABLE alert_event_counters(
            tenant text PRIMARY KEY,
            last bigint NOT NULL
        );
        CREATE TABLE alert_events(
            tenant text NOT NULL,
            id bigint NOT NULL,
            alert bigint NOT NULL,
            kind text NOT NULL,
            rule text NOT NULL,
            entity text NOT NULL,
            entity_type text,
            stage integer NOT NULL,
            stage_name text,
            severity text,
            value double precision,
            level double precision,
            at bigint NOT NULL,
            latitude double precision,
            longitude double precision,
            actor text,
            late boolean NOT NULL DEFAULT false,
            last_reading bigint,
            PRIMARY KEY(tenant, id)
        );
        CREATE INDEX alert_events_alert ON alert_events(tenant, alert, id);
        CREATE TABLE alerts(
            tenant text NOT NULL,
            id bigint NOT NULL,
            rule text NOT NULL,
            entity text NOT NULL,
            entity_type text,
            stage integer NOT NULL,
            stage_name text,
            severity text,
            value double precision,
            level double precision,
            raised bigint NOT NULL,
            updated bigint NOT NULL,
            cleared bigint,
            latitude double precision,
            longitude double precision,
            acknowledged_by text,
            acknowledged bigint,
            last_change bigint NOT NULL,
            last_kind text NOT NULL,
            PRIMARY KEY(tenant, id)
        );
        CREATE UNIQUE INDEX alerts_open ON alerts(tenant, rule, entity) WHERE cleared IS NULL;
        """,
        """
        CREATE TABLE access_tenants(
            name text PRIMARY KEY,
            display text,
            created bigint NOT NULL
        );
        CREATE TABLE access_gateways(
            tenant text NOT NULL REFERENCES access_tenants(name) ON DELETE CASCADE,
            gateway text NOT NULL UNIQUE,
            created bigint NOT NULL,
            PRIMARY KEY(tenant, gateway)
        );
        CREATE TABLE access_keys(
            id text PRIMARY KEY,
            tenant text NOT NULL,
            role text NOT NULL,
            label text,
            salt bytea NOT NULL,
            hash bytea NOT NULL,
            created bigint NOT NULL,
            expires bigint,
            revoked bigint
        );
        CREATE INDEX access_keys_tenant ON access_keys(tenant);
        CREATE TABLE access_version(
            singleton integer PRIMARY KEY CHECK (singleton = 1),
            version bigint NOT NULL
        );
        INSERT INTO access_version VALUES (1, 1);
        CREATE TABLE access_grants(
            id bigserial PRIMARY KEY,
            owner text NOT NULL,
            grantee text NOT NULL,
            type text NOT NULL,
            area text,
            precision text NOT NULL,
            created bigint NOT NULL,
            revoked bigint
        );
        CREATE INDEX access_grants_grantee ON access_grants(grantee) WHERE revoked IS NULL;
        """,
        """
        CREATE TABLE hub_instances(
            instance text PRIMARY KEY,
            seen bigint NOT NULL
        );
        CREATE TABLE leases(
            partition integer PRIMARY KEY,
            owner text,
            epoch bigint NOT NULL DEFAULT 0,
            expires bigint NOT NULL DEFAULT 0
        );
        INSERT INTO leases(partition) SELECT generate_series(0, 63);
        """,
        """
        CREATE TABLE alert_inbox(
            id bigserial PRIMARY KEY,
            partition integer NOT NULL,
            tenant text NOT NULL,
            gateway text,
            lowest bigint,
            highest bigint,
            arrived bigint NOT NULL,
            stored bigint NOT NULL DEFAULT (extract(epoch from clock_timestamp()) * 1000)::int8,
            entities text NOT NULL
        );
        CREATE INDEX alert_inbox_partition ON alert_inbox(partition, tenant, gateway, lowest);
        CREATE TABLE alert_sequences(
            tenant text NOT NULL,
            gateway text NOT NULL,
            lowest bigint NOT NULL,
            highest bigint NOT NULL,
            partitions integer[] NOT NULL,
            stored bigint NOT NULL DEFAULT (extract(epoch from clock_timestamp()) * 1000)::int8,
            PRIMARY KEY (tenant, gateway, lowest, highest)
        );
        CREATE INDEX alert_sequences_stored ON alert_sequences(stored);
        CREATE TABLE alert_cursors(
            partition integer NOT NULL,
            tenant text NOT NULL,
            gateway text NOT NULL,
            next bigint NOT NULL,
            PRIMARY KEY (partition, tenant, gateway)
        );
        """,
    ]

    /// The value kinds of a series (as in SQLite).
    enum Kind: Int16 {
        case number = 0, text = 1, boolean = 2
    }

    /// The month partition holding `t` (ms): its name and bounds [from, to).
    static func partition(of t: Int64) -> (name: String, from: Int64, to: Int64) {
        let days = floorDivide(t, 86_400_000)
        let (year, month) = civil(fromDays: days)
        let from = daysFromCivil(year: year, month: month, day: 1) * 86_400_000
        let next = month == 12 ? (year + 1, 1) : (year, month + 1)
        let to = daysFromCivil(year: next.0, month: next.1, day: 1) * 86_400_000
        let name = year < 0 ? "observations_m\(-year)_\(month)" : "observations_\(year)_\(month < 10 ? "0" : "")\(month)"
        return (name, from, to)
    }

    static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    /// Year and month of a day count since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm).
    static func civil(fromDays z0: Int64) -> (year: Int64, month: Int64) {
        let z = z0 + 719_468
        let era = floorDivide(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month)
    }

    static func daysFromCivil(year y0: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? y0 - 1 : y0
        let era = floorDivide(y, 400)
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
