//! Metrics and their aggregates in SQLite: a row per metric, a row per (metric, unit, bucket).

use rusqlite::params;

use engine::metrics::api::{Dimension, Metric};
use engine::metrics::store::{MetricStore, StoredMetric};
use engine::metrics::{Datum, MetricQuery, PeriodAggregate};

use crate::error::storage;
use crate::sqlite::SqliteTx;
use engine::store::StorageResult as Result;

impl MetricStore for SqliteTx<'_> {
    fn record_datum(&mut self, d: &Datum, dims: &str, now_ms: i64) -> Result<()> {
        let id: i64 = self
            .conn
            .prepare_cached(
                "INSERT INTO metrics (scope, namespace, name, dimensions, last_ms)
                 VALUES (?5, ?1, ?2, ?3, ?4)
                 ON CONFLICT (scope, namespace, name, dimensions)
                    DO UPDATE SET last_ms = MAX(last_ms, ?4)
                 RETURNING id",
            )
            .map_err(storage)?
            .query_row(
                params![d.namespace, d.metric_name, dims, now_ms, self.scope_key],
                |r| r.get(0),
            )
            .map_err(storage)?;
        let bucket = d.bucket_s();
        let a = d.stats;
        self.conn
            .prepare_cached(
                "INSERT INTO metric_data (metric_id, unit, bucket_s, sum, count, min, max)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (metric_id, unit, bucket_s) DO UPDATE SET
                    sum = sum + ?4, count = count + ?5, min = MIN(min, ?6), max = MAX(max, ?7)",
            )
            .map_err(storage)?
            .execute(params![id, d.unit, bucket, a.sum, a.count, a.min, a.max])
            .map_err(storage)?;
        Ok(())
    }

    fn period_aggregates(&mut self, q: &MetricQuery<'_>) -> Result<Vec<PeriodAggregate>> {
        self.conn
            .prepare_cached(
                "SELECT (d.bucket_s - ?5) / ?6, SUM(d.sum), SUM(d.count), MIN(d.min), MAX(d.max)
                 FROM metric_data d JOIN metrics m ON m.id = d.metric_id
                 WHERE m.scope = ?8 AND m.namespace = ?1 AND m.name = ?2 AND m.dimensions = ?3
                   AND (?4 IS NULL OR d.unit = ?4) AND d.bucket_s >= ?5 AND d.bucket_s < ?7
                 GROUP BY 1",
            )
            .map_err(storage)?
            .query_map(
                params![
                    q.namespace,
                    q.metric,
                    q.dims,
                    q.unit,
                    q.first_s,
                    q.period_s,
                    q.end_s,
                    self.scope_key
                ],
                |r| {
                    Ok(PeriodAggregate {
                        index: r.get(0)?,
                        sum: r.get(1)?,
                        count: r.get(2)?,
                        min: r.get(3)?,
                        max: r.get(4)?,
                    })
                },
            )
            .map_err(storage)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(storage)
    }

    fn metrics(
        &mut self,
        after_id: i64,
        namespace: Option<&str>,
        name: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredMetric>> {
        self.conn
            .prepare_cached(
                "SELECT id, namespace, name, dimensions FROM metrics
                 WHERE scope = ?5 AND id > ?1 AND (?2 IS NULL OR namespace = ?2)
                   AND (?3 IS NULL OR name = ?3)
                 ORDER BY id LIMIT ?4",
            )
            .map_err(storage)?
            .query_map(
                params![
                    after_id,
                    namespace,
                    name,
                    i64::try_from(limit).unwrap_or(i64::MAX),
                    self.scope_key
                ],
                |r| {
                    let dims: String = r.get(3)?;
                    Ok(StoredMetric {
                        id: r.get(0)?,
                        metric: Metric {
                            namespace: Some(r.get(1)?),
                            metric_name: Some(r.get(2)?),
                            dimensions: serde_json::from_str::<Vec<Dimension>>(&dims)
                                .unwrap_or_default(),
                        },
                    })
                },
            )
            .map_err(storage)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(storage)
    }
}
