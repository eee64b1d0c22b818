//! CloudWatch Logs: log groups, log streams, log events and metric filters.

use std::collections::HashMap;
use std::sync::Arc;

use filter::{FilterPattern, FilterSet, MetricExtractor, MetricOutcome};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::events::{self, MAX_SPAN_MS, Scope};
use crate::sqlite::sql;
use crate::store::Tx;
use crate::{ApiError, Context, Engine, input, metrics, unknown_operation};

const NOT_FOUND: &str = "ResourceNotFoundException";
const INVALID: &str = "InvalidParameterException";
const GROUP_NOT_FOUND: &str = "The specified log group does not exist.";
const STREAM_NOT_FOUND: &str = "The specified log stream does not exist.";

/// AWS's limit of metric filters per log group.
const MAX_FILTERS_PER_GROUP: i64 = 100;
/// PutLogEvents: events more than 2 hours ahead of the clock are rejected.
const TOO_NEW_MS: i64 = 2 * 3600 * 1000;
/// PutLogEvents: events older than 14 days are rejected.
const TOO_OLD_MS: i64 = 14 * 24 * 3600 * 1000;
/// PutLogEvents: a batch's size counts each message's UTF-8 bytes plus 26.
const EVENT_OVERHEAD: usize = 26;
const MAX_BATCH_BYTES: usize = 1_048_576;

pub(crate) async fn call(engine: &Engine, op: &str, v: Value) -> Result<Value, ApiError> {
    match op {
        "CreateLogGroup" => {
            engine
                .write_op(v, |c, ctx, r: GroupRef| {
                    create_log_group(c, ctx, &r.log_group_name)
                })
                .await
        }
        "CreateLogStream" => engine.write_op(v, create_log_stream).await,
        "DescribeLogGroups" => engine.read_op(v, describe_log_groups).await,
        "DescribeLogStreams" => engine.read_op(v, describe_log_streams).await,
        "PutLogEvents" => put_log_events_call(engine, v).await,
        "GetLogEvents" => engine.read_op(v, get_log_events).await,
        "PutMetricFilter" => engine.write_op(v, put_metric_filter).await,
        "DescribeMetricFilters" => engine.read_op(v, describe_metric_filters).await,
        "DeleteMetricFilter" => engine.write_op(v, delete_metric_filter).await,
        "TestMetricFilter" => test_metric_filter(&input(v)?),
        "DeleteLogGroup" => engine.write_op(v, delete_log_group).await,
        "DeleteLogStream" => engine.write_op(v, delete_log_stream).await,
        "PutRetentionPolicy" => engine.write_op(v, put_retention_policy).await,
        "DeleteRetentionPolicy" => {
            engine
                .write_op(v, |c, ctx, r: GroupRef| {
                    set_retention(c, ctx, &r.log_group_name, None)
                })
                .await
        }
        "FilterLogEvents" => engine.read_op(v, filter_log_events).await,
        _ => Err(unknown_operation(op)),
    }
}

/// Drops a group's compiled filters. Called inside the write that changed them: the writer runs
/// writes one after another, so the next write of the group compiles the new filters.
fn forget_filters(sets: &FilterSets, group: &str) {
    sets.generation
        .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    sets.sets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(group);
}

/// Each log group's compiled metric filters. Entries are made and dropped by the writer only,
/// so they always describe the filters the next write sees; `generation` counts the drops, so
/// that matching done outside the writer can tell whether it used the filters still in force.
#[derive(Default)]
pub(crate) struct FilterSets {
    sets: std::sync::Mutex<HashMap<String, Arc<GroupFilters>>>,
    generation: std::sync::atomic::AtomicU64,
}

impl FilterSets {
    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn cached(&self, group: &str) -> Option<Arc<GroupFilters>> {
        self.sets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(group)
            .cloned()
    }
}

/// Metric data of a batch matched before its write, with the filter generation it used.
struct Prematched {
    generation: u64,
    /// Per event of the request, what the group's filters make of it.
    data: Vec<Vec<metrics::Datum>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupRef {
    log_group_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamRef {
    log_group_name: String,
    log_stream_name: String,
}

fn group_exists(c: &Connection, name: &str) -> Result<bool, ApiError> {
    c.query_row("SELECT 1 FROM log_groups WHERE name = ?1", [name], |_| {
        Ok(())
    })
    .optional()
    .map(|r| r.is_some())
    .map_err(sql)
}

fn create_log_group(c: &Connection, ctx: &Context, name: &str) -> Result<Value, ApiError> {
    if name.starts_with("aws/") {
        return Err(ApiError::new(
            INVALID,
            "Log group names starting with 'aws/' are reserved for AWS services.",
        ));
    }
    if group_exists(c, name)? {
        return Err(ApiError::new(
            "ResourceAlreadyExistsException",
            "The specified log group already exists",
        ));
    }
    c.execute(
        "INSERT INTO log_groups (name, creation_ms) VALUES (?1, ?2)",
        params![name, ctx.now_ms],
    )
    .map_err(sql)?;
    Ok(json!({}))
}

fn create_log_stream(c: &Connection, ctx: &Context, req: StreamRef) -> Result<Value, ApiError> {
    if !group_exists(c, &req.log_group_name)? {
        return Err(ApiError::new(NOT_FOUND, GROUP_NOT_FOUND));
    }
    let inserted = c
        .execute(
            "INSERT OR IGNORE INTO log_streams (group_name, name, creation_ms) VALUES (?1, ?2, ?3)",
            params![req.log_group_name, req.log_stream_name, ctx.now_ms],
        )
        .map_err(sql)?;
    if inserted == 0 {
        return Err(ApiError::new(
            "ResourceAlreadyExistsException",
            "The specified log stream already exists",
        ));
    }
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeLogGroups {
    log_group_name_prefix: Option<String>,
    log_group_name_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

fn stream_exists(c: &Connection, group: &str, stream: &str) -> Result<bool, ApiError> {
    c.query_row(
        "SELECT 1 FROM log_streams WHERE group_name = ?1 AND name = ?2",
        params![group, stream],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
    .map_err(sql)
}

/// Where a page continues, for listings whose order has no unique key: `o/<offset>`.
fn offset_token(token: &Option<String>) -> Result<usize, ApiError> {
    match token {
        None => Ok(0),
        Some(t) => t
            .strip_prefix("o/")
            .and_then(|n| n.parse::<u32>().ok())
            .map(|n| n as usize)
            .ok_or_else(|| ApiError::new(INVALID, "The specified nextToken is invalid.")),
    }
}

/// Page tokens are the last name of the previous page; names are the sort key.
fn page_start(token: &Option<String>) -> Result<String, ApiError> {
    match token {
        None => Ok(String::new()),
        Some(t) => t
            .strip_prefix("n/")
            .map(str::to_owned)
            .ok_or_else(|| ApiError::new(INVALID, "The specified nextToken is invalid.")),
    }
}

fn describe_log_groups(
    c: &Connection,
    ctx: &Context,
    req: DescribeLogGroups,
) -> Result<Value, ApiError> {
    if req.log_group_name_prefix.is_some() && req.log_group_name_pattern.is_some() {
        return Err(ApiError::new(
            INVALID,
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
        ));
    }
    let limit = req.limit.unwrap_or(50);
    let after = page_start(&req.next_token)?;
    let prefix = req.log_group_name_prefix.clone().unwrap_or_default();
    let mut stmt = c
        .prepare(
            "SELECT g.name, g.creation_ms, g.retention_days,
                    (SELECT COUNT(*) FROM metric_filters f WHERE f.group_name = g.name),
                    (SELECT COALESCE(SUM(s.stored_bytes), 0) FROM log_streams s WHERE s.group_name = g.name)
             FROM log_groups g WHERE g.name > ?1 AND substr(g.name, 1, length(?2)) = ?2
             ORDER BY g.name",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![after, prefix], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .map_err(sql)?;
    let pattern = req.log_group_name_pattern.as_deref();
    let mut groups = Vec::new();
    let mut next = None;
    for row in rows {
        let (name, creation, retention, filters, bytes) = row.map_err(sql)?;
        if pattern.is_some_and(|p| !name.contains(p)) {
            continue;
        }
        if groups.len() as i64 == limit {
            next = groups
                .last()
                .and_then(|g: &Value| g["logGroupName"].as_str())
                .map(|n| format!("n/{n}"));
            break;
        }
        let arn = format!(
            "arn:aws:logs:{}:{}:log-group:{name}",
            ctx.config.region, ctx.config.account_id
        );
        let mut g = json!({
            "logGroupName": name,
            "creationTime": creation,
            "metricFilterCount": filters,
            "arn": format!("{arn}:*"),
            "logGroupArn": arn,
            "storedBytes": bytes,
            "logGroupClass": "STANDARD",
        });
        if let Some(days) = retention {
            g["retentionInDays"] = json!(days);
        }
        groups.push(g);
    }
    let mut out = json!({ "logGroups": groups });
    if let Some(token) = next {
        out["nextToken"] = json!(token);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeLogStreams {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name_prefix: Option<String>,
    order_by: Option<String>,
    descending: Option<bool>,
    next_token: Option<String>,
    limit: Option<i64>,
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

fn describe_log_streams(
    c: &Connection,
    ctx: &Context,
    req: DescribeLogStreams,
) -> Result<Value, ApiError> {
    let group = group_name_of(&req.log_group_name, &req.log_group_identifier)?;
    if !group_exists(c, &group)? {
        return Err(ApiError::new(NOT_FOUND, GROUP_NOT_FOUND));
    }
    let by_time = req.order_by.as_deref() == Some("LastEventTime");
    if by_time && req.log_stream_name_prefix.is_some() {
        return Err(ApiError::new(
            INVALID,
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        ));
    }
    let descending = req.descending.unwrap_or(false);
    let limit = req.limit.unwrap_or(50) as usize;
    let offset = offset_token(&req.next_token)?;
    let order = match (by_time, descending) {
        (false, false) => "name ASC",
        (false, true) => "name DESC",
        (true, false) => "COALESCE(last_event_ms, 0) ASC, name ASC",
        (true, true) => "COALESCE(last_event_ms, 0) DESC, name DESC",
    };
    let prefix = req.log_stream_name_prefix.clone().unwrap_or_default();
    let mut stmt = c
        .prepare(&format!(
            "SELECT name, creation_ms, first_event_ms, last_event_ms, last_ingestion_ms, stored_bytes
             FROM log_streams WHERE group_name = ?1 AND substr(name, 1, length(?2)) = ?2
             ORDER BY {order} LIMIT ?3 OFFSET ?4"
        ))
        .map_err(sql)?;
    let rows = stmt
        .query_map(
            params![group, prefix, (limit + 1) as i64, offset as i64],
            |r| {
                let name: String = r.get(0)?;
                let mut s = json!({
                    "logStreamName": name,
                    "creationTime": r.get::<_, i64>(1)?,
                    "arn": format!(
                        "arn:aws:logs:{}:{}:log-group:{group}:log-stream:{name}",
                        ctx.config.region, ctx.config.account_id
                    ),
                    "storedBytes": r.get::<_, i64>(5)?,
                });
                for (i, key) in [
                    (2, "firstEventTimestamp"),
                    (3, "lastEventTimestamp"),
                    (4, "lastIngestionTime"),
                ] {
                    if let Some(ms) = r.get::<_, Option<i64>>(i)? {
                        s[key] = json!(ms);
                    }
                }
                Ok(s)
            },
        )
        .map_err(sql)?;
    let mut streams = rows.collect::<Result<Vec<_>, _>>().map_err(sql)?;
    let mut out = json!({});
    if streams.len() > limit {
        streams.truncate(limit);
        out["nextToken"] = json!(format!("o/{}", offset + limit));
    }
    out["logStreams"] = Value::Array(streams);
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutLogEvents {
    log_group_name: String,
    log_stream_name: String,
    log_events: Vec<InputLogEvent>,
}

#[derive(Deserialize)]
struct InputLogEvent {
    timestamp: i64,
    message: String,
}

/// A log group's metric filters, compiled together.
pub(crate) struct GroupFilters {
    set: FilterSet,
    filters: Vec<CompiledFilter>,
}

struct CompiledFilter {
    extractor: MetricExtractor,
    transformation: Transformation,
}

/// The stored form of a filter's one metric transformation (AWS's member names).
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Transformation {
    metric_name: String,
    metric_namespace: String,
    metric_value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dimensions: Option<std::collections::BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
}

impl Transformation {
    fn dimension_refs(&self) -> Vec<(String, String)> {
        self.dimensions
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn compile(
    pattern: &str,
    t: &Transformation,
) -> Result<(FilterPattern, MetricExtractor), ApiError> {
    let parsed =
        FilterPattern::parse(pattern).map_err(|e| ApiError::new(INVALID, e.to_string()))?;
    let extractor = MetricExtractor::new(
        &parsed,
        &t.metric_value,
        t.default_value,
        &t.dimension_refs(),
    )
    .map_err(|e| ApiError::new(INVALID, e.to_string()))?;
    Ok((parsed, extractor))
}

fn load_filters(c: &Connection, group: &str) -> Result<GroupFilters, ApiError> {
    let mut stmt = c
        .prepare(
            "SELECT pattern, transformation FROM metric_filters WHERE group_name = ?1 ORDER BY name",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([group], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(sql)?;
    let mut patterns = Vec::new();
    let mut filters = Vec::new();
    for row in rows {
        let (pattern, transformation) = row.map_err(sql)?;
        let transformation: Transformation = serde_json::from_str(&transformation)
            .map_err(|e| ApiError::internal(format!("stored metric transformation: {e}")))?;
        // Stored filters were accepted by PutMetricFilter, so they compile.
        let (parsed, extractor) = compile(&pattern, &transformation)?;
        patterns.push(parsed);
        filters.push(CompiledFilter {
            extractor,
            transformation,
        });
    }
    Ok(GroupFilters {
        set: FilterSet::new(patterns),
        filters,
    })
}

fn group_filters(
    c: &Connection,
    sets: &FilterSets,
    group: &str,
) -> Result<Arc<GroupFilters>, ApiError> {
    if let Some(found) = sets.cached(group) {
        return Ok(found);
    }
    let loaded = Arc::new(load_filters(c, group)?);
    sets.sets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(group.to_owned(), loaded.clone());
    Ok(loaded)
}

/// What a group's filters make of each event: matching datapoints, or defaults.
fn match_events(filters: &GroupFilters, events: &[InputLogEvent]) -> Vec<Vec<metrics::Datum>> {
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
                data.push(metrics::Datum {
                    namespace: t.metric_namespace.clone(),
                    metric_name: t.metric_name.clone(),
                    dimensions,
                    unit: t.unit.clone().unwrap_or_else(|| "None".to_owned()),
                    timestamp_ms: e.timestamp,
                    stats: metrics::Aggregate::one(value),
                    high_resolution: false,
                });
            }
            data
        })
        .collect()
}

/// What a PutLogEvents batch needs done before its write, done off the writer.
struct Prepared {
    /// The whole batch as stored (see [`events::pack`]).
    block: Vec<u8>,
    /// Metric data from the filters in force when the batch was matched, if they were.
    matched: Option<Prematched>,
}

/// PutLogEvents: compressing, and matching when the group's filters are compiled already, run
/// before the write, on a blocking thread of the request; the writer then only checks the
/// filters are still the ones in force. Many requests prepare in parallel while the one
/// writer stores.
async fn put_log_events_call(engine: &Engine, v: Value) -> Result<Value, ApiError> {
    let req: PutLogEvents = input(v)?;
    let sets = engine.filter_sets.clone();
    let (req, prepared) = tokio::task::spawn_blocking(move || {
        let generation = sets.generation();
        let matched = sets.cached(&req.log_group_name).map(|filters| Prematched {
            generation,
            data: match_events(&filters, &req.log_events),
        });
        let block = events::pack(req.log_events.iter().map(|e| (e.timestamp, &*e.message)));
        (req, Prepared { block, matched })
    })
    .await
    .map_err(|e| ApiError::internal(format!("preparing the batch failed: {e}")))?;
    engine
        .write(move |tx, ctx| put_log_events(tx, ctx, req, prepared))
        .await
}

fn put_log_events(
    tx: &mut dyn Tx,
    ctx: &Context,
    req: PutLogEvents,
    prepared: Prepared,
) -> Result<Value, ApiError> {
    let c = tx.connection();
    let events = &req.log_events;
    let bytes: usize = events
        .iter()
        .map(|e| e.message.len() + EVENT_OVERHEAD)
        .sum();
    if bytes > MAX_BATCH_BYTES {
        return Err(ApiError::new(
            INVALID,
            format!("Log event batch is too large: {bytes} bytes, the limit is {MAX_BATCH_BYTES}."),
        ));
    }
    // The codec enforces the model's limit on every request; ids rely on it (see `events`).
    if events.len() > events::PER_BLOCK {
        return Err(ApiError::new(
            INVALID,
            format!(
                "A PutLogEvents batch holds at most {} events.",
                events::PER_BLOCK
            ),
        ));
    }
    if events.windows(2).any(|w| w[1].timestamp < w[0].timestamp) {
        return Err(ApiError::new(
            INVALID,
            "Log events in a single PutLogEvents request must be in chronological order.",
        ));
    }
    if !group_exists(c, &req.log_group_name)? {
        return Err(ApiError::new(NOT_FOUND, GROUP_NOT_FOUND));
    }
    if !stream_exists(c, &req.log_group_name, &req.log_stream_name)? {
        return Err(ApiError::new(NOT_FOUND, STREAM_NOT_FOUND));
    }

    // Events too far from now are reported and skipped; the rest are stored.
    let now = ctx.now_ms;
    let too_new_from = events.iter().position(|e| e.timestamp > now + TOO_NEW_MS);
    let too_old_to = events.iter().rposition(|e| e.timestamp < now - TOO_OLD_MS);
    let retained_from = retention_start(c, &req.log_group_name, now)?;
    let expired_to = retained_from
        .and_then(|from| events.iter().rposition(|e| e.timestamp < from))
        .filter(|&i| too_old_to.is_none_or(|old| i > old));
    let first = too_old_to.max(expired_to).map_or(0, |i| i + 1);
    let end = too_new_from.unwrap_or(events.len()).max(first);
    let accepted = &events[first..end];
    if let (Some(a), Some(b)) = (accepted.first(), accepted.last())
        && b.timestamp - a.timestamp > MAX_SPAN_MS
    {
        return Err(ApiError::new(
            INVALID,
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
        ));
    }

    // Matching done before the write counts only if the filters are still those it used.
    let per_event = match prepared.matched {
        Some(p) if p.generation == ctx.filter_sets.generation() => p.data,
        _ => {
            let filters = group_filters(c, &ctx.filter_sets, &req.log_group_name)?;
            match_events(&filters, events)
        }
    };
    let data: Vec<metrics::Datum> = per_event
        .into_iter()
        .skip(first)
        .take(end - first)
        .flatten()
        .collect();
    if let (Some(a), Some(b)) = (accepted.first(), accepted.last()) {
        // The block packed before the write holds the whole batch; rejected events are rare.
        let block = if accepted.len() == events.len() {
            prepared.block
        } else {
            events::pack(accepted.iter().map(|e| (e.timestamp, &*e.message)))
        };
        events::insert(
            c,
            &req.log_group_name,
            &req.log_stream_name,
            (a.timestamp, b.timestamp),
            now,
            &block,
        )?;
        let stored: usize = accepted.iter().map(|e| e.message.len()).sum();
        c.execute(
            "UPDATE log_streams SET
                first_event_ms = MIN(COALESCE(first_event_ms, ?3), ?3),
                last_event_ms = MAX(COALESCE(last_event_ms, ?4), ?4),
                last_ingestion_ms = ?5,
                stored_bytes = stored_bytes + ?6
             WHERE group_name = ?1 AND name = ?2",
            params![
                req.log_group_name,
                req.log_stream_name,
                a.timestamp,
                b.timestamp,
                now,
                stored as i64
            ],
        )
        .map_err(sql)?;
    }
    metrics::record(tx, ctx, &data)?;

    let mut out = json!({ "nextSequenceToken": format!("{:056}", now) });
    let mut rejected = serde_json::Map::new();
    if let Some(i) = too_new_from {
        rejected.insert("tooNewLogEventStartIndex".into(), json!(i));
    }
    // Start indexes are inclusive, end indexes exclusive (the model's documentation).
    if let Some(i) = too_old_to {
        rejected.insert("tooOldLogEventEndIndex".into(), json!(i + 1));
    }
    if let Some(i) = expired_to {
        rejected.insert("expiredLogEventEndIndex".into(), json!(i + 1));
    }
    if !rejected.is_empty() {
        out["rejectedLogEventsInfo"] = Value::Object(rejected);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetLogEvents {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name: String,
    start_time: Option<i64>,
    end_time: Option<i64>,
    next_token: Option<String>,
    limit: Option<i64>,
    start_from_head: Option<bool>,
}

fn get_log_events(c: &Connection, ctx: &Context, req: GetLogEvents) -> Result<Value, ApiError> {
    let group = group_name_of(&req.log_group_name, &req.log_group_identifier)?;
    if !group_exists(c, &group)? {
        return Err(ApiError::new(NOT_FOUND, GROUP_NOT_FOUND));
    }
    if !stream_exists(c, &group, &req.log_stream_name)? {
        return Err(ApiError::new(NOT_FOUND, STREAM_NOT_FOUND));
    }
    let limit = req.limit.unwrap_or(10_000).clamp(1, 10_000) as usize;
    // Tokens name the event a page continues from, in (timestamp, id) order:
    // `f/<timestamp>/<id>` forward, `b/<timestamp>/<id>` backward.
    let (forward, bound) = match &req.next_token {
        Some(t) => {
            let parsed = t.split_once('/').and_then(|(dir, rest)| {
                let (ts, id) = rest.split_once('/')?;
                Some((dir, ts.parse::<i64>().ok()?, id.parse::<i64>().ok()?))
            });
            match parsed {
                Some(("f", ts, id)) => (true, Some((ts, id))),
                Some(("b", ts, id)) => (false, Some((ts, id))),
                _ => {
                    return Err(ApiError::new(
                        INVALID,
                        "The specified nextToken is invalid.",
                    ));
                }
            }
        }
        None => (req.start_from_head.unwrap_or(false), None),
    };
    let scope = Scope {
        group: &group,
        stream: Some(&req.log_stream_name),
        start: retained_start(c, &group, ctx.now_ms, req.start_time)?,
        end: req.end_time.unwrap_or(i64::MAX),
    };
    let (mut events, bound) = if forward {
        let bound = bound.unwrap_or((i64::MIN, i64::MIN));
        let page = events::forward(c, &scope, bound, limit, |_| true, |_| true)?;
        (page.events, bound)
    } else {
        let bound = bound.unwrap_or((i64::MAX, i64::MAX));
        let mut page = events::backward(c, &scope, bound, limit)?;
        page.events.reverse();
        (page.events, bound)
    };
    // An empty first page still gives a forward token that sees events to come.
    let (before_all, after_all) = match req.next_token {
        Some(_) => (bound, bound),
        None => ((i64::MIN, i64::MIN), (i64::MAX, i64::MAX)),
    };
    let first = events.first().map_or(after_all, |e| e.key());
    let last = events.last().map_or(before_all, |e| e.key());
    // Events are in time order either way: the forward token continues after the last one,
    // the backward token before the first.
    let events: Vec<Value> = events
        .drain(..)
        .map(|e| json!({"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion}))
        .collect();
    Ok(json!({
        "events": events,
        "nextForwardToken": format!("f/{}/{}", last.0, last.1),
        "nextBackwardToken": format!("b/{}/{}", first.0, first.1),
    }))
}

/// The earliest timestamp a read of `group` shows: `start` if given, and never an event that
/// has outlived the group's retention but waits for the next expiry tick to be deleted.
fn retained_start(
    c: &Connection,
    group: &str,
    now_ms: i64,
    start: Option<i64>,
) -> Result<i64, ApiError> {
    let start = start.unwrap_or(i64::MIN);
    Ok(retention_start(c, group, now_ms)?.map_or(start, |from| start.max(from)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutMetricFilter {
    log_group_name: String,
    filter_name: String,
    filter_pattern: String,
    metric_transformations: Vec<Transformation>,
}

fn put_metric_filter(
    c: &Connection,
    ctx: &Context,
    req: PutMetricFilter,
) -> Result<Value, ApiError> {
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
    if !group_exists(c, &req.log_group_name)? {
        return Err(ApiError::new(NOT_FOUND, GROUP_NOT_FOUND));
    }
    let (count, exists): (i64, bool) = c
        .query_row(
            "SELECT COUNT(*), COALESCE(SUM(name = ?2), 0) > 0 FROM metric_filters WHERE group_name = ?1",
            params![req.log_group_name, req.filter_name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sql)?;
    if !exists && count >= MAX_FILTERS_PER_GROUP {
        return Err(ApiError::new(
            "LimitExceededException",
            "Resource limit exceeded.",
        ));
    }
    let transformation = serde_json::to_string(t)
        .map_err(|e| ApiError::internal(format!("metric transformation: {e}")))?;
    c.execute(
        "INSERT INTO metric_filters (group_name, name, pattern, transformation, creation_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (group_name, name) DO UPDATE SET pattern = ?3, transformation = ?4",
        params![
            req.log_group_name,
            req.filter_name,
            req.filter_pattern,
            transformation,
            ctx.now_ms
        ],
    )
    .map_err(sql)?;
    forget_filters(&ctx.filter_sets, &req.log_group_name);
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeMetricFilters {
    log_group_name: Option<String>,
    filter_name_prefix: Option<String>,
    metric_name: Option<String>,
    metric_namespace: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

fn describe_metric_filters(
    c: &Connection,
    _: &Context,
    req: DescribeMetricFilters,
) -> Result<Value, ApiError> {
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
    if let Some(g) = &req.log_group_name
        && !group_exists(c, g)?
    {
        return Err(ApiError::new(NOT_FOUND, GROUP_NOT_FOUND));
    }
    let limit = req.limit.unwrap_or(50) as usize;
    let offset = offset_token(&req.next_token)?;
    let mut stmt = c
        .prepare(
            "SELECT group_name, name, pattern, transformation, creation_ms FROM metric_filters
             WHERE (?1 IS NULL OR group_name = ?1)
               AND substr(name, 1, length(COALESCE(?2, ''))) = COALESCE(?2, '')
             ORDER BY group_name, name",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![req.log_group_name, req.filter_name_prefix], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .map_err(sql)?;
    let mut filters = Vec::new();
    for row in rows {
        let (group, name, pattern, transformation, creation) = row.map_err(sql)?;
        let t: Transformation = serde_json::from_str(&transformation)
            .map_err(|e| ApiError::internal(format!("stored metric transformation: {e}")))?;
        if let (Some(m), Some(ns)) = (&req.metric_name, &req.metric_namespace)
            && (&t.metric_name != m || &t.metric_namespace != ns)
        {
            continue;
        }
        filters.push(json!({
            "filterName": name,
            "filterPattern": pattern,
            "metricTransformations": [t],
            "creationTime": creation,
            "logGroupName": group,
            "applyOnTransformedLogs": false,
        }));
    }
    let mut out = json!({});
    let total = filters.len();
    let page: Vec<Value> = filters.into_iter().skip(offset).take(limit).collect();
    if offset + page.len() < total {
        out["nextToken"] = json!(format!("o/{}", offset + page.len()));
    }
    out["metricFilters"] = Value::Array(page);
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteMetricFilter {
    log_group_name: String,
    filter_name: String,
}

fn delete_metric_filter(
    c: &Connection,
    ctx: &Context,
    req: DeleteMetricFilter,
) -> Result<Value, ApiError> {
    if !group_exists(c, &req.log_group_name)? {
        return Err(ApiError::new(NOT_FOUND, GROUP_NOT_FOUND));
    }
    let deleted = c
        .execute(
            "DELETE FROM metric_filters WHERE group_name = ?1 AND name = ?2",
            params![req.log_group_name, req.filter_name],
        )
        .map_err(sql)?;
    if deleted == 0 {
        return Err(ApiError::new(
            NOT_FOUND,
            "The specified metric filter does not exist.",
        ));
    }
    forget_filters(&ctx.filter_sets, &req.log_group_name);
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestMetricFilter {
    filter_pattern: String,
    log_event_messages: Vec<String>,
}

fn test_metric_filter(req: &TestMetricFilter) -> Result<Value, ApiError> {
    let pattern = FilterPattern::parse(&req.filter_pattern)
        .map_err(|e| ApiError::new(INVALID, e.to_string()))?;
    let matches: Vec<Value> = req
        .log_event_messages
        .iter()
        .enumerate()
        .filter_map(|(i, message)| {
            let values = pattern.extract(message)?;
            Some(json!({
                "eventNumber": i + 1,
                "eventMessage": message,
                "extractedValues": values,
            }))
        })
        .collect();
    Ok(json!({ "matches": matches }))
}

fn delete_log_group(c: &Connection, ctx: &Context, req: GroupRef) -> Result<Value, ApiError> {
    if !group_exists(c, &req.log_group_name)? {
        return Err(ApiError::new(NOT_FOUND, GROUP_NOT_FOUND));
    }
    // Streams, events and metric filters go with the group; metrics already published stay,
    // as on AWS.
    events::delete(c, &req.log_group_name, None)?;
    c.execute(
        "DELETE FROM log_groups WHERE name = ?1",
        [&req.log_group_name],
    )
    .map_err(sql)?;
    forget_filters(&ctx.filter_sets, &req.log_group_name);
    Ok(json!({}))
}

fn delete_log_stream(c: &Connection, _: &Context, req: StreamRef) -> Result<Value, ApiError> {
    if !group_exists(c, &req.log_group_name)? {
        return Err(ApiError::new(NOT_FOUND, GROUP_NOT_FOUND));
    }
    if !stream_exists(c, &req.log_group_name, &req.log_stream_name)? {
        return Err(ApiError::new(NOT_FOUND, STREAM_NOT_FOUND));
    }
    events::delete(c, &req.log_group_name, Some(&req.log_stream_name))?;
    c.execute(
        "DELETE FROM log_streams WHERE group_name = ?1 AND name = ?2",
        params![req.log_group_name, req.log_stream_name],
    )
    .map_err(sql)?;
    Ok(json!({}))
}

/// The retention periods CloudWatch Logs accepts, in days.
const RETENTION_DAYS: [i64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
const DAY_MS: i64 = 24 * 3600 * 1000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutRetentionPolicy {
    log_group_name: String,
    retention_in_days: i64,
}

fn put_retention_policy(
    c: &Connection,
    ctx: &Context,
    req: PutRetentionPolicy,
) -> Result<Value, ApiError> {
    let days = req.retention_in_days;
    if !RETENTION_DAYS.contains(&days) {
        let allowed: Vec<String> = RETENTION_DAYS.iter().map(i64::to_string).collect();
        return Err(ApiError::new(
            INVALID,
            format!(
                "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        ));
    }
    set_retention(c, ctx, &req.log_group_name, Some(days))
}

fn set_retention(
    c: &Connection,
    ctx: &Context,
    group: &str,
    days: Option<i64>,
) -> Result<Value, ApiError> {
    if !group_exists(c, group)? {
        return Err(ApiError::new(NOT_FOUND, GROUP_NOT_FOUND));
    }
    c.execute(
        "UPDATE log_groups SET retention_days = ?2 WHERE name = ?1",
        params![group, days],
    )
    .map_err(sql)?;
    expire_events(c, ctx.now_ms)?;
    Ok(json!({}))
}

/// The oldest timestamp a group keeps, if it has a retention policy.
fn retention_start(c: &Connection, group: &str, now_ms: i64) -> Result<Option<i64>, ApiError> {
    let days: Option<i64> = c
        .query_row(
            "SELECT retention_days FROM log_groups WHERE name = ?1",
            [group],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql)?
        .flatten();
    Ok(days.map(|d| now_ms - d * DAY_MS))
}

/// Deletes the events that have outlived their group's retention.
pub(crate) fn expire_events(c: &Connection, now_ms: i64) -> Result<(), ApiError> {
    let groups = c
        .prepare_cached(
            "SELECT name, retention_days FROM log_groups WHERE retention_days IS NOT NULL",
        )
        .map_err(sql)?
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    for (group, days) in groups {
        events::expire(c, &group, now_ms - days * DAY_MS)?;
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilterLogEvents {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefix: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

/// FilterLogEvents pages hold at most this many events by default (and at most).
const FILTER_PAGE: i64 = 10_000;
fn filter_log_events(
    c: &Connection,
    ctx: &Context,
    req: FilterLogEvents,
) -> Result<Value, ApiError> {
    let group = group_name_of(&req.log_group_name, &req.log_group_identifier)?;
    if req.log_stream_names.is_some() && req.log_stream_name_prefix.is_some() {
        return Err(ApiError::new(
            INVALID,
            "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.",
        ));
    }
    if !group_exists(c, &group)? {
        return Err(ApiError::new(NOT_FOUND, GROUP_NOT_FOUND));
    }
    let pattern = FilterPattern::parse(req.filter_pattern.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::new(INVALID, e.to_string()))?;
    let limit = req.limit.unwrap_or(FILTER_PAGE).clamp(1, FILTER_PAGE) as usize;
    // Tokens continue after an event: `e/<timestamp>/<id>` in (timestamp, id) order.
    let after = match &req.next_token {
        None => (i64::MIN, i64::MIN),
        Some(t) => t
            .strip_prefix("e/")
            .and_then(|rest| rest.split_once('/'))
            .and_then(|(ts, id)| Some((ts.parse().ok()?, id.parse().ok()?)))
            .ok_or_else(|| ApiError::new(INVALID, "The specified nextToken is invalid."))?,
    };
    let scope = Scope {
        group: &group,
        stream: None,
        start: retained_start(c, &group, ctx.now_ms, req.start_time)?,
        // FilterLogEvents' endTime is inclusive.
        end: req.end_time.map_or(i64::MAX, |t| t.saturating_add(1)),
    };
    let names = req.log_stream_names.clone().unwrap_or_default();
    let prefix = req.log_stream_name_prefix.clone().unwrap_or_default();
    let wanted = |stream: &str| {
        stream.starts_with(prefix.as_str())
            && (names.is_empty() || names.iter().any(|n| n == stream))
    };
    let page = events::forward(c, &scope, after, limit, wanted, |e| {
        pattern.matches(&e.message)
    })?;
    let next = page.events.last().map(|e| e.key());
    let events: Vec<Value> = page
        .events
        .into_iter()
        .map(|e| {
            json!({
                "logStreamName": e.stream,
                "timestamp": e.timestamp,
                "message": e.message,
                "ingestionTime": e.ingestion,
                "eventId": e.id.to_string(),
            })
        })
        .collect();
    let mut out = json!({ "events": events, "searchedLogStreams": [] });
    if page.more
        && let Some((ts, id)) = next
    {
        out["nextToken"] = json!(format!("e/{ts}/{id}"));
    }
    Ok(out)
}
