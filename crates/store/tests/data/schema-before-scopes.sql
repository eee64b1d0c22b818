-- The schema of stores written before resources were kept per account and region.
CREATE TABLE IF NOT EXISTS log_groups (
    name          TEXT PRIMARY KEY,
    creation_ms   INTEGER NOT NULL,
    retention_days INTEGER
);
CREATE TABLE IF NOT EXISTS log_streams (
    group_name        TEXT NOT NULL REFERENCES log_groups(name) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    creation_ms       INTEGER NOT NULL,
    first_event_ms    INTEGER,
    last_event_ms     INTEGER,
    last_ingestion_ms INTEGER,
    stored_bytes      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_name, name)
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
    skipped      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS log_event_blocks_by_stream ON log_event_blocks (group_name, stream_name, first_ms);
CREATE INDEX IF NOT EXISTS log_event_blocks_by_stream_end ON log_event_blocks (group_name, stream_name, last_ms);
CREATE INDEX IF NOT EXISTS log_event_blocks_by_time ON log_event_blocks (group_name, first_ms);
CREATE TABLE IF NOT EXISTS metric_filters (
    group_name     TEXT NOT NULL REFERENCES log_groups(name) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    pattern        TEXT NOT NULL,
    transformation TEXT NOT NULL,
    creation_ms    INTEGER NOT NULL,
    PRIMARY KEY (group_name, name)
);
CREATE TABLE IF NOT EXISTS metrics (
    id         INTEGER PRIMARY KEY,
    namespace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    last_ms    INTEGER NOT NULL,
    UNIQUE (namespace, name, dimensions)
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
    name                  TEXT PRIMARY KEY,
    config                TEXT NOT NULL,
    namespace             TEXT,
    metric_name           TEXT,
    dimensions            TEXT,
    state                 TEXT NOT NULL,
    state_reason          TEXT NOT NULL,
    state_reason_data     TEXT,
    state_updated_ms      INTEGER NOT NULL,
    state_transitioned_ms INTEGER NOT NULL,
    config_updated_ms     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS alarms_by_metric ON alarms (namespace, metric_name, dimensions);
CREATE TABLE IF NOT EXISTS alarm_history (
    id           INTEGER PRIMARY KEY,
    alarm_name   TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    item_type    TEXT NOT NULL,
    summary      TEXT NOT NULL,
    data         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alarm_history_by_time ON alarm_history (timestamp_ms, id);
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
    authenticated INTEGER NOT NULL DEFAULT 0
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
    authenticated INTEGER NOT NULL DEFAULT 0
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
    -- the alarm whose action published the message, for its history when delivery fails
    alarm_name       TEXT,
    -- when it was delivered, failed or dropped
    finished_ms      INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_ms);
CREATE INDEX IF NOT EXISTS outbox_by_subscription ON outbox (subscription_arn, state);
