//! Log groups, streams and metric filters in SQLite; events in blocks (see `blocks.rs`).

use rusqlite::{OptionalExtension, params};

use engine::logs::api::MetricTransformation;
use engine::logs::store::{LogGroupSummary, LogStore, StreamOrder};
use engine::logs::{EventPage, EventScope, LogGroup, LogStream, MetricFilter, StoredEvent};

use crate::blocks;
use crate::error::storage;
use crate::sqlite::{SqliteTx, scope_of_key};
use engine::scope::Scope;
use engine::store::{StorageError, StorageResult as Result};

fn limit_of(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl LogStore for SqliteTx<'_> {
    fn log_group(&mut self, name: &str) -> Result<Option<LogGroup>> {
        self.conn
            .prepare_cached(
                "SELECT name, creation_ms, retention_days FROM log_groups
                 WHERE scope = ?1 AND name = ?2",
            )
            .map_err(storage)?
            .query_row([&self.scope_key, name], |r| {
                Ok(LogGroup {
                    name: r.get(0)?,
                    creation_ms: r.get(1)?,
                    retention_days: r.get(2)?,
                })
            })
            .optional()
            .map_err(storage)
    }

    fn insert_log_group(&mut self, g: &LogGroup) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO log_groups (scope, name, creation_ms, retention_days)
                 VALUES (?1, ?2, ?3, ?4)",
                params![self.scope_key, g.name, g.creation_ms, g.retention_days],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn delete_log_group(&mut self, name: &str) -> Result<()> {
        // Streams and metric filters go by foreign key; events have none (see the schema).
        blocks::delete(self.conn, &self.scope_key, name, None)?;
        self.conn
            .execute(
                "DELETE FROM log_groups WHERE scope = ?1 AND name = ?2",
                [&self.scope_key, name],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn log_groups(&mut self, after: Option<&str>, prefix: &str) -> Result<Vec<LogGroupSummary>> {
        self.conn
            .prepare_cached(
                "SELECT g.name, g.creation_ms, g.retention_days,
                        (SELECT COUNT(*) FROM metric_filters f
                          WHERE f.scope = g.scope AND f.group_name = g.name),
                        (SELECT COALESCE(SUM(s.stored_bytes), 0) FROM log_streams s
                          WHERE s.scope = g.scope AND s.group_name = g.name)
                 FROM log_groups g
                 WHERE g.scope = ?3 AND g.name > ?1 AND substr(g.name, 1, length(?2)) = ?2
                 ORDER BY g.name",
            )
            .map_err(storage)?
            .query_map(params![after.unwrap_or(""), prefix, self.scope_key], |r| {
                Ok(LogGroupSummary {
                    group: LogGroup {
                        name: r.get(0)?,
                        creation_ms: r.get(1)?,
                        retention_days: r.get(2)?,
                    },
                    metric_filter_count: r.get(3)?,
                    stored_bytes: r.get(4)?,
                })
            })
            .map_err(storage)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(storage)
    }

    fn set_retention(&mut self, group: &str, days: Option<i64>) -> Result<()> {
        self.conn
            .execute(
                "UPDATE log_groups SET retention_days = ?2 WHERE scope = ?3 AND name = ?1",
                params![group, days, self.scope_key],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn retention_policies(&mut self) -> Result<Vec<(Scope, String, i64)>> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT scope, name, retention_days FROM log_groups
                 WHERE retention_days IS NOT NULL",
            )
            .map_err(storage)?
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
            })
            .map_err(storage)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(storage)?;
        // A scope whose region no partition lists any more is kept, not served.
        Ok(rows
            .into_iter()
            .filter_map(|(scope, name, days)| Some((scope_of_key(&scope)?, name, days)))
            .collect())
    }

    fn log_stream(&mut self, group: &str, name: &str) -> Result<Option<LogStream>> {
        self.conn
            .prepare_cached(
                "SELECT group_name, name, creation_ms, first_event_ms, last_event_ms,
                        last_ingestion_ms, stored_bytes
                 FROM log_streams WHERE scope = ?3 AND group_name = ?1 AND name = ?2",
            )
            .map_err(storage)?
            .query_row(params![group, name, self.scope_key], stream_of)
            .optional()
            .map_err(storage)
    }

    fn insert_log_stream(&mut self, s: &LogStream) -> Result<bool> {
        Ok(self
            .conn
            .execute(
                "INSERT OR IGNORE INTO log_streams (scope, group_name, name, creation_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![self.scope_key, s.group, s.name, s.creation_ms],
            )
            .map_err(storage)?
            > 0)
    }

    fn delete_log_stream(&mut self, group: &str, name: &str) -> Result<()> {
        blocks::delete(self.conn, &self.scope_key, group, Some(name))?;
        self.conn
            .execute(
                "DELETE FROM log_streams WHERE scope = ?3 AND group_name = ?1 AND name = ?2",
                params![group, name, self.scope_key],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn log_streams(
        &mut self,
        group: &str,
        prefix: &str,
        order: StreamOrder,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LogStream>> {
        let order = match order {
            StreamOrder::Name { descending: false } => "name ASC",
            StreamOrder::Name { descending: true } => "name DESC",
            StreamOrder::LastEventTime { descending: false } => {
                "COALESCE(last_event_ms, 0) ASC, name ASC"
            }
            StreamOrder::LastEventTime { descending: true } => {
                "COALESCE(last_event_ms, 0) DESC, name DESC"
            }
        };
        self.conn
            .prepare_cached(&format!(
                "SELECT group_name, name, creation_ms, first_event_ms, last_event_ms,
                        last_ingestion_ms, stored_bytes
                 FROM log_streams
                 WHERE scope = ?5 AND group_name = ?1 AND substr(name, 1, length(?2)) = ?2
                 ORDER BY {order} LIMIT ?3 OFFSET ?4"
            ))
            .map_err(storage)?
            .query_map(
                params![
                    group,
                    prefix,
                    limit_of(limit),
                    limit_of(offset),
                    self.scope_key
                ],
                stream_of,
            )
            .map_err(storage)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(storage)
    }

    fn append_events(
        &mut self,
        group: &str,
        stream: &str,
        span: (i64, i64),
        ingestion_ms: i64,
        encoded: &[u8],
        message_bytes: i64,
    ) -> Result<()> {
        blocks::insert(
            self.conn,
            &self.scope_key,
            group,
            stream,
            span,
            ingestion_ms,
            encoded,
        )?;
        self.conn
            .prepare_cached(
                "UPDATE log_streams SET
                    first_event_ms = MIN(COALESCE(first_event_ms, ?3), ?3),
                    last_event_ms = MAX(COALESCE(last_event_ms, ?4), ?4),
                    last_ingestion_ms = ?5,
                    stored_bytes = stored_bytes + ?6
                 WHERE scope = ?7 AND group_name = ?1 AND name = ?2",
            )
            .map_err(storage)?
            .execute(params![
                group,
                stream,
                span.0,
                span.1,
                ingestion_ms,
                message_bytes,
                self.scope_key
            ])
            .map_err(storage)?;
        Ok(())
    }

    fn events_forward(
        &mut self,
        scope: &EventScope<'_>,
        after: (i64, i64),
        limit: usize,
        stream_wanted: &dyn Fn(&str) -> bool,
        keep: &mut dyn FnMut(&StoredEvent) -> bool,
    ) -> Result<EventPage> {
        blocks::forward(
            self.conn,
            &self.scope_key,
            scope,
            after,
            limit,
            stream_wanted,
            keep,
        )
    }

    fn events_backward(
        &mut self,
        scope: &EventScope<'_>,
        before: (i64, i64),
        limit: usize,
    ) -> Result<EventPage> {
        blocks::backward(self.conn, &self.scope_key, scope, before, limit)
    }

    fn expire_events(&mut self, group: &str, cutoff_ms: i64) -> Result<()> {
        blocks::expire(self.conn, &self.scope_key, group, cutoff_ms)
    }

    fn metric_filters(
        &mut self,
        group: Option<&str>,
        name_prefix: Option<&str>,
    ) -> Result<Vec<MetricFilter>> {
        let rows: Vec<(String, String, String, String, i64)> = self
            .conn
            .prepare_cached(
                "SELECT group_name, name, pattern, transformation, creation_ms FROM metric_filters
                 WHERE scope = ?3 AND (?1 IS NULL OR group_name = ?1)
                   AND substr(name, 1, length(COALESCE(?2, ''))) = COALESCE(?2, '')
                 ORDER BY group_name, name",
            )
            .map_err(storage)?
            .query_map(params![group, name_prefix, self.scope_key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(storage)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(storage)?;
        rows.into_iter()
            .map(|(group, name, pattern, transformation, creation_ms)| {
                let transformation: MetricTransformation = serde_json::from_str(&transformation)
                    .map_err(|e| StorageError(format!("stored metric transformation: {e}")))?;
                Ok(MetricFilter {
                    group,
                    name,
                    pattern,
                    transformation,
                    creation_ms,
                })
            })
            .collect()
    }

    fn put_metric_filter(&mut self, f: &MetricFilter) -> Result<()> {
        let transformation = serde_json::to_string(&f.transformation)
            .map_err(|e| StorageError(format!("metric transformation: {e}")))?;
        self.conn
            .execute(
                "INSERT INTO metric_filters
                    (group_name, name, pattern, transformation, creation_ms, scope)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (scope, group_name, name) DO UPDATE SET pattern = ?3, transformation = ?4",
                params![
                    f.group,
                    f.name,
                    f.pattern,
                    transformation,
                    f.creation_ms,
                    self.scope_key
                ],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn delete_metric_filter(&mut self, group: &str, name: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute(
                "DELETE FROM metric_filters WHERE scope = ?3 AND group_name = ?1 AND name = ?2",
                params![group, name, self.scope_key],
            )
            .map_err(storage)?
            > 0)
    }
}

fn stream_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<LogStream> {
    Ok(LogStream {
        group: r.get(0)?,
        name: r.get(1)?,
        creation_ms: r.get(2)?,
        first_event_ms: r.get(3)?,
        last_event_ms: r.get(4)?,
        last_ingestion_ms: r.get(5)?,
        stored_bytes: r.get(6)?,
    })
}
