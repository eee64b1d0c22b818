//! Each log group's metric filters compiled into one filter set that turns a batch of events
//! into datapoints, kept until the group's filters change.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use filter::{FilterPattern, FilterSet, MetricExtractor, MetricOutcome};

use super::INVALID;
use super::api::*;
use crate::ApiError;
use crate::metrics::{self, Aggregate, Datum};
use crate::scope::Scope;
use crate::store::Tx;

/// A log group of a scope.
type GroupKey = (Scope, String);

/// Each log group's compiled metric filters. Entries are made and dropped by the writer only,
/// so they always describe the filters the next write sees; `generation` counts the drops, so
/// that matching done outside the writer can tell whether it used the filters still in force.
#[derive(Default)]
pub(crate) struct FilterSets {
    sets: std::sync::Mutex<HashMap<GroupKey, Arc<GroupFilters>>>,
    generation: AtomicU64,
}

impl FilterSets {
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(super) fn cached(&self, scope: &Scope, group: &str) -> Option<Arc<GroupFilters>> {
        self.sets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(scope.clone(), group.to_owned()))
            .cloned()
    }
}

/// Drops a group's compiled filters. Called inside the write that changed them: the writer runs
/// writes one after another, so the next write of the group compiles the new filters.
pub(super) fn forget_filters(sets: &FilterSets, scope: &Scope, group: &str) {
    sets.generation.fetch_add(1, Ordering::AcqRel);
    sets.sets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&(scope.clone(), group.to_owned()));
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

pub(super) fn compile(
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
    if let Some(found) = sets.cached(tx.scope(), group) {
        return Ok(found);
    }
    let loaded = Arc::new(load_filters(tx, group)?);
    sets.sets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((tx.scope().clone(), group.to_owned()), loaded.clone());
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
