//! What metrics need kept.

use super::api::Metric;
use super::datum::Datum;
use super::statistics::{MetricQuery, PeriodAggregate};
use crate::store::StorageResult as Result;

/// A metric as stored, with the id listings page by.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMetric {
    pub id: i64,
    pub metric: Metric,
}

/// Metrics and their per-period aggregates.
pub trait MetricStore {
    /// Adds a datum to its metric's bucket (a minute, or a second for high-resolution data),
    /// creating the metric if it is new; `dims` is the datum's canonical dimensions text.
    fn record_datum(&mut self, datum: &Datum, dims: &str, now_ms: i64) -> Result<()>;
    /// The aggregates of each period of `query` that has data.
    fn period_aggregates(&mut self, query: &MetricQuery<'_>) -> Result<Vec<PeriodAggregate>>;
    /// Metrics after id `after_id` in id order, of a namespace and a name if given.
    fn metrics(
        &mut self,
        after_id: i64,
        namespace: Option<&str>,
        name: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredMetric>>;
}
