//! Log groups, log streams and retention.

use super::api::*;
use super::matching::forget_filters;
use super::store::StreamOrder;
use super::{
    INVALID, LogGroup, LogStream, group_name_of, group_not_found, invalid_token, stream_not_found,
};
use crate::error::LogsException;
use crate::paging::{self, Listing};
use crate::scope::Scope;
use crate::store::Tx;
use crate::{ApiError, Context, Empty};

/// The retention periods CloudWatch Logs accepts, in days.
const RETENTION_DAYS: [i64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
const DAY_MS: i64 = 24 * 3600 * 1000;

fn group_arn(scope: &Scope, name: &str) -> String {
    scope.arn("logs", &format!("log-group:{name}"))
}

/// Whether the group exists; its error if not.
pub(super) fn require_group(tx: &mut dyn Tx, name: &str) -> Result<LogGroup, ApiError> {
    tx.log_group(name)?.ok_or_else(group_not_found)
}

pub(super) fn require_stream(tx: &mut dyn Tx, group: &str, name: &str) -> Result<(), ApiError> {
    require_group(tx, group)?;
    tx.log_stream(group, name)?.ok_or_else(stream_not_found)?;
    Ok(())
}

pub(super) fn create_group(
    tx: &mut dyn Tx,
    ctx: &Context,
    req: LogGroupRequest,
) -> Result<Empty, ApiError> {
    let name = req.log_group_name;
    if name.starts_with("aws/") {
        return Err(ApiError::new(
            INVALID,
            "Log group names starting with 'aws/' are reserved for AWS services.",
        ));
    }
    if tx.log_group(&name)?.is_some() {
        return Err(ApiError::new(
            LogsException::ResourceAlreadyExistsException,
            "The specified log group already exists",
        ));
    }
    tx.insert_log_group(&LogGroup {
        name,
        creation_ms: ctx.now_ms,
        retention_days: None,
    })?;
    Ok(Empty {})
}

/// Streams, events and metric filters go with the group; metrics already published stay, as
/// on AWS.
pub(super) fn delete_group(
    tx: &mut dyn Tx,
    ctx: &Context,
    req: LogGroupRequest,
) -> Result<Empty, ApiError> {
    require_group(tx, &req.log_group_name)?;
    tx.delete_log_group(&req.log_group_name)?;
    forget_filters(&ctx.filter_sets, tx.scope(), &req.log_group_name);
    Ok(Empty {})
}

pub(super) fn describe_groups(
    tx: &mut dyn Tx,
    req: DescribeLogGroupsRequest,
) -> Result<DescribeLogGroupsResponse, ApiError> {
    if req.log_group_name_prefix.is_some() && req.log_group_name_pattern.is_some() {
        return Err(ApiError::new(
            INVALID,
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
        ));
    }
    let limit = req.limit.unwrap_or(50).max(1) as usize;
    let after: Option<String> = match &req.next_token {
        None => None,
        Some(t) => Some(paging::key(Listing::LogGroups, t).ok_or_else(invalid_token)?),
    };
    let prefix = req.log_group_name_prefix.clone().unwrap_or_default();
    let pattern = req.log_group_name_pattern.as_deref();
    let mut log_groups: Vec<LogGroupDescription> = Vec::new();
    let mut next_token = None;
    for g in tx.log_groups(after.as_deref(), &prefix)? {
        let name = &g.group.name;
        if pattern.is_some_and(|p| !name.contains(p)) {
            continue;
        }
        if log_groups.len() == limit {
            next_token = log_groups
                .last()
                .map(|last| paging::token(Listing::LogGroups, &last.log_group_name));
            break;
        }
        let arn = group_arn(tx.scope(), name);
        log_groups.push(LogGroupDescription {
            log_group_name: name.clone(),
            creation_time: g.group.creation_ms,
            retention_in_days: g.group.retention_days,
            metric_filter_count: g.metric_filter_count,
            arn: format!("{arn}:*"),
            stored_bytes: g.stored_bytes,
            log_group_class: "STANDARD".to_owned(),
            log_group_arn: arn,
        });
    }
    Ok(DescribeLogGroupsResponse {
        log_groups,
        next_token,
    })
}

pub(super) fn create_stream(
    tx: &mut dyn Tx,
    ctx: &Context,
    req: LogStreamRequest,
) -> Result<Empty, ApiError> {
    require_group(tx, &req.log_group_name)?;
    let inserted = tx.insert_log_stream(&LogStream::new(
        &req.log_group_name,
        &req.log_stream_name,
        ctx.now_ms,
    ))?;
    if !inserted {
        return Err(ApiError::new(
            LogsException::ResourceAlreadyExistsException,
            "The specified log stream already exists",
        ));
    }
    Ok(Empty {})
}

pub(super) fn delete_stream(tx: &mut dyn Tx, req: LogStreamRequest) -> Result<Empty, ApiError> {
    require_stream(tx, &req.log_group_name, &req.log_stream_name)?;
    tx.delete_log_stream(&req.log_group_name, &req.log_stream_name)?;
    Ok(Empty {})
}

pub(super) fn describe_streams(
    tx: &mut dyn Tx,
    req: DescribeLogStreamsRequest,
) -> Result<DescribeLogStreamsResponse, ApiError> {
    let group = group_name_of(&req.log_group_name, &req.log_group_identifier)?;
    require_group(tx, &group)?;
    let by_time = req.order_by.as_deref() == Some("LastEventTime");
    if by_time && req.log_stream_name_prefix.is_some() {
        return Err(ApiError::new(
            INVALID,
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        ));
    }
    let descending = req.descending.unwrap_or(false);
    let limit = req.limit.unwrap_or(50).max(1) as usize;
    // Streams sort by name or by last event time, which have no unique order of their own: a
    // page continues at an offset.
    let offset: usize = match &req.next_token {
        None => 0,
        Some(t) => paging::key(Listing::LogStreams, t).ok_or_else(invalid_token)?,
    };
    let order = if by_time {
        StreamOrder::LastEventTime { descending }
    } else {
        StreamOrder::Name { descending }
    };
    let prefix = req.log_stream_name_prefix.clone().unwrap_or_default();
    let mut streams = tx.log_streams(&group, &prefix, order, offset, limit + 1)?;
    let next_token = (streams.len() > limit).then(|| {
        streams.truncate(limit);
        paging::token(Listing::LogStreams, offset + limit)
    });
    let arn = group_arn(tx.scope(), &group);
    Ok(DescribeLogStreamsResponse {
        log_streams: streams
            .into_iter()
            .map(|s| LogStreamDescription {
                arn: format!("{arn}:log-stream:{}", s.name),
                log_stream_name: s.name,
                creation_time: s.creation_ms,
                first_event_timestamp: s.first_event_ms,
                last_event_timestamp: s.last_event_ms,
                last_ingestion_time: s.last_ingestion_ms,
                stored_bytes: s.stored_bytes,
            })
            .collect(),
        next_token,
    })
}

/// Checks a retention period against the ones CloudWatch Logs accepts.
pub(super) fn check_retention(days: i64) -> Result<(), ApiError> {
    if RETENTION_DAYS.contains(&days) {
        return Ok(());
    }
    let allowed: Vec<String> = RETENTION_DAYS.iter().map(i64::to_string).collect();
    Err(ApiError::new(
        INVALID,
        format!(
            "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            allowed.join(", ")
        ),
    ))
}

pub(super) fn set_retention(
    tx: &mut dyn Tx,
    ctx: &Context,
    group: &str,
    days: Option<i64>,
) -> Result<Empty, ApiError> {
    require_group(tx, group)?;
    tx.set_retention(group, days)?;
    expire_events(tx, ctx.now_ms)?;
    Ok(Empty {})
}

/// The oldest timestamp a group keeps, if it has a retention policy.
fn retention_start(group: &LogGroup, now_ms: i64) -> Option<i64> {
    group.retention_days.map(|d| now_ms - d * DAY_MS)
}

/// The oldest timestamp the group `name` keeps, if it exists and has a retention policy.
pub(super) fn retained_from(
    tx: &mut dyn Tx,
    name: &str,
    now_ms: i64,
) -> Result<Option<i64>, ApiError> {
    Ok(tx
        .log_group(name)?
        .and_then(|g| retention_start(&g, now_ms)))
}

/// The earliest timestamp a read of `group` shows: `start` if given, and never an event that
/// has outlived the group's retention but waits for the next expiry tick to be deleted.
pub(super) fn retained_start(
    tx: &mut dyn Tx,
    group: &str,
    now_ms: i64,
    start: Option<i64>,
) -> Result<i64, ApiError> {
    let start = start.unwrap_or(i64::MIN);
    Ok(retained_from(tx, group, now_ms)?.map_or(start, |from| start.max(from)))
}

/// Deletes the events that have outlived their group's retention, in every scope.
pub(crate) fn expire_events(tx: &mut dyn Tx, now_ms: i64) -> Result<(), ApiError> {
    let policies = tx.retention_policies()?;
    let each = policies
        .into_iter()
        .map(|(scope, group, days)| (scope, (group, days)));
    crate::store::in_their_scopes(tx, each, |tx, (group, days)| {
        tx.expire_events(&group, now_ms - days * DAY_MS)
    })?;
    Ok(())
}
