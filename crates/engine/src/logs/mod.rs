//! CloudWatch Logs: log groups and streams, log events, and the metric filters that turn
//! events into metrics.
//!
//! - `api.rs`: the operations' requests and responses;
//! - `groups.rs`: groups, streams and retention;
//! - `events.rs`: PutLogEvents, GetLogEvents and FilterLogEvents;
//! - `filters.rs`: metric filters, compiled per group into one filter set;
//! - `store.rs`: what the component needs kept.

pub mod api;
mod events;
mod filters;
mod groups;
mod matching;
pub mod store;

use crate::error::LogsException;
use crate::scope::Scope;
use crate::{ApiError, Empty, Engine};
use api::*;
pub(crate) use events::{PreparedDelivery, append_delivered, prepare_delivered};
pub(crate) use groups::expire_events;
pub(crate) use matching::{FilterSets, GroupFilters, load_filters};

/// PutLogEvents' most events per batch (a store may count on it for event ids).
pub const PER_BLOCK: usize = 10_000;
/// The longest time one PutLogEvents batch may span.
pub const MAX_SPAN_MS: i64 = 24 * 3600 * 1000;

const NOT_FOUND: LogsException = LogsException::ResourceNotFoundException;
const INVALID: LogsException = LogsException::InvalidParameterException;

fn group_not_found() -> ApiError {
    ApiError::new(NOT_FOUND, "The specified log group does not exist.")
}

fn stream_not_found() -> ApiError {
    ApiError::new(NOT_FOUND, "The specified log stream does not exist.")
}

fn invalid_token() -> ApiError {
    ApiError::new(INVALID, "The specified nextToken is invalid.")
}

/// A log group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroup {
    pub name: String,
    pub creation_ms: i64,
    /// Events older than this many days are deleted.
    pub retention_days: Option<i64>,
}

/// A log stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStream {
    pub group: String,
    pub name: String,
    pub creation_ms: i64,
    pub first_event_ms: Option<i64>,
    pub last_event_ms: Option<i64>,
    pub last_ingestion_ms: Option<i64>,
    pub stored_bytes: i64,
}

impl LogStream {
    /// A stream without events yet.
    pub fn new(group: &str, name: &str, creation_ms: i64) -> LogStream {
        LogStream {
            group: group.to_owned(),
            name: name.to_owned(),
            creation_ms,
            first_event_ms: None,
            last_event_ms: None,
            last_ingestion_ms: None,
            stored_bytes: 0,
        }
    }
}

/// A metric filter of a log group.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFilter {
    pub group: String,
    pub name: String,
    pub pattern: String,
    pub transformation: MetricTransformation,
    pub creation_ms: i64,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: i64,
    pub stream: String,
    pub timestamp: i64,
    pub ingestion: i64,
    pub message: String,
}

impl StoredEvent {
    /// The reading order.
    pub fn key(&self) -> (i64, i64) {
        (self.timestamp, self.id)
    }
}

/// Which events a read visits.
#[derive(Debug, Clone, Copy)]
pub struct EventScope<'a> {
    pub group: &'a str,
    /// One stream, or every stream of the group.
    pub stream: Option<&'a str>,
    /// Timestamps from `start` (inclusive) to `end` (exclusive).
    pub start: i64,
    pub end: i64,
}

/// One page of a read: the events kept, in reading order, and whether more may follow.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    pub more: bool,
}

/// A log group named directly or by `logGroupIdentifier` (a name or an ARN).
fn group_name_of(name: &Option<String>, identifier: &Option<String>) -> Result<String, ApiError> {
    match (name, identifier) {
        (Some(_), Some(_)) => Err(ApiError::new(
            INVALID,
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
        )),
        (Some(n), None) => Ok(n.clone()),
        (None, Some(id)) => Ok(match id.split_once(":log-group:") {
            Some((_, rest)) => rest.trim_end_matches(":*").to_owned(),
            None => id.clone(),
        }),
        (None, None) => Err(ApiError::new(
            INVALID,
            "Either logGroupName or logGroupIdentifier must be given.",
        )),
    }
}

/// The CloudWatch Logs operations, in one account and region.
pub struct Logs<'e> {
    engine: &'e Engine,
    scope: Scope,
}

impl Engine {
    /// The CloudWatch Logs operations in `scope`.
    pub fn logs(&self, scope: &Scope) -> Logs<'_> {
        Logs {
            engine: self,
            scope: scope.clone(),
        }
    }
}

impl Logs<'_> {
    /// A log group's tags. Tags given to CreateLogGroup are not kept yet, so a group has none.
    pub async fn list_tags_for_resource(
        &self,
        req: ListTagsForResourceRequest,
    ) -> Result<ListTagsForResourceResponse, ApiError> {
        let parsed = crate::scope::Arn::parse(&req.resource_arn).and_then(|a| {
            let name = a.log_group()?;
            Some((a.region.to_owned(), a.account.to_owned(), name.to_owned()))
        });
        let Some((region, account, name)) = parsed else {
            return Err(ApiError::new(
                INVALID,
                format!("{} is not a log group ARN.", req.resource_arn),
            ));
        };
        // A group of another region or account is not this scope's to show.
        let elsewhere = region != self.scope.region().name || account != self.scope.account();
        self.engine
            .read(&self.scope, move |tx, _| {
                if elsewhere {
                    return Err(group_not_found());
                }
                groups::require_group(tx, &name)?;
                Ok(ListTagsForResourceResponse {
                    tags: Default::default(),
                })
            })
            .await
    }

    /// Resource policies (which let other services write to log groups) are not kept: an
    /// account has none.
    pub async fn describe_resource_policies(
        &self,
        _req: DescribeResourcePoliciesRequest,
    ) -> Result<DescribeResourcePoliciesResponse, ApiError> {
        Ok(DescribeResourcePoliciesResponse {
            resource_policies: Vec::new(),
        })
    }

    pub async fn create_log_group(&self, req: LogGroupRequest) -> Result<Empty, ApiError> {
        self.engine
            .write(&self.scope, move |tx, ctx| {
                groups::create_group(tx, ctx, req)
            })
            .await
    }

    pub async fn delete_log_group(&self, req: LogGroupRequest) -> Result<Empty, ApiError> {
        self.engine
            .write(&self.scope, move |tx, ctx| {
                groups::delete_group(tx, ctx, req)
            })
            .await
    }

    pub async fn describe_log_groups(
        &self,
        req: DescribeLogGroupsRequest,
    ) -> Result<DescribeLogGroupsResponse, ApiError> {
        self.engine
            .read(&self.scope, move |tx, _| groups::describe_groups(tx, req))
            .await
    }

    pub async fn create_log_stream(&self, req: LogStreamRequest) -> Result<Empty, ApiError> {
        self.engine
            .write(&self.scope, move |tx, ctx| {
                groups::create_stream(tx, ctx, req)
            })
            .await
    }

    pub async fn delete_log_stream(&self, req: LogStreamRequest) -> Result<Empty, ApiError> {
        self.engine
            .write(&self.scope, move |tx, _| groups::delete_stream(tx, req))
            .await
    }

    pub async fn describe_log_streams(
        &self,
        req: DescribeLogStreamsRequest,
    ) -> Result<DescribeLogStreamsResponse, ApiError> {
        self.engine
            .read(&self.scope, move |tx, _| groups::describe_streams(tx, req))
            .await
    }

    pub async fn put_retention_policy(
        &self,
        req: PutRetentionPolicyRequest,
    ) -> Result<Empty, ApiError> {
        groups::check_retention(req.retention_in_days)?;
        self.engine
            .write(&self.scope, move |tx, ctx| {
                groups::set_retention(tx, ctx, &req.log_group_name, Some(req.retention_in_days))
            })
            .await
    }

    pub async fn delete_retention_policy(&self, req: LogGroupRequest) -> Result<Empty, ApiError> {
        self.engine
            .write(&self.scope, move |tx, ctx| {
                groups::set_retention(tx, ctx, &req.log_group_name, None)
            })
            .await
    }

    pub async fn put_log_events(
        &self,
        req: PutLogEventsRequest,
    ) -> Result<PutLogEventsResponse, ApiError> {
        events::put(self.engine, &self.scope, req).await
    }

    pub async fn get_log_events(
        &self,
        req: GetLogEventsRequest,
    ) -> Result<GetLogEventsResponse, ApiError> {
        self.engine
            .read(&self.scope, move |tx, ctx| events::get(tx, ctx, req))
            .await
    }

    pub async fn filter_log_events(
        &self,
        req: FilterLogEventsRequest,
    ) -> Result<FilterLogEventsResponse, ApiError> {
        self.engine
            .read(&self.scope, move |tx, ctx| events::filter(tx, ctx, req))
            .await
    }

    pub async fn put_metric_filter(&self, req: PutMetricFilterRequest) -> Result<Empty, ApiError> {
        self.engine
            .write(&self.scope, move |tx, ctx| filters::put(tx, ctx, req))
            .await
    }

    pub async fn describe_metric_filters(
        &self,
        req: DescribeMetricFiltersRequest,
    ) -> Result<DescribeMetricFiltersResponse, ApiError> {
        self.engine
            .read(&self.scope, move |tx, _| filters::describe(tx, req))
            .await
    }

    pub async fn delete_metric_filter(
        &self,
        req: DeleteMetricFilterRequest,
    ) -> Result<Empty, ApiError> {
        self.engine
            .write(&self.scope, move |tx, ctx| filters::delete(tx, ctx, req))
            .await
    }

    pub async fn test_metric_filter(
        &self,
        req: TestMetricFilterRequest,
    ) -> Result<TestMetricFilterResponse, ApiError> {
        filters::test(&req)
    }
}
