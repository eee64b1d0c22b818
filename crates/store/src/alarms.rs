//! Alarms and their history in SQLite: the configuration as JSON beside the columns that find
//! alarms by metric.

use rusqlite::{OptionalExtension, params};

use engine::alarms::AlarmState;
use engine::alarms::api::MetricAlarm;
use engine::alarms::history::{HistoryItem, HistoryQuery};
use engine::alarms::store::{AlarmStore, INITIAL_REASON, StoredAlarm};

use crate::error::storage;
use crate::sqlite::{SqliteTx, scope_of_key};
use engine::scope::Scope;
use engine::store::{StorageError, StorageResult as Result};

fn config_text(config: &MetricAlarm) -> Result<String> {
    serde_json::to_string(config).map_err(|e| StorageError(format!("alarm configuration: {e}")))
}

impl AlarmStore for SqliteTx<'_> {
    fn alarm(&mut self, name: &str) -> Result<Option<StoredAlarm>> {
        self.conn
            .prepare_cached(
                "SELECT config, state, state_reason, state_reason_data, state_updated_ms,
                        state_transitioned_ms, config_updated_ms FROM alarms
                 WHERE scope = ?1 AND name = ?2",
            )
            .map_err(storage)?
            .query_row([&self.scope_key, name], |r| {
                let config: String = r.get(0)?;
                let state: String = r.get(1)?;
                Ok(StoredAlarm {
                    config: serde_json::from_str(&config).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            0,
                            rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })?,
                    state: AlarmState::parse(&state).unwrap_or(AlarmState::InsufficientData),
                    reason: r.get(2)?,
                    reason_data: r.get(3)?,
                    updated_ms: r.get(4)?,
                    transitioned_ms: r.get(5)?,
                    config_updated_ms: r.get(6)?,
                })
            })
            .optional()
            .map_err(|e| StorageError(format!("stored alarm {name}: {e}")))
    }

    fn put_alarm(&mut self, config: &MetricAlarm, dims: &str, at_ms: i64) -> Result<bool> {
        let existed = self
            .conn
            .query_row(
                "SELECT 1 FROM alarms WHERE scope = ?1 AND name = ?2",
                [&self.scope_key, &config.alarm_name],
                |_| Ok(()),
            )
            .optional()
            .map_err(storage)?
            .is_some();
        // A re-put keeps the state (AWS: "When you update an existing alarm, its state is left
        // unchanged").
        self.conn
            .execute(
                "INSERT INTO alarms (scope, name, config, namespace, metric_name, dimensions,
                                     state, state_reason, state_updated_ms,
                                     state_transitioned_ms, config_updated_ms)
                 VALUES (?8, ?1, ?2, ?3, ?4, ?5, 'INSUFFICIENT_DATA', ?7, ?6, ?6, ?6)
                 ON CONFLICT (scope, name) DO UPDATE SET config = ?2, namespace = ?3, metric_name = ?4,
                     dimensions = ?5, config_updated_ms = ?6",
                params![
                    config.alarm_name,
                    config_text(config)?,
                    config.namespace,
                    config.metric_name,
                    dims,
                    at_ms,
                    INITIAL_REASON,
                    self.scope_key
                ],
            )
            .map_err(storage)?;
        Ok(existed)
    }

    fn replace_alarm_config(&mut self, config: &MetricAlarm) -> Result<()> {
        self.conn
            .execute(
                "UPDATE alarms SET config = ?2 WHERE scope = ?3 AND name = ?1",
                params![config.alarm_name, config_text(config)?, self.scope_key],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn set_alarm_state(
        &mut self,
        name: &str,
        state: AlarmState,
        reason: &str,
        reason_data: Option<&str>,
        at_ms: i64,
        transitioned: bool,
    ) -> Result<()> {
        self.conn
            .execute(
                "UPDATE alarms SET state = ?2, state_reason = ?3, state_reason_data = ?4,
                     state_updated_ms = ?5,
                     state_transitioned_ms = CASE WHEN ?6 THEN ?5 ELSE state_transitioned_ms END
                 WHERE scope = ?7 AND name = ?1",
                params![
                    name,
                    state.as_str(),
                    reason,
                    reason_data,
                    at_ms,
                    transitioned,
                    self.scope_key
                ],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn delete_alarm(&mut self, name: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute(
                "DELETE FROM alarms WHERE scope = ?1 AND name = ?2",
                [&self.scope_key, name],
            )
            .map_err(storage)?
            > 0)
    }

    fn alarm_names(&mut self, after: Option<&str>) -> Result<Vec<String>> {
        self.conn
            .prepare_cached("SELECT name FROM alarms WHERE scope = ?2 AND name > ?1 ORDER BY name")
            .map_err(storage)?
            .query_map([after.unwrap_or(""), &self.scope_key], |r| r.get(0))
            .map_err(storage)?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(storage)
    }

    fn all_alarms(&mut self) -> Result<Vec<(Scope, String)>> {
        let rows = self
            .conn
            .prepare_cached("SELECT scope, name FROM alarms ORDER BY scope, name")
            .map_err(storage)?
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(storage)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(storage)?;
        Ok(rows
            .into_iter()
            .filter_map(|(scope, name)| Some((scope_of_key(&scope)?, name)))
            .collect())
    }

    fn alarms_on_metric(
        &mut self,
        namespace: &str,
        metric: &str,
        dims: &str,
    ) -> Result<Vec<String>> {
        self.conn
            .prepare_cached(
                "SELECT name FROM alarms
                 WHERE scope = ?4 AND namespace = ?1 AND metric_name = ?2 AND dimensions = ?3
                 ORDER BY name",
            )
            .map_err(storage)?
            .query_map(params![namespace, metric, dims, self.scope_key], |r| {
                r.get(0)
            })
            .map_err(storage)?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(storage)
    }

    fn append_history(&mut self, item: &HistoryItem) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO alarm_history (alarm_name, timestamp_ms, item_type, summary, data, scope)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(storage)?
            .execute(params![
                item.alarm_name,
                item.timestamp_ms,
                item.item_type,
                item.summary,
                item.data,
                self.scope_key
            ])
            .map_err(storage)?;
        Ok(())
    }

    fn history(&mut self, q: &HistoryQuery<'_>) -> Result<Vec<(i64, HistoryItem)>> {
        let (order, bound) = if q.ascending {
            ("ASC", "id > ?6")
        } else {
            ("DESC", "id < ?6")
        };
        let bound_value = q
            .after_id
            .unwrap_or(if q.ascending { i64::MIN } else { i64::MAX });
        self.conn
            .prepare_cached(&format!(
                "SELECT id, alarm_name, timestamp_ms, item_type, summary, data FROM alarm_history
                 WHERE scope = ?7 AND (?1 IS NULL OR alarm_name = ?1)
                   AND (?2 IS NULL OR item_type = ?2)
                   AND timestamp_ms >= ?3 AND timestamp_ms <= ?4 AND {bound}
                 ORDER BY timestamp_ms {order}, id {order} LIMIT ?5"
            ))
            .map_err(storage)?
            .query_map(
                params![
                    q.alarm_name,
                    q.item_type,
                    q.start_ms,
                    q.end_ms,
                    i64::try_from(q.limit).unwrap_or(i64::MAX),
                    bound_value,
                    self.scope_key
                ],
                |r| {
                    Ok((
                        r.get(0)?,
                        HistoryItem {
                            alarm_name: r.get(1)?,
                            timestamp_ms: r.get(2)?,
                            item_type: r.get(3)?,
                            summary: r.get(4)?,
                            data: r.get(5)?,
                        },
                    ))
                },
            )
            .map_err(storage)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(storage)
    }
}
