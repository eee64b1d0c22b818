//! An object's events into the event history and the trail's log group, as CloudTrail
//! delivers them: one write per object, which also records the object as read and each event
//! as seen, so that a restart neither reads an object twice nor counts an event twice.

use std::collections::BTreeMap;

use super::{HistoryEvent, StoredTrail, TrailEvent};
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
    /// Delivers objects' events for the trail `trail_arn`, in one write, each object once:
    /// into the event history of the account and region the object's key names, and, for the
    /// events the trail selects, into its log group in stream `<account>_CloudTrail_<region>`
    /// with `eventTime` as the timestamp. Objects read already are passed over.
    pub async fn deliver(
        &self,
        trail_arn: &str,
        objects: Vec<ObjectEvents>,
    ) -> Result<Delivered, ApiError> {
        let Some(home) = crate::scope::Arn::parse(trail_arn).and_then(|a| a.scope()) else {
            return Err(ApiError::validation(format!(
                "not a trail ARN: {trail_arn}"
            )));
        };
        let arn = trail_arn.to_owned();
        let store = self.store.clone();
        self.write(&home, move |tx, ctx| {
            deliver(tx, ctx, &*store, &arn, objects)
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

fn deliver(
    tx: &mut dyn Tx,
    ctx: &Context,
    store: &dyn crate::store::Store,
    arn: &str,
    objects: Vec<ObjectEvents>,
) -> Result<Delivered, ApiError> {
    let Some(trail) = tx.trail(arn)? else {
        return Ok(Delivered::default());
    };
    if !trail.status.is_logging {
        return Ok(Delivered::default());
    }
    let mut done = Delivered::default();
    let group = trail.log_group();
    let mut streams: BTreeMap<String, Vec<InputLogEvent>> = BTreeMap::new();
    let mut status = trail.status.clone();
    let home = tx.scope().clone();
    for object in objects {
        if tx.object_read(arn, &object.key)? {
            continue;
        }
        done.taken = true;
        done.events += object.events.len();
        // The event history of the account and region whose folder the object is in: where
        // CloudTrail put it says whose it is.
        let history = Region::named(&object.region).map(|r| Scope::new(&object.account, r));
        // An organization trail's streams name the organization too.
        let stream = match &object.organization {
            Some(org) => format!("{org}_{}_CloudTrail_{}", object.account, object.region),
            None => format!("{}_CloudTrail_{}", object.account, object.region),
        };
        let mut too_large = 0;
        for event in object.events {
            if !tx.first_sighting(arn, &event.event_id, ctx.now_ms)? {
                done.duplicates += 1;
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
            streams
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
        && !streams.is_empty()
    {
        if tx.log_group(group)?.is_some() {
            for (stream, events) in streams {
                done.logged +=
                    crate::logs::append_delivered(tx, ctx, store, group, &stream, events)?;
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
