//! What log groups, streams, events and metric filters need kept.

use super::{EventPage, EventScope, LogGroup, LogStream, MetricFilter, StoredEvent};
use crate::scope::Scope;
use crate::store::StorageResult as Result;

/// A log group with what DescribeLogGroups counts of it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogGroupSummary {
    pub group: LogGroup,
    pub metric_filter_count: i64,
    pub stored_bytes: i64,
}

/// How DescribeLogStreams orders streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOrder {
    /// By name.
    Name { descending: bool },
    /// By the last event's timestamp (streams without events first), then name.
    LastEventTime { descending: bool },
}

/// Log groups, their streams and events, and their metric filters.
pub trait LogStore {
    /// The log group `name`, if it exists.
    fn log_group(&mut self, name: &str) -> Result<Option<LogGroup>>;
    /// Adds a log group (its name is new).
    fn insert_log_group(&mut self, group: &LogGroup) -> Result<()>;
    /// Removes a log group with its streams, events and metric filters.
    fn delete_log_group(&mut self, name: &str) -> Result<()>;
    /// Log groups in name order after `after`, whose names start with `prefix`.
    fn log_groups(&mut self, after: Option<&str>, prefix: &str) -> Result<Vec<LogGroupSummary>>;
    /// Sets or clears a group's retention.
    fn set_retention(&mut self, group: &str, days: Option<i64>) -> Result<()>;
    /// Every log group with a retention policy, in every scope.
    fn retention_policies(&mut self) -> Result<Vec<(Scope, String, i64)>>;

    /// The stream `name` of `group`, if it exists.
    fn log_stream(&mut self, group: &str, name: &str) -> Result<Option<LogStream>>;
    /// Adds a stream; `false` if the group has one of that name already.
    fn insert_log_stream(&mut self, stream: &LogStream) -> Result<bool>;
    /// Removes a stream with its events.
    fn delete_log_stream(&mut self, group: &str, name: &str) -> Result<()>;
    /// A group's streams whose names start with `prefix`, in `order`, from `offset`.
    fn log_streams(
        &mut self,
        group: &str,
        prefix: &str,
        order: StreamOrder,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LogStream>>;

    /// Stores a batch of events of one stream, in time order, encoded by
    /// [`encode_events`](super::encode_events), whose timestamps run from `span.0` to `span.1`
    /// and whose messages hold `message_bytes`; the stream's statistics follow.
    fn append_events(
        &mut self,
        group: &str,
        stream: &str,
        span: (i64, i64),
        ingestion_ms: i64,
        encoded: &[u8],
        message_bytes: i64,
    ) -> Result<()>;
    /// Up to `limit` events of `scope` after `after` in `(timestamp, id)` order, of streams
    /// `stream_wanted` accepts, that `keep` accepts.
    fn events_forward(
        &mut self,
        scope: &EventScope<'_>,
        after: (i64, i64),
        limit: usize,
        stream_wanted: &dyn Fn(&str) -> bool,
        keep: &mut dyn FnMut(&StoredEvent) -> bool,
    ) -> Result<EventPage>;
    /// Up to `limit` events of one stream before `before`, the latest first.
    fn events_backward(
        &mut self,
        scope: &EventScope<'_>,
        before: (i64, i64),
        limit: usize,
    ) -> Result<EventPage>;
    /// Deletes a group's events older than `cutoff_ms`.
    fn expire_events(&mut self, group: &str, cutoff_ms: i64) -> Result<()>;

    /// Metric filters in (group, name) order: of one group if given, whose names start with
    /// `name_prefix`.
    fn metric_filters(
        &mut self,
        group: Option<&str>,
        name_prefix: Option<&str>,
    ) -> Result<Vec<MetricFilter>>;
    /// Adds a metric filter, or replaces the pattern and transformation of the filter of that
    /// name (which keeps its creation time).
    fn put_metric_filter(&mut self, filter: &MetricFilter) -> Result<()>;
    /// Removes a metric filter; whether it existed.
    fn delete_metric_filter(&mut self, group: &str, name: &str) -> Result<bool>;
}
