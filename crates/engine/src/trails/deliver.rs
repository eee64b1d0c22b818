//! An object's events into the event history and the trail's log group, as CloudTrail
//! delivers them: one write per object, which also records the object as read and each event
//! as seen, so that a restart neither reads an object twice nor counts an event twice.

use std::collections::{BTreeMap, BTreeSet};

use super::{HistoryEvent, StoredTrail, TrailEvent};
use crate::logs::PreparedDelivery;
use crate::logs::api::InputLogEvent;
use crate::scope::{Region, Scope};
use crate::store::Tx;
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
        self.write(&home, move |tx, ctx| {
            deliver(tx, ctx, &*store, &arn, objects, prepared)
        })
        .await
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

/// A delivery's log events, prepared per stream as the trail stood before the write.
struct Prepared {
    selection: Selection,
    streams: BTreeMap<String, PreparedDelivery>,
}

/// Whether the trail sends the event to its log group.
fn sends(trail: &StoredTrail, event: &TrailEvent) -> bool {
    trail.selects(event) && event.json.len() <= MAX_LOG_EVENT_BYTES
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
    store: &dyn crate::store::Store,
    sets: &crate::logs::FilterSets,
    scope: &Scope,
) -> Prepared {
    let mut streams = BTreeMap::new();
    if let Some(group) = trail.log_group() {
        let mut events: BTreeMap<String, Vec<InputLogEvent>> = BTreeMap::new();
        for object in objects {
            let stream = events.entry(stream_of(object)).or_default();
            stream.extend(object.events.iter().filter(|e| sends(trail, e)).map(|e| {
                InputLogEvent {
                    timestamp: e.time_ms,
                    message: e.json.clone(),
                }
            }));
        }
        for (name, list) in events {
            let prepared = crate::logs::prepare_delivered(store, sets, scope, &group, list);
            streams.insert(name, prepared);
        }
    }
    Prepared {
        selection: selection(trail),
        streams,
    }
}

fn deliver(
    tx: &mut dyn Tx,
    ctx: &Context,
    store: &dyn crate::store::Store,
    arn: &str,
    objects: Vec<ObjectEvents>,
    mut prepared: Prepared,
) -> Result<Delivered, ApiError> {
    let Some(trail) = tx.trail(arn)? else {
        return Ok(Delivered::default());
    };
    if !trail.status.is_logging {
        return Ok(Delivered::default());
    }
    let mut done = Delivered::default();
    let group = trail.log_group();
    // What reaches each stream; a stream whose events are not those prepared (an event met
    // before, an object read already, selectors changed since) is prepared again here.
    let mut survivors: BTreeMap<String, Vec<InputLogEvent>> = BTreeMap::new();
    let mut spoiled: BTreeSet<String> = BTreeSet::new();
    if selection(&trail) != prepared.selection {
        prepared.streams.clear();
    }
    let mut status = trail.status.clone();
    let home = tx.scope().clone();
    for object in objects {
        let stream = stream_of(&object);
        if tx.object_read(arn, &object.key)? {
            spoiled.insert(stream);
            continue;
        }
        done.taken = true;
        done.events += object.events.len();
        // The event history of the account and region whose folder the object is in: where
        // CloudTrail put it says whose it is.
        let history = Region::named(&object.region).map(|r| Scope::new(&object.account, r));
        let mut too_large = 0;
        for event in object.events {
            if !tx.first_sighting(arn, &event.event_id, ctx.now_ms)? {
                done.duplicates += 1;
                if sends(&trail, &event) {
                    spoiled.insert(stream.clone());
                }
                continue;
            }
            if event.is_management()
                && let Some(scope) = &history
            {
                tx.enter(scope);
                let recorded = tx.record_history(&HistoryEvent::from(&event));
                tx.enter(&home);
                recorded?;
            }
            if group.is_none() || !trail.selects(&event) {
                continue;
            }
            if event.json.len() > MAX_LOG_EVENT_BYTES {
                too_large += 1;
                continue;
            }
            survivors
                .entry(stream.clone())
                .or_default()
                .push(InputLogEvent {
                    timestamp: event.time_ms,
                    message: event.json,
                });
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
    if let Some(group) = &group
        && !survivors.is_empty()
    {
        if tx.log_group(group)?.is_some() {
            for (stream, events) in survivors {
                let ready = match prepared.streams.remove(&stream) {
                    Some(p) if !spoiled.contains(&stream) => p,
                    _ => crate::logs::prepare_delivered(
                        store,
                        &ctx.filter_sets,
                        &home,
                        group,
                        events,
                    ),
                };
                done.logged +=
                    crate::logs::append_delivered(tx, ctx, store, group, &stream, ready)?;
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
