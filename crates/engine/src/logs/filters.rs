//! Metric filters: PutMetricFilter, DescribeMetricFilters, DeleteMetricFilter and
//! TestMetricFilter.

use filter::FilterPattern;

use super::api::*;
use super::groups::require_group;
use super::matching::{compile, forget_filters};
use super::{INVALID, MetricFilter, NOT_FOUND, invalid_token};
use crate::error::LogsException;
use crate::paging::{self, Listing};
use crate::store::Tx;
use crate::{ApiError, Context, Empty};

/// AWS's limit of metric filters per log group.
const MAX_FILTERS_PER_GROUP: usize = 100;

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
            LogsException::LimitExceededException,
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
    forget_filters(&ctx.filter_sets, tx.scope(), &req.log_group_name);
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
    forget_filters(&ctx.filter_sets, tx.scope(), &req.log_group_name);
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
