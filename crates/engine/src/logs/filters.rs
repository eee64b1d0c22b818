//! Metric filters: PutMetricFilter and its kin, and each group's filters compiled into one
//! filter set that turns a batch of events into datapoints.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use filter::{FilterPattern, FilterSet, MetricExtractor, MetricOutcome};

use super::api::*;
use super::groups::require_group;
use super::{INVALID, MetricFilter, NOT_FOUND, invalid_token};
use crate::metrics::{self, Aggregate, Datum};
use crate::paging::{self, Listing};
use crate::store::Tx;
use crate::{ApiError, Context, Empty};

/// AWS's limit of metric filters per log group.
const MAX_FILTERS_PER_GROUP: usize = 100;

/// Each log group's compiled metric filters. Entries are made and dropped by the writer only,
/// so they always describe the filters the next write sees; `generation` counts the drops, so
/// that matching done outside the writer can tell whether it used the filters still in force.
#[derive(Default)]
pub(crate) struct FilterSets {
    sets: std::sync::Mutex<HashMap<String, Arc<GroupFilters>>>,
    generation: AtomicU64,
}

impl FilterSets {
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(super) fn cached(&self, group: &str) -> Option<Arc<GroupFilters>> {
        self.sets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(group)
            .cloned()
    }
}

/// Drops a group's compiled filters. Called inside the write that changed them: the writer runs
/// writes one after another, so the next write of the group compiles the new filters.
pub(super) fn forget_filters(sets: &FilterSets, group: &str) {
    sets.generation.fetch_add(1, Ordering::AcqRel);
    sets.sets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(group);
}

/// A log group's metric filters, compiled together.
pub(crate) struct GroupFilters {
    set: FilterSet,
    filters: Vec<CompiledFilter>,
}

struct CompiledFilter {
    extractor: MetricExtractor,
    transformation: MetricTransformation,
}

fn dimension_refs(t: &MetricTransformation) -> Vec<(String, String)> {
    t.dimensions
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn compile(
    pattern: &str,
    t: &MetricTransformation,
) -> Result<(FilterPattern, MetricExtractor), ApiError> {
    let parsed =
        FilterPattern::parse(pattern).map_err(|e| ApiError::new(INVALID, e.to_string()))?;
    let extractor = MetricExtractor::new(
        &parsed,
        &t.metric_value,
        t.default_value,
        &dimension_refs(t),
    )
    .map_err(|e| ApiError::new(INVALID, e.to_string()))?;
    Ok((parsed, extractor))
}

fn load_filters(tx: &mut dyn Tx, group: &str) -> Result<GroupFilters, ApiError> {
    let mut patterns = Vec::new();
    let mut filters = Vec::new();
    for f in tx.metric_filters(Some(group), None)? {
        // Stored filters were accepted by PutMetricFilter, so they compile.
        let (parsed, extractor) = compile(&f.pattern, &f.transformation)?;
        patterns.push(parsed);
        filters.push(CompiledFilter {
            extractor,
            transformation: f.transformation,
        });
    }
    Ok(GroupFilters {
        set: FilterSet::new(patterns),
        filters,
    })
}

/// A group's compiled filters, compiled now if they are not yet.
pub(super) fn group_filters(
    tx: &mut dyn Tx,
    sets: &FilterSets,
    group: &str,
) -> Result<Arc<GroupFilters>, ApiError> {
    if let Some(found) = sets.cached(group) {
        return Ok(found);
    }
    let loaded = Arc::new(load_filters(tx, group)?);
    sets.sets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(group.to_owned(), loaded.clone());
    Ok(loaded)
}

/// What a group's filters make of each event: matching datapoints, or defaults.
pub(super) fn match_events(filters: &GroupFilters, events: &[InputLogEvent]) -> Vec<Vec<Datum>> {
    let mut matcher = filters.set.matcher();
    let mut matched = Vec::new();
    events
        .iter()
        .map(|e| {
            let mut data = Vec::new();
            if filters.filters.is_empty() {
                return data;
            }
            matcher.matching(&e.message, &mut matched);
            let mut next_match = matched.iter().peekable();
            for (i, f) in filters.filters.iter().enumerate() {
                let is_match = next_match.next_if(|&&m| m == i).is_some();
                let t = &f.transformation;
                let outcome = if is_match {
                    f.extractor
                        .apply_to_match(&filters.set.filters()[i], &e.message)
                } else {
                    match t.default_value {
                        Some(d) => MetricOutcome::Default(d),
                        None => continue,
                    }
                };
                let (value, dimensions) = match outcome {
                    MetricOutcome::Datum { value, dimensions } => (value, dimensions),
                    MetricOutcome::Default(d) => (d, Vec::new()),
                    MetricOutcome::Nothing => continue,
                };
                // A value CloudWatch would refuse makes no datum, as a value that is not a
                // number makes none.
                if !metrics::value_in_range(value) {
                    continue;
                }
                data.push(Datum {
                    namespace: t.metric_namespace.clone(),
                    metric_name: t.metric_name.clone(),
                    dimensions,
                    unit: t.unit.clone().unwrap_or_else(|| "None".to_owned()),
                    timestamp_ms: e.timestamp,
                    stats: Aggregate::one(value),
                    high_resolution: false,
                });
            }
            data
        })
        .collect()
}

pub(super) fn put(
    tx: &mut dyn Tx,
    ctx: &Context,
    req: PutMetricFilterRequest,
) -> Result<Empty, ApiError> {
    let [t] = req.metric_transformations.as_slice() else {
        return Err(ApiError::new(
            INVALID,
            format!(
                "1 validation error detected: Value at 'metricTransformations' failed to satisfy constraint: Member must have length less than or equal to 1 (got {})",
                req.metric_transformations.len()
            ),
        ));
    };
    if t.default_value.is_some() && t.dimensions.as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(ApiError::new(
            INVALID,
            "Invalid metric transformation: dimensions are not supported together with a defaultValue.",
        ));
    }
    compile(&req.filter_pattern, t)?;
    require_group(tx, &req.log_group_name)?;
    let existing = tx.metric_filters(Some(&req.log_group_name), None)?;
    let exists = existing.iter().any(|f| f.name == req.filter_name);
    if !exists && existing.len() >= MAX_FILTERS_PER_GROUP {
        return Err(ApiError::new(
            "LimitExceededException",
            "Resource limit exceeded.",
        ));
    }
    tx.put_metric_filter(&MetricFilter {
        group: req.log_group_name.clone(),
        name: req.filter_name,
        pattern: req.filter_pattern,
        transformation: t.clone(),
        creation_ms: ctx.now_ms,
    })?;
    forget_filters(&ctx.filter_sets, &req.log_group_name);
    Ok(Empty {})
}

pub(super) fn describe(
    tx: &mut dyn Tx,
    req: DescribeMetricFiltersRequest,
) -> Result<DescribeMetricFiltersResponse, ApiError> {
    if req.metric_name.is_some() != req.metric_namespace.is_some() {
        return Err(ApiError::new(
            INVALID,
            "metricName and metricNamespace must be given together.",
        ));
    }
    if req.filter_name_prefix.is_some() && req.log_group_name.is_none() {
        return Err(ApiError::new(
            INVALID,
            "filterNamePrefix requires logGroupName.",
        ));
    }
    if let Some(g) = &req.log_group_name {
        require_group(tx, g)?;
    }
    let limit = req.limit.unwrap_or(50).max(1) as usize;
    // Filters of several groups have no one-column order: a page continues at an offset.
    let offset: usize = match &req.next_token {
        None => 0,
        Some(t) => paging::key(Listing::MetricFilters, t).ok_or_else(invalid_token)?,
    };
    let filters: Vec<MetricFilter> = tx
        .metric_filters(
            req.log_group_name.as_deref(),
            req.filter_name_prefix.as_deref(),
        )?
        .into_iter()
        .filter(|f| match (&req.metric_name, &req.metric_namespace) {
            (Some(m), Some(ns)) => {
                &f.transformation.metric_name == m && &f.transformation.metric_namespace == ns
            }
            _ => true,
        })
        .collect();
    let total = filters.len();
    let page: Vec<MetricFilterDescription> = filters
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|f| MetricFilterDescription {
            filter_name: f.name,
            filter_pattern: f.pattern,
            metric_transformations: vec![f.transformation],
            creation_time: f.creation_ms,
            log_group_name: f.group,
            apply_on_transformed_logs: false,
        })
        .collect();
    let next_token = (offset + page.len() < total)
        .then(|| paging::token(Listing::MetricFilters, offset + page.len()));
    Ok(DescribeMetricFiltersResponse {
        metric_filters: page,
        next_token,
    })
}

pub(super) fn delete(
    tx: &mut dyn Tx,
    ctx: &Context,
    req: DeleteMetricFilterRequest,
) -> Result<Empty, ApiError> {
    require_group(tx, &req.log_group_name)?;
    if !tx.delete_metric_filter(&req.log_group_name, &req.filter_name)? {
        return Err(ApiError::new(
            NOT_FOUND,
            "The specified metric filter does not exist.",
        ));
    }
    forget_filters(&ctx.filter_sets, &req.log_group_name);
    Ok(Empty {})
}

pub(super) fn test(req: &TestMetricFilterRequest) -> Result<TestMetricFilterResponse, ApiError> {
    let pattern = FilterPattern::parse(&req.filter_pattern)
        .map_err(|e| ApiError::new(INVALID, e.to_string()))?;
    let matches = req
        .log_event_messages
        .iter()
        .enumerate()
        .filter_map(|(i, message)| {
            let values = pattern.extract(message)?;
            Some(MetricFilterMatchRecord {
                event_number: i + 1,
                event_message: message.clone(),
                extracted_values: values,
            })
        })
        .collect();
    Ok(TestMetricFilterResponse { matches })
}
