//! CloudWatch metrics: recording datapoints (PutMetricData, metric filters, SNS's own counts)
//! and querying their statistics (GetMetricStatistics, GetMetricData, ListMetrics).
//!
//! - `api.rs`: the operations' requests and responses;
//! - `datum.rs`: datapoints and CloudWatch's checks of them;
//! - `statistics.rs`: statistics of periods;
//! - `store.rs`: what the component needs kept.

pub mod api;
pub(crate) mod datum;
pub(crate) mod statistics;
pub mod store;

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};

use crate::error::CloudWatchException;
use crate::paging::{self, Listing};
use crate::scope::Scope;
use crate::store::Tx;
use crate::{ApiError, Context, Empty, Engine, alarms};
use api::*;
pub use datum::{Aggregate, Datum};
use datum::{INVALID_COMBINATION, INVALID_VALUE};
pub(crate) use datum::{dimensions_key, pairs, value_in_range};
pub use statistics::{MetricQuery, PeriodAggregate};
pub(crate) use statistics::{SIMPLE, is_extended_statistic};

/// ListMetrics pages hold up to 500 metrics, as on AWS.
const LIST_METRICS_PAGE: usize = 500;
/// GetMetricData's default and largest page, in datapoints.
const MAX_DATAPOINTS: i64 = 100_800;

fn invalid_token() -> ApiError {
    ApiError::new(
        CloudWatchException::InvalidNextToken,
        "The next token is invalid.",
    )
}

/// Stores datapoints and re-evaluates the alarms watching the metrics they touch, in the
/// caller's transaction. Answers the names of the alarms evaluated (of the transaction's
/// scope).
pub(crate) fn record(
    tx: &mut dyn Tx,
    ctx: &Context,
    data: &[Datum],
) -> Result<Vec<String>, ApiError> {
    // The store adds samples up per metric, unit and bucket (see `Datum::bucket_s`). Data of
    // one bucket are added up here first, so that it costs the store one write: the matches
    // of a live trail's or PutLogEvents' events, which arrive within a minute or so, mostly
    // share their buckets.
    let mut buckets: Vec<(&Datum, Aggregate)> = Vec::new();
    let mut at: HashMap<_, usize> = HashMap::new();
    for d in data {
        let key = (
            d.namespace.as_str(),
            d.metric_name.as_str(),
            d.dimensions.as_slice(),
            d.unit.as_str(),
            d.high_resolution,
            d.bucket_s(),
        );
        match at.entry(key) {
            Entry::Occupied(o) => buckets[*o.get()].1.add(&d.stats),
            Entry::Vacant(v) => {
                v.insert(buckets.len());
                buckets.push((d, d.stats));
            }
        }
    }
    let mut touched = BTreeSet::new();
    for (d, stats) in buckets {
        let dims = dimensions_key(&d.dimensions);
        if stats == d.stats {
            tx.record_datum(d, &dims, ctx.now_ms)?;
        } else {
            let added = Datum { stats, ..d.clone() };
            tx.record_datum(&added, &dims, ctx.now_ms)?;
        }
        touched.insert((d.namespace.clone(), d.metric_name.clone(), dims));
    }
    let mut evaluated = Vec::new();
    for (namespace, name, dims) in touched {
        evaluated.extend(alarms::evaluate_watching(
            tx, ctx, &namespace, &name, &dims,
        )?);
    }
    Ok(evaluated)
}

/// The CloudWatch metric operations.
pub struct Metrics<'e> {
    engine: &'e Engine,
    scope: Scope,
}

impl Engine {
    /// The CloudWatch metric operations.
    pub fn metrics(&self, scope: &Scope) -> Metrics<'_> {
        Metrics {
            engine: self,
            scope: scope.clone(),
        }
    }
}

impl Metrics<'_> {
    pub async fn put_metric_data(&self, req: PutMetricDataRequest) -> Result<Empty, ApiError> {
        let data = datum::data_of(&req, self.engine.now_ms())?;
        self.engine
            .write(&self.scope, move |tx, ctx| {
                record(tx, ctx, &data)?;
                Ok(Empty {})
            })
            .await
    }

    pub async fn get_metric_statistics(
        &self,
        req: GetMetricStatisticsRequest,
    ) -> Result<GetMetricStatisticsResponse, ApiError> {
        self.engine
            .read(&self.scope, move |tx, _| get_metric_statistics(tx, req))
            .await
    }

    pub async fn list_metrics(
        &self,
        req: ListMetricsRequest,
    ) -> Result<ListMetricsResponse, ApiError> {
        self.engine
            .read(&self.scope, move |tx, _| list_metrics(tx, req))
            .await
    }

    pub async fn get_metric_data(
        &self,
        req: GetMetricDataRequest,
    ) -> Result<GetMetricDataResponse, ApiError> {
        self.engine
            .read(&self.scope, move |tx, _| get_metric_data(tx, req))
            .await
    }
}

fn get_metric_statistics(
    tx: &mut dyn Tx,
    req: GetMetricStatisticsRequest,
) -> Result<GetMetricStatisticsResponse, ApiError> {
    if req.start_time >= req.end_time {
        return Err(ApiError::new(
            INVALID_VALUE,
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    if req.statistics.is_empty() {
        return Err(ApiError::new(
            CloudWatchException::MissingRequiredParameterException,
            "The parameter Statistics or ExtendedStatistics must be specified.",
        ));
    }
    let period = req.period.max(1);
    let start = (req.start_time.floor() as i64).div_euclid(period) * period;
    let end = req.end_time.ceil() as i64;
    // i128: StartTime and EndTime come from the caller and may be anything.
    let points =
        (i128::from(end) - i128::from(start) + i128::from(period) - 1) / i128::from(period);
    if points > 1440 {
        return Err(ApiError::new(
            INVALID_COMBINATION,
            format!(
                "You have requested up to {points} datapoints, which exceeds the limit of 1440. You may reduce the datapoints requested by increasing Period, or decreasing the time range."
            ),
        ));
    }
    let dims = dimensions_key(&pairs(&req.dimensions));
    let rows = tx.period_aggregates(&MetricQuery {
        namespace: &req.namespace,
        metric: &req.metric_name,
        dims: &dims,
        unit: req.unit.as_deref(),
        period_s: period,
        first_s: start,
        end_s: end,
    })?;
    let asked = |name: &str, a: &PeriodAggregate| {
        req.statistics
            .iter()
            .any(|s| s == name)
            .then(|| a.statistic(name))
            .flatten()
    };
    let datapoints = rows
        .iter()
        .map(|a| Datapoint {
            timestamp: start + a.index * period,
            sample_count: asked("SampleCount", a),
            average: asked("Average", a),
            sum: asked("Sum", a),
            minimum: asked("Minimum", a),
            maximum: asked("Maximum", a),
            unit: req.unit.clone().unwrap_or_else(|| "None".into()),
        })
        .collect();
    Ok(GetMetricStatisticsResponse {
        label: req.metric_name,
        datapoints,
    })
}

fn list_metrics(tx: &mut dyn Tx, req: ListMetricsRequest) -> Result<ListMetricsResponse, ApiError> {
    let mut after: i64 = match &req.next_token {
        None => 0,
        Some(t) => paging::key(Listing::Metrics, t).ok_or_else(invalid_token)?,
    };
    let matches = |m: &Metric| {
        req.dimensions.iter().all(|f| {
            m.dimensions
                .iter()
                .any(|d| d.name == f.name && f.value.as_ref().is_none_or(|v| &d.value == v))
        })
    };
    let mut metrics = Vec::new();
    let mut last_id = after;
    // Filters on dimensions leave some rows out: read in batches until the page is full.
    loop {
        let batch = tx.metrics(
            after,
            req.namespace.as_deref(),
            req.metric_name.as_deref(),
            LIST_METRICS_PAGE * 2,
        )?;
        let Some(end) = batch.last().map(|m| m.id) else {
            break;
        };
        for stored in batch {
            if !matches(&stored.metric) {
                continue;
            }
            if metrics.len() == LIST_METRICS_PAGE {
                return Ok(ListMetricsResponse {
                    metrics,
                    next_token: Some(paging::token(Listing::Metrics, last_id)),
                });
            }
            last_id = stored.id;
            metrics.push(stored.metric);
        }
        after = end;
    }
    Ok(ListMetricsResponse {
        metrics,
        next_token: None,
    })
}

fn get_metric_data(
    tx: &mut dyn Tx,
    req: GetMetricDataRequest,
) -> Result<GetMetricDataResponse, ApiError> {
    if req.start_time >= req.end_time {
        return Err(ApiError::new(
            INVALID_VALUE,
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    if req.metric_data_queries.len() > 500 {
        return Err(ApiError::new(
            INVALID_VALUE,
            "The collection MetricDataQueries must not have a size greater than 500.",
        ));
    }
    let ascending = req.scan_by.as_deref() == Some("TimestampAscending");
    let page = req
        .max_datapoints
        .unwrap_or(MAX_DATAPOINTS)
        .clamp(1, MAX_DATAPOINTS) as usize;
    // Tokens continue at a query and a datapoint within it.
    let (first_query, first_offset): (usize, usize) = match &req.next_token {
        None => (0, 0),
        Some(t) => paging::key(Listing::MetricData, t).ok_or_else(invalid_token)?,
    };
    let start = req.start_time.floor() as i64;
    let end = req.end_time.ceil() as i64;
    for (i, q) in req.metric_data_queries.iter().enumerate() {
        let Some(stat) = q.metric_stat.as_ref().map(|s| s.stat.as_str()) else {
            continue;
        };
        if SIMPLE.contains(&stat) {
            continue;
        }
        return Err(if is_extended_statistic(stat) {
            ApiError::new(
                INVALID_VALUE,
                format!(
                    "The statistic {stat} of query {} is a percentile or trimmed statistic; trailwatch keeps sums, counts, minima and maxima only.",
                    q.id
                ),
            )
        } else {
            // AWS's wording, seen in client reports.
            ApiError::validation(format!(
                "The value {stat} for parameter MetricDataQueries.member.{}.MetricStat.Stat is not a valid statistic.",
                i + 1
            ))
        });
    }
    let mut results = Vec::new();
    let mut left = page;
    let mut next = None;
    for (qi, q) in req.metric_data_queries.iter().enumerate() {
        if q.return_data == Some(false) || qi < first_query {
            continue;
        }
        if q.expression.is_some() {
            return Err(ApiError::new(
                INVALID_VALUE,
                format!(
                    "The query {} uses a metric math expression; trailwatch evaluates MetricStat queries only.",
                    q.id
                ),
            ));
        }
        let Some(stat) = &q.metric_stat else {
            return Err(ApiError::new(
                CloudWatchException::MissingRequiredParameterException,
                format!(
                    "The query {} must have a MetricStat or an Expression.",
                    q.id
                ),
            ));
        };
        let period = stat.period.max(1);
        let dims = dimensions_key(&pairs(&stat.metric.dimensions));
        let namespace = stat.metric.namespace.clone().unwrap_or_default();
        let name = stat.metric.metric_name.clone().unwrap_or_default();
        let first = start.div_euclid(period) * period;
        let rows = tx.period_aggregates(&MetricQuery {
            namespace: &namespace,
            metric: &name,
            dims: &dims,
            unit: stat.unit.as_deref(),
            period_s: period,
            first_s: first,
            end_s: end,
        })?;
        let mut points: Vec<(i64, f64)> = rows
            .iter()
            .filter_map(|a| Some((first + a.index * period, a.statistic(&stat.stat)?)))
            .collect();
        points.sort_by_key(|(t, _)| *t);
        if !ascending {
            points.reverse();
        }
        let offset = if qi == first_query { first_offset } else { 0 };
        let rest = points.get(offset..).unwrap_or_default();
        let taken = rest.len().min(left);
        left -= taken;
        let complete = taken == rest.len();
        if !complete && next.is_none() {
            next = Some(paging::token(Listing::MetricData, (qi, offset + taken)));
        }
        results.push(MetricDataResult {
            id: q.id.clone(),
            label: q.label.clone().unwrap_or(name),
            timestamps: rest[..taken].iter().map(|(t, _)| *t).collect(),
            values: rest[..taken].iter().map(|(_, v)| *v).collect(),
            status_code: if complete { "Complete" } else { "PartialData" }.to_owned(),
            messages: Vec::new(),
        });
    }
    Ok(GetMetricDataResponse {
        metric_data_results: results,
        messages: Vec::new(),
        next_token: next,
    })
}
