//! LookupEvents: the management events of an account and region, latest first, by one
//! lookup attribute and a time range, 50 a page at most (the console's event history).

use super::api::*;
use super::store::HistoryQuery;
use super::{CloudTrailException, HISTORY_MS, HistoryEvent};
use crate::paging::{self, Listing};
use crate::store::Tx;
use crate::{ApiError, Context};

const DEFAULT_RESULTS: i64 = 50;

fn error(code: CloudTrailException, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message)
}

/// Whether an event has the attribute's value.
fn has(attribute: &LookupAttribute, e: &HistoryEvent) -> bool {
    let v = attribute.attribute_value.as_str();
    match attribute.attribute_key.as_str() {
        "EventId" => e.event_id == v,
        "EventName" => e.event_name == v,
        "EventSource" => e.event_source == v,
        "Username" => e.username.as_deref() == Some(v),
        "AccessKeyId" => e.access_key_id.as_deref() == Some(v),
        "ReadOnly" => e.read_only.is_some_and(|r| r.to_string() == v),
        "ResourceType" => e.resources.iter().any(|(t, _)| t == v),
        "ResourceName" => e.resources.iter().any(|(_, n)| n == v),
        _ => false,
    }
}

fn shown(e: HistoryEvent) -> LookupEvent {
    LookupEvent {
        event_id: e.event_id,
        event_name: e.event_name,
        read_only: e.read_only.unwrap_or(false).to_string(),
        access_key_id: e.access_key_id,
        event_time: e.time_ms as f64 / 1000.0,
        event_source: e.event_source,
        username: e.username,
        resources: e
            .resources
            .into_iter()
            .map(|(t, n)| Resource {
                resource_type: (!t.is_empty()).then_some(t),
                resource_name: (!n.is_empty()).then_some(n),
            })
            .collect(),
        cloud_trail_event: e.json,
    }
}

pub(super) fn lookup(
    tx: &mut dyn Tx,
    ctx: &Context,
    req: LookupEventsRequest,
) -> Result<LookupEventsResponse, ApiError> {
    if req.lookup_attributes.len() > 1 {
        return Err(error(
            CloudTrailException::InvalidLookupAttributesException,
            "You can only specify one lookup attribute.",
        ));
    }
    if let Some(category) = &req.event_category
        && category != "insight"
    {
        return Err(error(
            CloudTrailException::InvalidLookupAttributesException,
            format!("Invalid event category: {category}"),
        ));
    }
    let to_ms = |s: f64| (s * 1000.0) as i64;
    let end_ms = req.end_time.map_or(ctx.now_ms, to_ms);
    let start_ms = req.start_time.map_or(ctx.now_ms - HISTORY_MS, to_ms);
    if start_ms > end_ms {
        return Err(error(
            CloudTrailException::InvalidTimeRangeException,
            "Start time must be before end time.",
        ));
    }
    let limit = req.max_results.unwrap_or(DEFAULT_RESULTS);
    if !(1..=DEFAULT_RESULTS).contains(&limit) {
        return Err(error(
            CloudTrailException::InvalidMaxResultsException,
            "MaxResults must be between 1 and 50.",
        ));
    }
    let before: Option<(i64, String)> = match &req.next_token {
        Some(token) => Some(paging::key(Listing::EventHistory, token).ok_or_else(|| {
            error(
                CloudTrailException::InvalidNextTokenException,
                "Invalid NextToken.",
            )
        })?),
        None => None,
    };
    // Insight events are not kept: their category has none.
    if req.event_category.is_some() {
        return Ok(LookupEventsResponse {
            events: Vec::new(),
            next_token: None,
        });
    }
    let attribute = req.lookup_attributes.first();
    // The history keeps whole hours: the last hour it keeps may start before its 90 days.
    let query = HistoryQuery {
        start_ms: start_ms.max(ctx.now_ms - HISTORY_MS),
        end_ms,
        before: before.as_ref().map(|(t, id)| (*t, id.as_str())),
        limit: limit as usize + 1,
    };
    let mut events = tx.event_history(&query, &mut |e| attribute.is_none_or(|a| has(a, e)))?;
    let next_token = (events.len() > limit as usize).then(|| {
        events.truncate(limit as usize);
        let last = &events[limit as usize - 1];
        paging::token(Listing::EventHistory, (last.time_ms, &last.event_id))
    });
    Ok(LookupEventsResponse {
        events: events.into_iter().map(shown).collect(),
        next_token,
    })
}
