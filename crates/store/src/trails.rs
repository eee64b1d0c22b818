//! Trails, what their followers read and met, and the event history, in SQLite.

use rusqlite::params;

use engine::store::{StorageError, StorageResult as Result};
use engine::trails::store::{HistoryQuery, TrailStore};
use engine::trails::{HistoryEvent, StoredTrail, TrailStatus};

use crate::error::storage;
use crate::sqlite::SqliteTx;

fn storage_value(e: rusqlite::types::FromSqlError) -> StorageError {
    StorageError(e.to_string())
}

fn json<T: serde::Serialize>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StorageError(format!("{what}: {e}")))
}

fn parsed<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StorageError(format!("stored {what}: {e}")))
}

type Row = (String, String, Option<String>, String, String);

fn trail_of(row: Row) -> Result<StoredTrail> {
    let (config, selectors, advanced, tags, status) = row;
    Ok(StoredTrail {
        trail: parsed("trail", &config)?,
        event_selectors: parsed("event selectors", &selectors)?,
        advanced_event_selectors: advanced
            .map(|a| parsed("advanced event selectors", &a))
            .transpose()?,
        tags: parsed("tags", &tags)?,
        status: parsed("trail status", &status)?,
    })
}

const COLUMNS: &str = "config, selectors, advanced, tags, status";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

impl SqliteTx<'_> {
    fn trails_where(
        &self,
        condition: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<StoredTrail>> {
        let rows: Vec<Row> = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM trails WHERE {condition} ORDER BY arn"
            ))
            .map_err(storage)?
            .query_map(args, row)
            .map_err(storage)?
            .collect::<rusqlite::Result<_>>()
            .map_err(storage)?;
        rows.into_iter().map(trail_of).collect()
    }
}

impl TrailStore for SqliteTx<'_> {
    fn trail(&mut self, arn: &str) -> Result<Option<StoredTrail>> {
        Ok(self.trails_where("arn = ?1", &[&arn])?.pop())
    }

    fn put_trail(&mut self, t: &StoredTrail) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO trails (arn, account, config, selectors, advanced, tags, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (arn) DO UPDATE SET config = ?3, selectors = ?4, advanced = ?5,
                     tags = ?6",
                params![
                    t.trail.trail_arn,
                    t.account(),
                    json("trail", &t.trail)?,
                    json("event selectors", &t.event_selectors)?,
                    t.advanced_event_selectors
                        .as_ref()
                        .map(|a| json("advanced event selectors", a))
                        .transpose()?,
                    json("tags", &t.tags)?,
                    json("trail status", &t.status)?,
                ],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn set_trail_status(&mut self, arn: &str, status: &TrailStatus) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE trails SET status = ?2 WHERE arn = ?1")
            .map_err(storage)?
            .execute(params![arn, json("trail status", status)?])
            .map_err(storage)?;
        Ok(())
    }

    fn delete_trail(&mut self, arn: &str) -> Result<bool> {
        let gone = self
            .conn
            .execute("DELETE FROM trails WHERE arn = ?1", [arn])
            .map_err(storage)?;
        self.conn
            .execute("DELETE FROM trail_objects WHERE trail_arn = ?1", [arn])
            .map_err(storage)?;
        self.conn
            .execute("DELETE FROM trail_sightings WHERE trail_arn = ?1", [arn])
            .map_err(storage)?;
        Ok(gone > 0)
    }

    fn account_trails(&mut self, account: &str) -> Result<Vec<StoredTrail>> {
        self.trails_where("account = ?1", &[&account])
    }

    fn all_trails(&mut self) -> Result<Vec<StoredTrail>> {
        self.trails_where("1", &[])
    }

    fn object_read(&mut self, trail: &str, key: &str) -> Result<bool> {
        self.conn
            .prepare_cached("SELECT 1 FROM trail_objects WHERE trail_arn = ?1 AND key = ?2")
            .map_err(storage)?
            .exists([trail, key])
            .map_err(storage)
    }

    fn mark_object_read(&mut self, trail: &str, key: &str, at_ms: i64) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO trail_objects (trail_arn, key, read_ms) VALUES (?1, ?2, ?3)",
            )
            .map_err(storage)?
            .execute(params![trail, key, at_ms])
            .map_err(storage)?;
        Ok(())
    }

    fn objects_read(&mut self, trail: &str, prefix: &str, after: &str) -> Result<Vec<String>> {
        // Keys from `prefix` up to the first key past every key it starts.
        let end = format!("{prefix}\u{10FFFF}");
        self.conn
            .prepare_cached(
                "SELECT key FROM trail_objects
                 WHERE trail_arn = ?1 AND key >= ?2 AND key < ?3 AND key > ?4 ORDER BY key",
            )
            .map_err(storage)?
            .query_map(params![trail, prefix, end, after], |r| r.get(0))
            .map_err(storage)?
            .collect::<rusqlite::Result<_>>()
            .map_err(storage)
    }

    fn last_object_read(&mut self, trail: &str, prefix: &str) -> Result<Option<String>> {
        let end = format!("{prefix}\u{10FFFF}");
        self.conn
            .prepare_cached(
                "SELECT max(key) FROM trail_objects WHERE trail_arn = ?1 AND key >= ?2 AND key < ?3",
            )
            .map_err(storage)?
            .query_row(params![trail, prefix, end], |r| r.get(0))
            .map_err(storage)
    }

    fn first_sighting(&mut self, trail: &str, event_id: &str, at_ms: i64) -> Result<bool> {
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO trail_sightings (trail_arn, event_id, time_ms)
                 VALUES (?1, ?2, ?3)",
            )
            .map_err(storage)?
            .execute(params![trail, event_id, at_ms])
            .map_err(storage)?;
        Ok(inserted > 0)
    }

    fn record_history(&mut self, e: &HistoryEvent) -> Result<bool> {
        if !self.history_scopes.contains(&self.scope_key) {
            self.conn
                .prepare_cached("INSERT OR IGNORE INTO event_history_scopes (scope) VALUES (?1)")
                .map_err(storage)?
                .execute([&self.scope_key])
                .map_err(storage)?;
            self.history_scopes.push(self.scope_key.clone());
        }
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO event_history (scope, event_id, time_ms, event_name,
                     event_source, read_only, username, access_key_id, resources, event_lz4)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .map_err(storage)?
            .execute(params![
                self.scope_key,
                e.event_id,
                e.time_ms,
                e.event_name,
                e.event_source,
                e.read_only,
                e.username,
                e.access_key_id,
                json("resources", &e.resources)?,
                lz4_flex::compress_prepend_size(e.json.as_bytes()),
            ])
            .map_err(storage)?;
        Ok(inserted > 0)
    }

    fn event_history(
        &mut self,
        query: &HistoryQuery<'_>,
        keep: &mut dyn FnMut(&HistoryEvent) -> bool,
    ) -> Result<Vec<HistoryEvent>> {
        // Latest first; `before` continues after the last event of the previous page.
        let (before_ms, before_id) = query.before.unwrap_or((i64::MAX, ""));
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT event_id, time_ms, event_name, event_source, read_only, username,
                        access_key_id, resources, event_lz4
                 FROM event_history
                 WHERE scope = ?1 AND time_ms >= ?2 AND time_ms <= ?3
                   AND (time_ms < ?4 OR (time_ms = ?4 AND (?5 = '' OR event_id < ?5)))
                 ORDER BY time_ms DESC, event_id DESC",
            )
            .map_err(storage)?;
        let mut rows = statement
            .query(params![
                self.scope_key,
                query.start_ms,
                query.end_ms,
                before_ms,
                before_id
            ])
            .map_err(storage)?;
        let mut found = Vec::new();
        while let Some(r) = rows.next().map_err(storage)? {
            let resources: String = r.get(7).map_err(storage)?;
            let event = HistoryEvent {
                event_id: r.get(0).map_err(storage)?,
                time_ms: r.get(1).map_err(storage)?,
                event_name: r.get(2).map_err(storage)?,
                event_source: r.get(3).map_err(storage)?,
                read_only: r.get(4).map_err(storage)?,
                username: r.get(5).map_err(storage)?,
                access_key_id: r.get(6).map_err(storage)?,
                resources: parsed("resources", &resources)?,
                json: String::new(),
            };
            // The JSON is inflated only for the events kept.
            if keep(&event) {
                let mut event = event;
                event.json = lz4_flex::decompress_size_prepended(
                    r.get_ref(8)
                        .map_err(storage)?
                        .as_blob()
                        .map_err(storage_value)?,
                )
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| StorageError("a stored history event is damaged".into()))?;
                found.push(event);
                if found.len() >= query.limit {
                    break;
                }
            }
        }
        Ok(found)
    }

    fn expire_history(&mut self, before_ms: i64) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM event_history WHERE scope IN (SELECT scope FROM event_history_scopes)
                 AND time_ms < ?1",
                [before_ms],
            )
            .map_err(storage)?;
        self.conn
            .execute(
                "DELETE FROM trail_sightings WHERE time_ms < ?1",
                [before_ms],
            )
            .map_err(storage)?;
        Ok(())
    }
}
