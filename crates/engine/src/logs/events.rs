//! PutLogEvents, GetLogEvents and FilterLogEvents.

use std::sync::Arc;

use filter::FilterPattern;

use super::api::*;
use super::groups::{require_stream, retained_from, retained_start};
use super::matching::{GroupFilters, group_filters, match_events};
use super::{EventScope, INVALID, MAX_SPAN_MS, PER_BLOCK, group_name_of, invalid_token};
use crate::metrics::{self, Datum};
use crate::paging::{self, Listing};
use crate::scope::Scope;
use crate::store::Tx;
use crate::trails::hour_of;
use crate::{ApiError, Context, Engine};

/// PutLogEvents: events more than 2 hours ahead of the clock are rejected.
const TOO_NEW_MS: i64 = 2 * 3600 * 1000;
/// PutLogEvents: events older than 14 days are rejected.
const TOO_OLD_MS: i64 = 14 * 24 * 3600 * 1000;
/// PutLogEvents: a batch's size counts each message's UTF-8 bytes plus 26.
const EVENT_OVERHEAD: usize = 26;
const MAX_BATCH_BYTES: usize = 1_048_576;
/// FilterLogEvents pages hold at most this many events by default (and at most).
const FILTER_PAGE: i64 = 10_000;

/// Metric data of a batch matched before its write, with the filter generation it used.
struct Prematched {
    generation: u64,
    /// Per event of the request, what the group's filters make of it.
    data: Vec<Vec<Datum>>,
}

/// What a PutLogEvents batch needs done before its write, done off the writer.
struct Prepared {
    /// The whole batch as the store takes it (see `Store::encode_events`).
    encoded: Vec<u8>,
    /// Metric data from the filters in force when the batch was matched, if they were.
    matched: Option<Prematched>,
}

/// PutLogEvents: encoding, and matching when the group's filters are compiled already, run
/// before the write, on a blocking thread of the request; the writer then only checks the
/// filters are still the ones in force. Many requests prepare in parallel while the one
/// writer stores.
pub(super) async fn put(
    engine: &Engine,
    scope: &Scope,
    req: PutLogEventsRequest,
) -> Result<PutLogEventsResponse, ApiError> {
    let sets = engine.filter_sets.clone();
    let store = engine.store.clone();
    let in_scope = scope.clone();
    let (req, prepared) = tokio::task::spawn_blocking(move || {
        let generation = sets.generation();
        let matched = sets
            .cached(&in_scope, &req.log_group_name)
            .map(|filters| Prematched {
                generation,
                data: match_events(&filters, &req.log_events),
            });
        let encoded =
            store.encode_events(&mut req.log_events.iter().map(|e| (e.timestamp, &*e.message)));
        (req, Prepared { encoded, matched })
    })
    .await
    .map_err(|e| ApiError::internal(format!("preparing the batch failed: {e}")))?;
    let store_for_write = engine.store.clone();
    engine
        .write(scope, move |tx, ctx| {
            store_batch(tx, ctx, req, prepared, &*store_for_write)
        })
        .await
}

fn store_batch(
    tx: &mut dyn Tx,
    ctx: &Context,
    req: PutLogEventsRequest,
    prepared: Prepared,
    store: &dyn crate::store::Store,
) -> Result<PutLogEventsResponse, ApiError> {
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
    // The codec enforces the model's limit on every request; event ids rely on it.
    if events.len() > PER_BLOCK {
        return Err(ApiError::new(
            INVALID,
            format!("A PutLogEvents batch holds at most {PER_BLOCK} events."),
        ));
    }
    if events.windows(2).any(|w| w[1].timestamp < w[0].timestamp) {
        return Err(ApiError::new(
            INVALID,
            "Log events in a single PutLogEvents request must be in chronological order.",
        ));
    }
    require_stream(tx, &req.log_group_name, &req.log_stream_name)?;

    // Events too far from now are reported and skipped; the rest are stored.
    let now = ctx.now_ms;
    let too_new_from = events.iter().position(|e| e.timestamp > now + TOO_NEW_MS);
    let too_old_to = events.iter().rposition(|e| e.timestamp < now - TOO_OLD_MS);
    let retained = retained_from(tx, &req.log_group_name, now)?;
    let expired_to = retained
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
            let filters = group_filters(tx, &ctx.filter_sets, &req.log_group_name)?;
            match_events(&filters, events)
        }
    };
    let data: Vec<Datum> = per_event
        .into_iter()
        .skip(first)
        .take(end - first)
        .flatten()
        .collect();
    if let (Some(a), Some(b)) = (accepted.first(), accepted.last()) {
        // The batch encoded before the write is whole; rejected events are rare.
        let encoded = if accepted.len() == events.len() {
            prepared.encoded
        } else {
            store.encode_events(&mut accepted.iter().map(|e| (e.timestamp, &*e.message)))
        };
        let stored: usize = accepted.iter().map(|e| e.message.len()).sum();
        tx.append_events(
            &req.log_group_name,
            &req.log_stream_name,
            (a.timestamp, b.timestamp),
            now,
            &encoded,
            stored as i64,
        )?;
    }
    metrics::record(tx, ctx, &data)?;

    let rejected = RejectedLogEventsInfo {
        too_new_log_event_start_index: too_new_from,
        // End indexes are exclusive (the model's documentation).
        too_old_log_event_end_index: too_old_to.map(|i| i + 1),
        expired_log_event_end_index: expired_to.map(|i| i + 1),
    };
    Ok(PutLogEventsResponse {
        next_sequence_token: format!("{now:056}"),
        rejected_log_events_info: (rejected != RejectedLogEventsInfo::default())
            .then_some(rejected),
    })
}

pub(super) fn get(
    tx: &mut dyn Tx,
    ctx: &Context,
    req: GetLogEventsRequest,
) -> Result<GetLogEventsResponse, ApiError> {
    let group = group_name_of(&req.log_group_name, &req.log_group_identifier)?;
    require_stream(tx, &group, &req.log_stream_name)?;
    let limit = req.limit.unwrap_or(10_000).clamp(1, 10_000) as usize;
    // Tokens name the event a page continues from, in (timestamp, id) order.
    let (forward, bound): (bool, Option<(i64, i64)>) = match &req.next_token {
        Some(t) => {
            if let Some(key) = paging::key(Listing::EventsForward, t) {
                (true, Some(key))
            } else if let Some(key) = paging::key(Listing::EventsBackward, t) {
                (false, Some(key))
            } else {
                return Err(invalid_token());
            }
        }
        None => (req.start_from_head.unwrap_or(false), None),
    };
    let scope = EventScope {
        group: &group,
        stream: Some(&req.log_stream_name),
        start: retained_start(tx, &group, ctx.now_ms, req.start_time)?,
        end: req.end_time.unwrap_or(i64::MAX),
    };
    let (events, bound) = if forward {
        let bound = bound.unwrap_or((i64::MIN, i64::MIN));
        let page = tx.events_forward(&scope, bound, limit, &|_| true, &mut |_| true)?;
        (page.events, bound)
    } else {
        let bound = bound.unwrap_or((i64::MAX, i64::MAX));
        let mut page = tx.events_backward(&scope, bound, limit)?;
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
    Ok(GetLogEventsResponse {
        events: events
            .into_iter()
            .map(|e| OutputLogEvent {
                timestamp: e.timestamp,
                message: e.message,
                ingestion_time: e.ingestion,
            })
            .collect(),
        next_forward_token: paging::token(Listing::EventsForward, last),
        next_backward_token: paging::token(Listing::EventsBackward, first),
    })
}

pub(super) fn filter(
    tx: &mut dyn Tx,
    ctx: &Context,
    req: FilterLogEventsRequest,
) -> Result<FilterLogEventsResponse, ApiError> {
    let group = group_name_of(&req.log_group_name, &req.log_group_identifier)?;
    if req.log_stream_names.is_some() && req.log_stream_name_prefix.is_some() {
        return Err(ApiError::new(
            INVALID,
            "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.",
        ));
    }
    super::groups::require_group(tx, &group)?;
    let pattern = FilterPattern::parse(req.filter_pattern.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::new(INVALID, e.to_string()))?;
    let limit = req.limit.unwrap_or(FILTER_PAGE).clamp(1, FILTER_PAGE) as usize;
    // Tokens continue after an event, in (timestamp, id) order.
    let after: (i64, i64) = match &req.next_token {
        None => (i64::MIN, i64::MIN),
        Some(t) => paging::key(Listing::FilteredEvents, t).ok_or_else(invalid_token)?,
    };
    let scope = EventScope {
        group: &group,
        stream: None,
        start: retained_start(tx, &group, ctx.now_ms, req.start_time)?,
        // FilterLogEvents' endTime is inclusive.
        end: req.end_time.map_or(i64::MAX, |t| t.saturating_add(1)),
    };
    let names = req.log_stream_names.clone().unwrap_or_default();
    let prefix = req.log_stream_name_prefix.clone().unwrap_or_default();
    let wanted = |stream: &str| {
        stream.starts_with(prefix.as_str())
            && (names.is_empty() || names.iter().any(|n| n == stream))
    };
    let page = tx.events_forward(&scope, after, limit, &wanted, &mut |e| {
        pattern.matches(&e.message)
    })?;
    let next = page.events.last().map(|e| e.key());
    Ok(FilterLogEventsResponse {
        events: page
            .events
            .into_iter()
            .map(|e| FilteredLogEvent {
                event_id: e.id.to_string(),
                log_stream_name: e.stream,
                timestamp: e.timestamp,
                message: e.message,
                ingestion_time: e.ingestion,
            })
            .collect(),
        searched_log_streams: Vec::new(),
        next_token: next
            .filter(|_| page.more)
            .map(|key| paging::token(Listing::FilteredEvents, key)),
    })
}

/// A batch of delivered events as [`append_delivered`] stores it: at most [`PER_BLOCK`]
/// events in time order within one hour of timestamps (see [`crate::trails::hour_of`]),
/// encoded for the store. A trail's event history keeps its events in blocks of an hour, so
/// that a block with the same events can share the encoding.
struct DeliveredBatch {
    /// Its events, as places in the delivery's list.
    events: Vec<usize>,
    /// Shared with a block of the event history that holds the same events.
    encoded: Arc<Vec<u8>>,
    /// Its metric data, if it was matched (see [`PreparedDelivery::generation`]).
    data: Option<Vec<Datum>>,
}

impl DeliveredBatch {
    /// Keeps the events `keep` accepts, which may also move each to its place in `events`.
    /// A batch that lost events is encoded again from `events`, and its metric data dropped
    /// for the write to match what is left.
    fn keep(
        &mut self,
        store: &dyn crate::store::Store,
        events: &[(i64, &str)],
        keep: impl FnMut(&mut usize) -> bool,
    ) {
        let before = self.events.len();
        self.events.retain_mut(keep);
        if self.events.len() < before {
            self.data = None;
            self.encoded = encoded(store, events, &self.events);
        }
    }
}

/// The encoding of `batch`, places in `events`.
fn encoded(
    store: &dyn crate::store::Store,
    events: &[(i64, &str)],
    batch: &[usize],
) -> Arc<Vec<u8>> {
    Arc::new(store.encode_events(&mut batch.iter().map(|&i| events[i])))
}

/// Events a service delivers to one stream, prepared off the writer (or on it, when the write
/// finds what was prepared no longer holds): sorted, cut into batches, encoded, and matched
/// with the group's filters if they were compiled. It holds no copy of the events:
/// [`append_delivered`] is given the same list again, or the part of it that reaches the
/// write, to which [`PreparedDelivery::narrowed`] fits it.
pub(crate) struct PreparedDelivery {
    /// Where each event's message is, in the delivery's list: which events these are.
    messages: Vec<usize>,
    batches: Vec<DeliveredBatch>,
    /// The filter generation the batches' data was matched with.
    generation: u64,
}

impl PreparedDelivery {
    /// What was prepared, for `events`: the same events or some of them, in the same order
    /// (those of a delivery that reach the write, when the write finds some met before it).
    /// Only the batches that lost events are encoded again, and matched again on the write;
    /// `None` when `events` are not a part, in the same order, of those prepared.
    pub(crate) fn narrowed(
        mut self,
        store: &dyn crate::store::Store,
        events: &[(i64, &str)],
    ) -> Option<PreparedDelivery> {
        // Where each prepared event is in `events`, if it is there.
        let mut kept_at = vec![None; self.messages.len()];
        let mut prepared = self.messages.iter().enumerate();
        for (n, (_, message)) in events.iter().enumerate() {
            let at = message.as_ptr() as usize;
            let (i, _) = prepared.find(|&(_, &m)| m == at)?;
            kept_at[i] = Some(n);
        }
        for batch in &mut self.batches {
            batch.keep(store, events, |i| kept_at[*i].map(|n| *i = n).is_some());
        }
        self.messages = events.iter().map(|(_, m)| m.as_ptr() as usize).collect();
        Some(self)
    }

    /// Its batches, in time order: each one's events (places in the delivery's list) and
    /// their encoding.
    pub(crate) fn batches(&self) -> impl Iterator<Item = (&[usize], &Arc<Vec<u8>>)> {
        self.batches
            .iter()
            .map(|b| (b.events.as_slice(), &b.encoded))
    }
}

/// What a group's filters make of a batch of delivered events.
fn match_delivered(filters: &GroupFilters, events: &[(i64, &str)], batch: &[usize]) -> Vec<Datum> {
    let mut matcher = filters.matcher();
    let mut data = Vec::new();
    for &i in batch {
        let (timestamp, message) = events[i];
        matcher.data(message, timestamp, &mut data);
    }
    data
}

/// A delivery of this many events and more is matched on a thread of its own while it is
/// encoded; a smaller one (a live trail's file of a few events) is not worth starting one.
const MATCHED_BESIDE_FROM: usize = 256;

/// Prepares a service's events (timestamp, message) for a stream of `group` in `scope` (see
/// [`append_delivered`]).
pub(crate) fn prepare_delivered(
    store: &dyn crate::store::Store,
    sets: &super::FilterSets,
    scope: &Scope,
    group: &str,
    events: &[(i64, &str)],
) -> PreparedDelivery {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| events[i].0);
    let mut cut: Vec<Vec<usize>> = Vec::new();
    let mut rest = order.into_iter().peekable();
    while let Some(hour) = rest.peek().map(|&i| hour_of(events[i].0)) {
        let mut batch = Vec::new();
        while let Some(i) =
            rest.next_if(|&i| batch.len() < PER_BLOCK && hour_of(events[i].0) == hour)
        {
            batch.push(i);
        }
        cut.push(batch);
    }
    let generation = sets.generation();
    let filters = sets.cached(scope, group);
    // The batches are matched on another thread while they are encoded: neither needs the
    // other, and a backlog's deliveries are prepared two at a time at most.
    let (matched, encoded) = crate::beside::beside(
        filters.is_some() && events.len() >= MATCHED_BESIDE_FROM,
        || {
            filters.map(|filters| {
                cut.iter()
                    .map(|batch| match_delivered(&filters, events, batch))
                    .collect::<Vec<_>>()
            })
        },
        || {
            cut.iter()
                .map(|batch| encoded(store, events, batch))
                .collect::<Vec<_>>()
        },
    );
    let mut matched = matched.map(Vec::into_iter);
    PreparedDelivery {
        messages: events.iter().map(|(_, m)| m.as_ptr() as usize).collect(),
        batches: cut
            .into_iter()
            .zip(encoded)
            .map(|(events, encoded)| DeliveredBatch {
                events,
                encoded,
                data: matched.as_mut().and_then(Iterator::next),
            })
            .collect(),
        generation,
    }
}

/// Stores events a service delivers to a group (CloudTrail's, for a trail), prepared by
/// [`prepare_delivered`] from the same `events` (or fitted to them, see
/// [`PreparedDelivery::narrowed`]), with their metric data, the stream created
/// when it is new. Unlike PutLogEvents' callers, a service is not refused for old events: only
/// those the group's retention has let go are left out. Answers how many were stored.
pub(crate) fn append_delivered(
    tx: &mut dyn Tx,
    ctx: &Context,
    store: &dyn crate::store::Store,
    group: &str,
    stream: &str,
    prepared: &mut PreparedDelivery,
    events: &[(i64, &str)],
) -> Result<usize, ApiError> {
    if tx.log_stream(group, stream)?.is_none() {
        tx.insert_log_stream(&super::LogStream::new(group, stream, ctx.now_ms))?;
    }
    let retained = retained_from(tx, group, ctx.now_ms)?;
    // Matching done before the write counts only if the filters are still those it used.
    let current = prepared.generation == ctx.filter_sets.generation();
    let mut stored = 0;
    for batch in &mut prepared.batches {
        if let Some(from) = retained
            && batch.events.first().is_some_and(|&i| events[i].0 < from)
        {
            // Rare: events older than the group keeps.
            batch.keep(store, events, |i| events[*i].0 >= from);
        }
        let data = batch.data.take().filter(|_| current);
        let (Some(&first), Some(&last)) = (batch.events.first(), batch.events.last()) else {
            continue;
        };
        let bytes: usize = batch.events.iter().map(|&i| events[i].1.len()).sum();
        tx.append_events(
            group,
            stream,
            (events[first].0, events[last].0),
            ctx.now_ms,
            &batch.encoded,
            bytes as i64,
        )?;
        let data = match data {
            Some(data) => data,
            None => {
                let filters = group_filters(tx, &ctx.filter_sets, group)?;
                match_delivered(&filters, events, &batch.events)
            }
        };
        metrics::record(tx, ctx, &data)?;
        stored += batch.events.len();
    }
    Ok(stored)
}
