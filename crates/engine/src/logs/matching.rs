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
    // Dropped before the generation moves on: work prepared off the writer reads the
    // generation, then the filters; had it read the new generation and the old filters, its
    // matching would pass for the new filters'.
    sets.sets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&(scope.clone(), group.to_owned()));
    sets.generation.fetch_add(1, Ordering::AcqRel);
}

/// A log group's metric filters (for replay, a scope's), compiled together.
pub(crate) struct GroupFilters {
    set: FilterSet,
    filters: Vec<CompiledFilter>,
}

struct CompiledFilter {
    /// Its log group and name.
    group: String,
    name: String,
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

/// The metric filters of `group`, or of every log group of the scope.
pub(crate) fn load_filters(tx: &mut dyn Tx, group: Option<&str>) -> Result<GroupFilters, ApiError> {
    let mut patterns = Vec::new();
    let mut filters = Vec::new();
    for f in tx.metric_filters(group, None)? {
        // Stored filters were accepted by PutMetricFilter, so they compile.
        let (parsed, extractor) = compile(&f.pattern, &f.transformation)?;
        patterns.push(parsed);
        filters.push(CompiledFilter {
            group: f.group,
            name: f.name,
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
    let loaded = Arc::new(load_filters(tx, Some(group))?);
    sets.sets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((tx.scope().clone(), group.to_owned()), loaded.clone());
    Ok(loaded)
}

/// What a group's filters make of each event: matching datapoints, or defaults.
pub(super) fn match_events(filters: &GroupFilters, events: &[InputLogEvent]) -> Vec<Vec<Datum>> {
    let mut matcher = filters.matcher();
    events
        .iter()
        .map(|e| {
            let mut data = Vec::new();
            matcher.data(&e.message, e.timestamp, &mut data);
            data
        })
        .collect()
}

impl GroupFilters {
    pub(crate) fn matcher(&self) -> EventMatcher<'_> {
        EventMatcher {
            filters: self,
            matcher: self.set.matcher(),
            matched: Vec::new(),
        }
    }

    /// The filters' log groups and names, in the order of the indices matching gives.
    pub(crate) fn names(&self) -> impl Iterator<Item = (&str, &str)> {
        self.filters
            .iter()
            .map(|f| (f.group.as_str(), f.name.as_str()))
    }
}

/// Matches events one after another against a group's filters, reusing its buffers.
pub(crate) struct EventMatcher<'f> {
    filters: &'f GroupFilters,
    matcher: filter::SetMatcher<'f>,
    matched: Vec<usize>,
}

impl EventMatcher<'_> {
    /// Adds to `data` what the filters make of one event: a datum for each filter that
    /// matches it and for each with a default value that does not. Answers the indices of the
    /// filters that matched.
    pub(crate) fn data(
        &mut self,
        message: &str,
        timestamp_ms: i64,
        data: &mut Vec<Datum>,
    ) -> &[usize] {
        let filters = self.filters;
        if filters.filters.is_empty() {
            return &[];
        }
        self.matcher.matching(message, &mut self.matched);
        let mut next_match = self.matched.iter().peekable();
        for (i, f) in filters.filters.iter().enumerate() {
            let is_match = next_match.next_if(|&&m| m == i).is_some();
            let t = &f.transformation;
            let outcome = if is_match {
                f.extractor
                    .apply_to_match(&filters.set.filters()[i], message)
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
                timestamp_ms,
                stats: Aggregate::one(value),
                high_resolution: false,
            });
        }
        &self.matched
    }
}
