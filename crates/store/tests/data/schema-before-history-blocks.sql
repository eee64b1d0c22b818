-- The sightings and the event history as stores kept them, a row per event, before blocks.
-- The events each trail has met (time_ms: when), so that one delivered twice counts once.
CREATE TABLE IF NOT EXISTS trail_sightings (
    trail_arn TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    time_ms   INTEGER NOT NULL,
    PRIMARY KEY (trail_arn, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS trail_sightings_in_time ON trail_sightings (time_ms);
-- The event history LookupEvents searches: management events, per scope, found in time order
-- (the order it is read in) by one unique index, which also keeps an event from being there
-- twice. (A table without rowid would be one b-tree fewer, but holds large rows badly.)
CREATE TABLE IF NOT EXISTS event_history (
    scope        TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    time_ms      INTEGER NOT NULL,
    event_name   TEXT NOT NULL,
    event_source TEXT NOT NULL,
    read_only    INTEGER,
    username     TEXT,
    access_key_id TEXT,
    -- [[type, ARN], …]
    resources    TEXT NOT NULL,
    -- the event's JSON, LZ4-compressed with its length first
    event_lz4    BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS event_history_in_time ON event_history (scope, time_ms, event_id);
