//! Objects' events into the event history and the trail's log group, as CloudTrail delivers
//! them: one write for a batch of objects, which also records each object as read and each
//! event as met, so that a restart neither reads an object twice nor counts an event twice.
//! What can be done before the write (the log events sorted, encoded and matched, the history's
//! blocks encoded) is done off the writer, as if every event were new, and done again on the
//! writer only for a log batch, or an hour of the history, that lost an event met before.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, btree_map};
use std::sync::Arc;

use super::store::HistoryBlock;
use super::{EventIds, StoredTrail, TrailEvent, hour_of};
use crate::logs::PreparedDelivery;
use crate::scope::{Region, Scope};
use crate::store::{Store, Tx};
use crate::{ApiError, Context, Engine};

/// CloudTrail sends no event over 256 KB to CloudWatch Logs (its quotas page).
pub const MAX_LOG_EVENT_BYTES: usize = 256 * 1024;

/// The events of one object of a trail's bucket, read and parsed before the write.
#[derive(Debug, Clone, Default)]
pub struct ObjectEvents {
    /// The object's key.
    pub key: String,
    /// The account and region its key names (`AWSLogs/[<org>/]<account>/CloudTrail/<region>/`).
    pub account: String,
    pub region: String,
    /// The organization its key names, for an organization trail's objects.
    pub organization: Option<String>,
    pub events: Vec<TrailEvent>,
    /// What could not be read in it, for the trail's status.
    pub problems: Vec<String>,
}

/// What a delivery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Whether objects were taken: `false` when they had been read already, or the trail is
    /// gone or not logging.
    pub taken: bool,
    pub events: usize,
    /// Events the trail had met before, in another object or this one.
    pub duplicates: usize,
    /// Events written to the trail's log group.
    pub logged: usize,
    /// Events too large for CloudWatch Logs, left out of it.
    pub too_large: usize,
}

impl Engine {
    /// The first half of delivering objects' events for the trail `trail_arn`: the log
    /// events sorted, encoded and matched as the trail stands, off the writer; `None` when the
    /// trail is gone or not logging. A follower prepares the next objects while the last ones
    /// are written by [`Engine::commit_delivery`].
    pub async fn prepare_delivery(
        &self,
        trail_arn: &str,
        objects: Vec<ObjectEvents>,
    ) -> Result<Option<Delivery>, ApiError> {
        let Some(home) = crate::scope::Arn::parse(trail_arn).and_then(|a| a.scope()) else {
            return Err(ApiError::validation(format!(
                "not a trail ARN: {trail_arn}"
            )));
        };
        let looked = trail_arn.to_owned();
        let snapshot = self
            .read(&home, move |tx, _| Ok(tx.trail(&looked)?))
            .await?;
        let Some(snapshot) = snapshot.filter(|t| t.status.is_logging) else {
            return Ok(None);
        };
        let (store, sets, scope) = (self.store.clone(), self.filter_sets.clone(), home.clone());
        let (objects, prepared) = tokio::task::spawn_blocking(move || {
            let prepared = prepare(&snapshot, &objects, &*store, &sets, &scope);
            (objects, prepared)
        })
        .await
        .map_err(|e| ApiError::internal(format!("preparing a delivery failed: {e}")))?;
        Ok(Some(Delivery {
            arn: trail_arn.to_owned(),
            home,
            objects,
            prepared,
        }))
    }

    /// The second half: one write, each object once, into the event history of the account
    /// and region the object's key names and, for the events the trail selects, into its log
    /// group in stream `<account>_CloudTrail_<region>` with `eventTime` as the timestamp.
    /// Objects read already are passed over; what was prepared is used where nothing the write
    /// finds changes it.
    pub async fn commit_delivery(&self, delivery: Delivery) -> Result<Delivered, ApiError> {
        let store = self.store.clone();
        let Delivery {
            arn,
            home,
            objects,
            prepared,
        } = delivery;
        let (done, spent) = self
            .write(&home, move |tx, ctx| {
                let mut prepared = prepared;
                let done = deliver(tx, ctx, &*store, &arn, &objects, &mut prepared)?;
                Ok((done, (objects, prepared)))
            })
            .await?;
        // Freed here rather than on the writer: a delivery's events are a hundred thousand
        // strings and more, and freeing them was a tenth of the writer's time.
        drop(spent);
        Ok(done)
    }

    /// The keys under `prefix` the trail's follower has read after `after`, and the last
    /// key it read under `prefix`.
    pub async fn objects_read(
        &self,
        trail_arn: &str,
        prefix: &str,
        after: &str,
    ) -> Result<Vec<String>, ApiError> {
        let (arn, prefix, after) = (trail_arn.to_owned(), prefix.to_owned(), after.to_owned());
        self.read(&self.default_scope(), move |tx, _| {
            Ok(tx.objects_read(&arn, &prefix, &after)?)
        })
        .await
    }

    /// The last key under `prefix`, in key order, that the trail's follower has read.
    pub async fn last_object_read(
        &self,
        trail_arn: &str,
        prefix: &str,
    ) -> Result<Option<String>, ApiError> {
        let (arn, prefix) = (trail_arn.to_owned(), prefix.to_owned());
        self.read(&self.default_scope(), move |tx, _| {
            Ok(tx.last_object_read(&arn, &prefix)?)
        })
        .await
    }

    /// Records that reading the trail's bucket failed, for GetTrailStatus.
    pub async fn delivery_failed(&self, trail_arn: &str, reason: String) -> Result<(), ApiError> {
        let Some(home) = crate::scope::Arn::parse(trail_arn).and_then(|a| a.scope()) else {
            return Ok(());
        };
        let arn = trail_arn.to_owned();
        self.write(&home, move |tx, ctx| {
            if let Some(t) = tx.trail(&arn)? {
                let mut status = t.status;
                status.latest_delivery_error = Some(reason);
                status.latest_delivery_attempt_ms = Some(ctx.now_ms);
                tx.set_trail_status(&arn, &status)?;
            }
            Ok(())
        })
        .await
    }
}

/// What a trail's selectors and log group were when a delivery was prepared.
type Selection = (
    Vec<super::api::EventSelector>,
    Option<Vec<super::api::AdvancedEventSelector>>,
    Option<String>,
);

fn selection(trail: &StoredTrail) -> Selection {
    (
        trail.event_selectors.clone(),
        trail.advanced_event_selectors.clone(),
        trail.log_group(),
    )
}

/// Objects of a trail with their log events prepared, to be written by
/// [`Engine::commit_delivery`].
pub struct Delivery {
    arn: String,
    home: Scope,
    objects: Vec<ObjectEvents>,
    prepared: Prepared,
}

/// A delivery's log events, prepared per stream as the trail stood before the write, and its
/// blocks of the event history, each with the events met first in the delivery, as if none
/// had been met before it.
struct Prepared {
    selection: Selection,
    streams: BTreeMap<String, PreparedDelivery>,
    /// An hour's events in one block, or two (see [`prepare`]).
    history: BTreeMap<HistoryKey, Vec<EncodedHistory>>,
    /// Streams written, kept to be freed off the writer.
    spent: Vec<PreparedDelivery>,
}

/// A block of the event history: the account, the region and the hour of its events.
type HistoryKey = (String, String, i64);

/// A history block's events, encoded.
struct EncodedHistory {
    count: usize,
    first_ms: i64,
    last_ms: i64,
    attributes: Vec<u8>,
    /// The events themselves; often the encoding of a log stream's batch that holds the same
    /// events (see [`shared_batch`]).
    events: Arc<Vec<u8>>,
}

/// Encodes what a history block keeps of its events besides their JSON, the events in time
/// order.
fn encode_attributes(store: &dyn Store, events: &[&TrailEvent]) -> EncodedHistory {
    EncodedHistory {
        count: events.len(),
        first_ms: events.first().map_or(0, |e| e.time_ms),
        last_ms: events.last().map_or(0, |e| e.time_ms),
        attributes: store.encode_history(&mut events.iter().map(|e| e.history_attributes())),
        events: Arc::default(),
    }
}

fn encode_events(store: &dyn Store, events: &[&TrailEvent]) -> Arc<Vec<u8>> {
    Arc::new(store.encode_events(&mut events.iter().map(|e| (e.time_ms, e.json()))))
}

/// Encodes a history block's events, which it puts in time order.
fn encode_history(store: &dyn Store, events: &mut [&TrailEvent]) -> EncodedHistory {
    events.sort_by_key(|e| e.time_ms);
    EncodedHistory {
        events: encode_events(store, events),
        ..encode_attributes(store, events)
    }
}

/// A delivery with this many events for the history has its blocks encoded on a thread of
/// their own; a smaller one (a live trail's file of a few events) is not worth starting one.
const HISTORY_BESIDE_FROM: usize = 256;

/// An hour of the event history as a delivery is prepared: its events in the order met,
/// each with whether `place`, the stream of the first of them logged, logs it (a batch of that
/// stream may hold exactly those); the others are too large for CloudWatch Logs, not selected,
/// or another folder's.
struct Block<'e> {
    events: Vec<(&'e TrailEvent, bool)>,
    place: Option<&'e str>,
}

/// A block of the event history to encode: its events, and the stream a batch of which is
/// expected to hold the same events.
struct Part<'e> {
    events: Vec<&'e TrailEvent>,
    place: Option<&'e str>,
}

/// The encoding of a batch of `stream` (prepared from `logged`) that holds exactly `events`,
/// in their order, if there is one. A trail that logs its management events to its log
/// group, as most do, has one for most of a delivery's history blocks: both are cut by the
/// hour and put in time order, and the events' JSON is then compressed once.
fn shared_batch(
    stream: &PreparedDelivery,
    logged: &[(i64, &str)],
    events: &[&TrailEvent],
) -> Option<Arc<Vec<u8>>> {
    let (_, encoded) = stream.batches().find(|(batch, _)| {
        batch.len() == events.len()
            && batch
                .iter()
                .zip(events)
                .all(|(&i, e)| std::ptr::eq(logged[i].1, e.json()))
    })?;
    Some(encoded.clone())
}

/// The region of the event history that keeps an event of `object`, if one does: a
/// management event, in a region trailwatch knows (where CloudTrail put the object says whose
/// it is).
fn history_region(object: &ObjectEvents, event: &TrailEvent) -> Option<&'static Region> {
    event
        .is_management()
        .then(|| Region::named(&object.region))
        .flatten()
}

/// Whether the trail sends the event to its log group.
fn sends(trail: &StoredTrail, event: &TrailEvent) -> bool {
    trail.selects(event) && event.json().len() <= MAX_LOG_EVENT_BYTES
}

/// The stream an object's events go to; an organization trail's streams name the
/// organization too.
fn stream_of(object: &ObjectEvents) -> String {
    match &object.organization {
        Some(org) => format!("{org}_{}_CloudTrail_{}", object.account, object.region),
        None => format!("{}_CloudTrail_{}", object.account, object.region),
    }
}

fn prepare(
    trail: &StoredTrail,
    objects: &[ObjectEvents],
    store: &dyn Store,
    sets: &crate::logs::FilterSets,
    scope: &Scope,
) -> Prepared {
    let group = trail.log_group();
    let places: Vec<String> = objects.iter().map(stream_of).collect();
    // The same walk as the write's, without what the store knows.
    let mut met: HashMap<&str, HashMap<i64, EventIds>> = HashMap::new();
    let mut in_blocks: HashMap<(&str, &str, i64), EventIds> = HashMap::new();
    let mut history_hours: BTreeMap<(&str, &str, i64), Block<'_>> = BTreeMap::new();
    let mut logged: BTreeMap<&str, Vec<(i64, &str)>> = BTreeMap::new();
    let mut logged_in_hour: HashMap<(&str, i64), usize> = HashMap::new();
    for (object, place) in objects.iter().zip(&places) {
        let hours = met.entry(place).or_default();
        for event in &object.events {
            let hour = hour_of(event.time_ms);
            if !hours.entry(hour).or_default().insert_event(event) {
                continue;
            }
            let logs = group.is_some() && sends(trail, event);
            if history_region(object, event).is_some() {
                let key = (&*object.account, &*object.region, hour);
                if in_blocks.entry(key).or_default().insert_event(event) {
                    let block = history_hours.entry(key).or_insert_with(|| Block {
                        events: Vec::new(),
                        place: None,
                    });
                    let in_place = logs && *block.place.get_or_insert(place) == place;
                    block.events.push((event, in_place));
                }
            }
            if logs {
                logged
                    .entry(place)
                    .or_default()
                    .push((event.time_ms, event.json()));
                *logged_in_hour.entry((place, hour)).or_default() += 1;
            }
        }
    }
    // An hour's events make one block of the history, or two when a stream's batch is
    // expected to hold those it logged but the hour has others too (an event over 256 KB, one
    // its selectors leave out): the batch's part then shares its encoding.
    let mut blocks: Vec<((&str, &str, i64), Part<'_>)> = Vec::new();
    for (key, block) in history_hours {
        // A stream's batch holds the events it logged in the hour, up to PER_BLOCK of them:
        // the block's part if it logged no others.
        let in_place = block.events.iter().filter(|(_, logged)| *logged).count();
        let shared = block.place.filter(|place| {
            in_place <= crate::logs::PER_BLOCK
                && logged_in_hour.get(&(*place, key.2)) == Some(&in_place)
        });
        let parts = match shared {
            Some(_) => {
                let (logged, others): (Vec<_>, Vec<_>) =
                    block.events.into_iter().partition(|&(_, logged)| logged);
                vec![(logged, shared), (others, None)]
            }
            None => vec![(block.events, None)],
        };
        for (events, place) in parts {
            let mut events: Vec<&TrailEvent> = events.into_iter().map(|(e, _)| e).collect();
            events.sort_by_key(|e| e.time_ms);
            if !events.is_empty() {
                blocks.push((key, Part { events, place }));
            }
        }
    }
    // The history's blocks and the log streams are encoded side by side: a backlog's
    // deliveries are prepared two at a time at most, beside the one being written. A block's events
    // are encoded with its attributes unless a batch of a stream is expected to hold the same
    // events (see `Part::place`); they are then taken from that batch, after.
    let history_events: usize = blocks.iter().map(|(_, b)| b.events.len()).sum();
    let (history_encoded, streams) = crate::beside::beside(
        history_events >= HISTORY_BESIDE_FROM,
        || {
            blocks
                .iter()
                .map(|(_, block)| EncodedHistory {
                    events: match block.place {
                        Some(_) => Arc::default(),
                        None => encode_events(store, &block.events),
                    },
                    ..encode_attributes(store, &block.events)
                })
                .collect::<Vec<_>>()
        },
        || {
            let mut streams = BTreeMap::new();
            if let Some(group) = &group {
                for (place, events) in &logged {
                    let prepared =
                        crate::logs::prepare_delivered(store, sets, scope, group, events);
                    streams.insert(place.to_string(), prepared);
                }
            }
            streams
        },
    );
    let mut history: BTreeMap<HistoryKey, Vec<EncodedHistory>> = BTreeMap::new();
    for ((key, block), mut encoded) in blocks.into_iter().zip(history_encoded) {
        if let Some(place) = block.place {
            let shared = streams
                .get(place)
                .zip(logged.get(place))
                .and_then(|(stream, logged)| shared_batch(stream, logged, &block.events));
            // Expected, as stream batches are cut (by the hour, PER_BLOCK at most): a miss
            // costs an encoding here, after the threads, and no more.
            debug_assert!(shared.is_some(), "no batch of {place} holds the block");
            encoded.events = shared.unwrap_or_else(|| encode_events(store, &block.events));
        }
        let (account, region, hour) = key;
        history
            .entry((account.to_owned(), region.to_owned(), hour))
            .or_default()
            .push(encoded);
    }
    Prepared {
        selection: selection(trail),
        streams,
        history,
        spent: Vec::new(),
    }
}

/// The events a trail has met in one place and hour, and those of them first met in this
/// delivery, in the order met.
struct Sightings<'e> {
    ids: EventIds,
    new: Vec<(&'e str, Option<u128>)>,
}

/// A block of the event history this delivery adds to: the ids there (with those added), and
/// the events added.
struct HistoryAdded<'e> {
    scope: Scope,
    ids: EventIds,
    events: Vec<&'e TrailEvent>,
}

/// Writes a delivery. An event counts for the trail the first time it is met in its place
/// and hour (see [`TrailStore::sightings`](super::store::TrailStore::sightings)), and enters
/// the history the first time any trail brings it. What was prepared is written as it is
/// wherever it holds the events that reach it here; a log batch or history block that holds
/// more (an event met before this delivery, an object read already) is made again, and a
/// stream whose selectors changed since is prepared again whole.
fn deliver(
    tx: &mut dyn Tx,
    ctx: &Context,
    store: &dyn Store,
    arn: &str,
    objects: &[ObjectEvents],
    prepared: &mut Prepared,
) -> Result<Delivered, ApiError> {
    let Some(trail) = tx.trail(arn)? else {
        return Ok(Delivered::default());
    };
    if !trail.status.is_logging {
        return Ok(Delivered::default());
    }
    let mut done = Delivered::default();
    let group = trail.log_group();
    let mut survivors: BTreeMap<&str, Vec<&TrailEvent>> = BTreeMap::new();
    if selection(&trail) != prepared.selection {
        prepared.streams.clear();
    }
    let mut status = trail.status.clone();
    let home = tx.scope().clone();
    let places: Vec<String> = objects.iter().map(stream_of).collect();
    // Each hour's sightings and history are read once, when the delivery first meets it.
    let mut sightings: HashMap<&str, HashMap<i64, Sightings<'_>>> = HashMap::new();
    let mut history: BTreeMap<(&str, &str, i64), HistoryAdded<'_>> = BTreeMap::new();
    for (object, place) in objects.iter().zip(&places) {
        if tx.object_read(arn, &object.key)? {
            continue;
        }
        done.taken = true;
        done.events += object.events.len();
        let mut too_large = 0;
        let hours = sightings.entry(place).or_default();
        for event in &object.events {
            let hour = hour_of(event.time_ms);
            let seen = match hours.entry(hour) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => v.insert(Sightings {
                    ids: tx.sightings(arn, place, hour)?,
                    new: Vec::new(),
                }),
            };
            if !seen.ids.insert_event(event) {
                done.duplicates += 1;
                continue;
            }
            seen.new.push((event.event_id(), event.event_id_bits()));
            if let Some(region) = history_region(object, event) {
                let key = (&*object.account, &*object.region, hour);
                let added = match history.entry(key) {
                    btree_map::Entry::Occupied(o) => o.into_mut(),
                    btree_map::Entry::Vacant(v) => {
                        let scope = Scope::new(&object.account, region);
                        tx.enter(&scope);
                        let ids = tx.history_ids(hour);
                        tx.enter(&home);
                        v.insert(HistoryAdded {
                            scope,
                            ids: ids?,
                            events: Vec::new(),
                        })
                    }
                };
                // Another trail may have brought it already, or another folder of the same
                // account and region (an organization trail's and the account's own).
                if added.ids.insert_event(event) {
                    added.events.push(event);
                }
            }
            if group.is_none() || !trail.selects(event) {
                continue;
            }
            if event.json().len() > MAX_LOG_EVENT_BYTES {
                too_large += 1;
                continue;
            }
            survivors.entry(place).or_default().push(event);
        }
        if too_large > 0 {
            done.too_large += too_large;
            status.latest_cloud_watch_logs_delivery_error = Some(format!(
                "{too_large} events of {} were over 256 KB and were not sent to CloudWatch Logs.",
                object.key
            ));
        }
        if let Some(problem) = object.problems.first() {
            status.latest_delivery_error = Some(format!("{}: {problem}", object.key));
            status.latest_delivery_attempt_ms = Some(ctx.now_ms);
        }
        tx.mark_object_read(arn, &object.key, ctx.now_ms)?;
    }
    if !done.taken {
        return Ok(done);
    }
    for (place, hours) in &sightings {
        for (hour, seen) in hours {
            if !seen.new.is_empty() {
                let ids = &mut seen.new.iter().copied();
                tx.record_sightings(arn, place, *hour, ids, ctx.now_ms)?;
            }
        }
    }
    for ((account, region, hour), mut added) in history {
        if added.events.is_empty() {
            continue;
        }
        let key = (account.to_owned(), region.to_owned(), hour);
        let blocks = match prepared.history.remove(&key) {
            Some(p) if p.iter().map(|b| b.count).sum::<usize>() == added.events.len() => p,
            _ => vec![encode_history(store, &mut added.events)],
        };
        tx.enter(&added.scope);
        let recorded = blocks.iter().try_for_each(|block| {
            tx.record_history(&HistoryBlock {
                hour,
                first_ms: block.first_ms,
                last_ms: block.last_ms,
                count: block.count,
                attributes: &block.attributes,
                events: &block.events,
            })
        });
        tx.enter(&home);
        recorded?;
    }
    if let Some(group) = &group
        && !survivors.is_empty()
    {
        if tx.log_group(group)?.is_some() {
            for (place, events) in survivors {
                // In the order prepare met them, as prepared.
                let events: Vec<(i64, &str)> =
                    events.iter().map(|e| (e.time_ms, e.json())).collect();
                let narrowed = prepared
                    .streams
                    .remove(place)
                    .and_then(|p| p.narrowed(store, &events));
                let mut ready = match narrowed {
                    Some(p) => p,
                    None => crate::logs::prepare_delivered(
                        store,
                        &ctx.filter_sets,
                        &home,
                        group,
                        &events,
                    ),
                };
                done.logged += crate::logs::append_delivered(
                    tx, ctx, store, group, place, &mut ready, &events,
                )?;
                prepared.spent.push(ready);
            }
            status.latest_cloud_watch_logs_delivery_ms = Some(ctx.now_ms);
        } else {
            status.latest_cloud_watch_logs_delivery_error =
                Some(format!("The log group {group} does not exist."));
        }
    }
    status.latest_delivery_ms = Some(ctx.now_ms);
    tx.set_trail_status(arn, &status)?;
    Ok(done)
}

/// Where the follower looks for a trail's objects: `<prefix>/AWSLogs/`.
pub fn logs_prefix(trail: &StoredTrail) -> String {
    match trail.trail.s3_key_prefix.as_deref() {
        Some(p) if !p.is_empty() => format!("{}/AWSLogs/", p.trim_end_matches('/')),
        _ => "AWSLogs/".to_owned(),
    }
}
