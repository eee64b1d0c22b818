//! The database schema. Every statement is idempotent, so opening an existing store is harmless.

use engine::scope::{Arn, Scope};
use rusqlite::OptionalExtension;

use crate::sqlite::scope_key;

/// Tables of the SQLite store.
///
/// What CloudWatch and CloudWatch Logs name (log groups, their streams, events and metric
/// filters; metrics; alarms and their history) is kept per scope: the `scope` column holds
/// `<account>:<region>` and leads every key. Topics and subscriptions are kept by ARN, which
/// names its scope.
///
/// `log_event_blocks` (see [`crate::events`]) has no foreign key to its stream: the operations
/// that delete streams and groups delete their events themselves.
pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS log_groups (
    scope         TEXT NOT NULL,
    name          TEXT NOT NULL,
    creation_ms   INTEGER NOT NULL,
    retention_days INTEGER,
    PRIMARY KEY (scope, name)
);
CREATE TABLE IF NOT EXISTS log_streams (
    scope             TEXT NOT NULL,
    group_name        TEXT NOT NULL,
    name              TEXT NOT NULL,
    creation_ms       INTEGER NOT NULL,
    first_event_ms    INTEGER,
    last_event_ms     INTEGER,
    last_ingestion_ms INTEGER,
    stored_bytes      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, group_name, name),
    FOREIGN KEY (scope, group_name) REFERENCES log_groups (scope, name) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS log_event_blocks (
    id           INTEGER PRIMARY KEY,
    group_name   TEXT NOT NULL,
    stream_name  TEXT NOT NULL,
    first_ms     INTEGER NOT NULL,
    last_ms      INTEGER NOT NULL,
    ingestion_ms INTEGER NOT NULL,
    -- one PutLogEvents batch, LZ4-compressed (see logs/blocks.rs)
    events       BLOB NOT NULL,
    -- leading events removed by retention, so that the others keep their ids
    skipped      INTEGER NOT NULL DEFAULT 0,
    -- last, as stores written before scopes get it added (see upgrade_scopes)
    scope        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_event_blocks_in_stream ON log_event_blocks (scope, group_name, stream_name, first_ms);
CREATE INDEX IF NOT EXISTS log_event_blocks_in_stream_end ON log_event_blocks (scope, group_name, stream_name, last_ms);
CREATE INDEX IF NOT EXISTS log_event_blocks_in_time ON log_event_blocks (scope, group_name, first_ms);
CREATE TABLE IF NOT EXISTS metric_filters (
    scope          TEXT NOT NULL,
    group_name     TEXT NOT NULL,
    name           TEXT NOT NULL,
    pattern        TEXT NOT NULL,
    transformation TEXT NOT NULL,
    creation_ms    INTEGER NOT NULL,
    PRIMARY KEY (scope, group_name, name),
    FOREIGN KEY (scope, group_name) REFERENCES log_groups (scope, name) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS metrics (
    id         INTEGER PRIMARY KEY,
    scope      TEXT NOT NULL,
    namespace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    last_ms    INTEGER NOT NULL,
    UNIQUE (scope, namespace, name, dimensions)
);
CREATE TABLE IF NOT EXISTS metric_data (
    metric_id INTEGER NOT NULL REFERENCES metrics(id),
    unit      TEXT NOT NULL,
    bucket_s  INTEGER NOT NULL,
    sum       REAL NOT NULL,
    count     REAL NOT NULL,
    min       REAL NOT NULL,
    max       REAL NOT NULL,
    PRIMARY KEY (metric_id, unit, bucket_s)
);
CREATE TABLE IF NOT EXISTS alarms (
    scope                 TEXT NOT NULL,
    name                  TEXT NOT NULL,
    config                TEXT NOT NULL,
    namespace             TEXT,
    metric_name           TEXT,
    dimensions            TEXT,
    state                 TEXT NOT NULL,
    state_reason          TEXT NOT NULL,
    state_reason_data     TEXT,
    state_updated_ms      INTEGER NOT NULL,
    state_transitioned_ms INTEGER NOT NULL,
    config_updated_ms     INTEGER NOT NULL,
    PRIMARY KEY (scope, name)
);
CREATE INDEX IF NOT EXISTS alarms_on_metric ON alarms (scope, namespace, metric_name, dimensions);
CREATE TABLE IF NOT EXISTS alarm_history (
    id           INTEGER PRIMARY KEY,
    alarm_name   TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    item_type    TEXT NOT NULL,
    summary      TEXT NOT NULL,
    data         TEXT NOT NULL,
    -- last, as stores written before scopes get it added (see upgrade_scopes)
    scope        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alarm_history_in_time ON alarm_history (scope, timestamp_ms, id);
CREATE TABLE IF NOT EXISTS topics (
    arn        TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    attributes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS subscriptions (
    arn        TEXT PRIMARY KEY,
    topic_arn  TEXT NOT NULL REFERENCES topics(arn) ON DELETE CASCADE,
    protocol   TEXT NOT NULL,
    endpoint   TEXT NOT NULL,
    -- unused since tokens moved to subscription_tokens; kept so older stores open
    token      TEXT NOT NULL,
    confirmed  INTEGER NOT NULL,
    attributes TEXT NOT NULL,
    -- confirmed through the signed API with AuthenticateOnUnsubscribe=true
    authenticated INTEGER NOT NULL DEFAULT 0,
    -- the subscriber's account (NULL in rows from before: the topic's)
    owner      TEXT
);
-- Removed subscriptions, kept so that the SubscribeURL of their UnsubscribeConfirmation can
-- restore them, as on AWS.
CREATE TABLE IF NOT EXISTS unsubscribed (
    arn        TEXT PRIMARY KEY,
    topic_arn  TEXT NOT NULL REFERENCES topics(arn) ON DELETE CASCADE,
    protocol   TEXT NOT NULL,
    endpoint   TEXT NOT NULL,
    token      TEXT NOT NULL,
    attributes TEXT NOT NULL,
    authenticated INTEGER NOT NULL DEFAULT 0,
    owner      TEXT
);
CREATE INDEX IF NOT EXISTS unsubscribed_by_token ON unsubscribed (token);
-- The token of each confirmation message: single-use, expiring (see topics::tokens).
CREATE TABLE IF NOT EXISTS subscription_tokens (
    token            TEXT PRIMARY KEY,
    subscription_arn TEXT NOT NULL,
    topic_arn        TEXT NOT NULL,
    -- 'confirm' (a SubscriptionConfirmation's) or 'restore' (an UnsubscribeConfirmation's)
    purpose          TEXT NOT NULL,
    expires_ms       INTEGER NOT NULL,
    used_ms          INTEGER
);
CREATE INDEX IF NOT EXISTS subscription_tokens_by_subscription ON subscription_tokens (subscription_arn);
CREATE TABLE IF NOT EXISTS outbox (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL,
    message_id       TEXT NOT NULL,
    topic_arn        TEXT NOT NULL,
    subscription_arn TEXT NOT NULL,
    protocol         TEXT NOT NULL,
    endpoint         TEXT NOT NULL,
    subject          TEXT,
    message          TEXT NOT NULL,
    -- the Notification's MessageAttributes object, as JSON text
    attributes       TEXT,
    token            TEXT,
    timestamp_ms     INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER NOT NULL,
    -- pending, delivered, failed (the delivery policy ran out), dropped (its subscription
    -- went), redriven (copied into a new pending row with the same message_id)
    state            TEXT NOT NULL DEFAULT 'pending',
    last_error       TEXT,
    -- the alarm whose action published the message, for its history when delivery fails,
    -- and its scope (the topic's may be another account's)
    alarm_name       TEXT,
    alarm_scope      TEXT,
    -- when it was delivered, failed or dropped
    finished_ms      INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_ms);
CREATE INDEX IF NOT EXISTS outbox_by_subscription ON outbox (subscription_arn, state);
-- Trails by ARN, which names their account and home region; configuration, selectors, tags
-- and status as JSON.
CREATE TABLE IF NOT EXISTS trails (
    arn        TEXT PRIMARY KEY,
    account    TEXT NOT NULL,
    config     TEXT NOT NULL,
    selectors  TEXT NOT NULL,
    advanced   TEXT,
    tags       TEXT NOT NULL,
    status     TEXT NOT NULL
);
-- The objects each trail's follower has read.
CREATE TABLE IF NOT EXISTS trail_objects (
    trail_arn TEXT NOT NULL,
    key       TEXT NOT NULL,
    read_ms   INTEGER NOT NULL,
    PRIMARY KEY (trail_arn, key)
) WITHOUT ROWID;
-- The events each trail has met, a row per delivery, place (the account's and region's
-- folder, as its log stream is named; '' for any) and hour of eventTime (hour: its
-- milliseconds / 3,600,000; the smallest integer for any), their ids packed (see trails.rs),
-- so that one delivered twice counts once; recorded_ms: when.
CREATE TABLE IF NOT EXISTS trail_sighting_blocks (
    id          INTEGER PRIMARY KEY,
    trail_arn   TEXT NOT NULL,
    place       TEXT NOT NULL,
    hour        INTEGER NOT NULL,
    recorded_ms INTEGER NOT NULL,
    ids         BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS trail_sighting_blocks_in_hour ON trail_sighting_blocks (trail_arn, place, hour);
CREATE INDEX IF NOT EXISTS trail_sighting_blocks_in_time ON trail_sighting_blocks (recorded_ms);
-- The event history LookupEvents searches: management events, per scope, a row (or two, see
-- trails.rs) per delivery and hour of eventTime, with their first and last times and their
-- ids; their lookup attributes and their JSON (as log_event_blocks holds messages)
-- LZ4-compressed apart (see trails.rs).
CREATE TABLE IF NOT EXISTS event_history_blocks (
    id         INTEGER PRIMARY KEY,
    scope      TEXT NOT NULL,
    hour       INTEGER NOT NULL,
    first_ms   INTEGER NOT NULL,
    last_ms    INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    -- their ids, packed as trail_sighting_blocks holds them
    ids        BLOB NOT NULL,
    attributes BLOB NOT NULL,
    events     BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS event_history_blocks_in_hour ON event_history_blocks (scope, hour);
-- The scopes the event history has events of, so that expiry visits each by its key.
CREATE TABLE IF NOT EXISTS event_history_scopes (scope TEXT PRIMARY KEY) WITHOUT ROWID;
"#;

/// Whether the store has the table `table`.
pub(crate) fn table_exists(c: &rusqlite::Connection, table: &str) -> rusqlite::Result<bool> {
    c.prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
        .exists([table])
}

/// Whether the store's table `table` has the column `column`.
pub(crate) fn has_column(
    c: &rusqlite::Connection,
    table: &str,
    column: &str,
) -> rusqlite::Result<bool> {
    c.prepare_cached("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")?
        .exists([table, column])
}

/// Keeps what a store written before scopes existed holds in the scope it was served in: the
/// scope its topics' ARNs name, or else `home` (the server's `--account-id` and `--region`,
/// which were then the only scope). Runs before [`SCHEMA`], whose keys lead with `scope`.
///
/// Tables whose keys change are rebuilt (they hold configuration, a few rows); the large ones,
/// log event blocks and alarm history, get the column added with the old scope as its
/// default, which SQLite does without rewriting a row.
///
/// Answers the scope key the old data went into, or `None` for a store that had scopes.
pub fn upgrade_scopes(c: &rusqlite::Connection, home: &Scope) -> rusqlite::Result<Option<String>> {
    if !table_exists(c, "log_groups")? || has_column(c, "log_groups", "scope")? {
        return Ok(None);
    }
    let served = if table_exists(c, "topics")? {
        c.query_row("SELECT arn FROM topics ORDER BY arn LIMIT 1", [], |r| {
            r.get::<_, String>(0)
        })
        .optional()?
        .and_then(|arn| Arn::parse(&arn)?.scope())
    } else {
        None
    };
    let key = scope_key(served.as_ref().unwrap_or(home));
    let literal = format!("'{}'", key.replace('\'', "''"));

    c.pragma_update(None, "foreign_keys", false)?;
    c.pragma_update(None, "legacy_alter_table", true)?;
    let result = (|| {
        let tx = c.unchecked_transaction()?;
        let rebuilt: [(&str, &str); 5] = [
            ("log_groups", "name, creation_ms, retention_days"),
            (
                "log_streams",
                "group_name, name, creation_ms, first_event_ms, last_event_ms, last_ingestion_ms, stored_bytes",
            ),
            (
                "metric_filters",
                "group_name, name, pattern, transformation, creation_ms",
            ),
            ("metrics", "id, namespace, name, dimensions, last_ms"),
            (
                "alarms",
                "name, config, namespace, metric_name, dimensions, state, state_reason, state_reason_data, state_updated_ms, state_transitioned_ms, config_updated_ms",
            ),
        ];
        let mut present = Vec::new();
        for (table, columns) in rebuilt {
            if table_exists(c, table)? {
                tx.execute_batch(&format!("ALTER TABLE {table} RENAME TO unscoped_{table}"))?;
                present.push((table, columns));
            }
        }
        for index in [
            "alarms_by_metric",
            "alarm_history_by_time",
            "log_event_blocks_by_stream",
            "log_event_blocks_by_stream_end",
            "log_event_blocks_by_time",
        ] {
            tx.execute_batch(&format!("DROP INDEX IF EXISTS {index}"))?;
        }
        for table in ["log_event_blocks", "alarm_history"] {
            if table_exists(c, table)? {
                tx.execute_batch(&format!(
                    "ALTER TABLE {table} ADD COLUMN scope TEXT NOT NULL DEFAULT {literal}"
                ))?;
            }
        }
        tx.execute_batch(SCHEMA)?;
        for (table, columns) in present {
            tx.execute(
                &format!(
                    "INSERT INTO {table} (scope, {columns}) SELECT ?1, {columns} FROM unscoped_{table}"
                ),
                [&key],
            )?;
            tx.execute_batch(&format!("DROP TABLE unscoped_{table}"))?;
        }
        tx.commit()
    })();
    // The migration's own failure, if any, is the one to report.
    let restored = c
        .pragma_update(None, "legacy_alter_table", false)
        .and_then(|()| c.pragma_update(None, "foreign_keys", true));
    result?;
    restored?;
    Ok(Some(key))
}

/// Brings a store created by an earlier version up to [`SCHEMA`]: columns added since, and
/// confirmation tokens moved from their subscriptions into `subscription_tokens`.
pub fn upgrade(c: &rusqlite::Connection) -> rusqlite::Result<()> {
    for (table, column, definition) in [
        ("outbox", "attributes", "TEXT"),
        ("outbox", "alarm_name", "TEXT"),
        ("outbox", "finished_ms", "INTEGER"),
        ("outbox", "alarm_scope", "TEXT"),
        ("subscriptions", "owner", "TEXT"),
        ("unsubscribed", "owner", "TEXT"),
        (
            "subscriptions",
            "authenticated",
            "INTEGER NOT NULL DEFAULT 0",
        ),
    ] {
        if !has_column(c, table, column)? {
            c.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {column} {definition}"
            ))?;
        }
    }
    // Tokens kept on the subscription row were valid for good; they now expire like new ones,
    // counted from this upgrade.
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
        + engine::topics::TOKEN_LIFETIME_MS;
    c.execute(
        "INSERT OR IGNORE INTO subscription_tokens (token, subscription_arn, topic_arn, purpose, expires_ms)
         SELECT token, arn, topic_arn, 'confirm', ?1 FROM subscriptions WHERE token != '' AND confirmed = 0",
        [expires],
    )?;
    c.execute(
        "INSERT OR IGNORE INTO subscription_tokens (token, subscription_arn, topic_arn, purpose, expires_ms)
         SELECT token, arn, topic_arn, 'restore', ?1 FROM unsubscribed WHERE token != ''",
        [expires],
    )?;
    c.execute_batch(
        "UPDATE subscriptions SET token = '' WHERE token != '';
         UPDATE unsubscribed SET token = '' WHERE token != '';",
    )?;
    Ok(())
}
