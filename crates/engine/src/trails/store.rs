//! What trails need kept: the trails, what their followers have read, the events seen, and the
//! event history LookupEvents searches.

use super::{EventIds, HistoryEvent, StoredTrail, TrailStatus};
use crate::store::StorageResult as Result;

/// A block of the event history: the events of one scope whose `eventTime` falls in one hour
/// (see [`super::hour_of`]), in time order, as the store encoded them
/// ([`crate::store::Store::encode_history`] for `attributes`,
/// [`crate::store::Store::encode_events`] for `events`, the events' JSON).
#[derive(Debug, Clone, Copy)]
pub struct HistoryBlock<'a> {
    pub hour: i64,
    pub first_ms: i64,
    pub last_ms: i64,
    pub count: usize,
    pub attributes: &'a [u8],
    pub events: &'a [u8],
}

/// Which history events a LookupEvents page visits.
#[derive(Debug, Clone, Copy)]
pub struct HistoryQuery<'a> {
    /// Event times from `start_ms` (inclusive) to `end_ms` (inclusive), as AWS takes them.
    pub start_ms: i64,
    pub end_ms: i64,
    /// Continue before this event, in the order of the listing (latest first).
    pub before: Option<(i64, &'a str)>,
    pub limit: usize,
}

/// Trails, keyed by ARN (which names their account and home region), and what their
/// followers read.
pub trait TrailStore {
    /// The trail of ARN `arn`, if it exists.
    fn trail(&mut self, arn: &str) -> Result<Option<StoredTrail>>;
    /// Adds a trail, or replaces one's configuration, selectors and tags (not its status).
    fn put_trail(&mut self, trail: &StoredTrail) -> Result<()>;
    /// Sets a trail's status.
    fn set_trail_status(&mut self, arn: &str, status: &TrailStatus) -> Result<()>;
    /// Removes a trail with what its follower read; whether it existed.
    fn delete_trail(&mut self, arn: &str) -> Result<bool>;
    /// Every trail of an account, in every region, in ARN order.
    fn account_trails(&mut self, account: &str) -> Result<Vec<StoredTrail>>;
    /// Every trail of every account.
    fn all_trails(&mut self) -> Result<Vec<StoredTrail>>;

    /// Whether a trail's follower has read the object `key`.
    fn object_read(&mut self, trail: &str, key: &str) -> Result<bool>;
    /// Records that a trail's follower read the object `key`.
    fn mark_object_read(&mut self, trail: &str, key: &str, at_ms: i64) -> Result<()>;
    /// The keys a trail's follower has read that start with `prefix` and come after `after`,
    /// in order.
    fn objects_read(&mut self, trail: &str, prefix: &str, after: &str) -> Result<Vec<String>>;
    /// The last key, in key order, a trail's follower has read that starts with `prefix`.
    fn last_object_read(&mut self, trail: &str, prefix: &str) -> Result<Option<String>>;

    /// The ids of the events a trail has met in the folder of one account and region
    /// (`place`: the name of its log stream, `[<organization>_]<account>_CloudTrail_<region>`)
    /// whose `eventTime` falls in `hour`. An event CloudTrail delivers again is in the same
    /// folder, so a delivery never reads what the trail met elsewhere: an organization trail
    /// meets thousands of files an hour.
    fn sightings(&mut self, trail: &str, place: &str, hour: i64) -> Result<EventIds>;
    /// Records that a trail met, at `at_ms`, the events `ids` of `place` whose `eventTime`
    /// falls in `hour` (each id with its bits, as [`TrailEvent::event_id_bits`] has them).
    fn record_sightings(
        &mut self,
        trail: &str,
        place: &str,
        hour: i64,
        ids: &mut dyn Iterator<Item = (&str, Option<u128>)>,
        at_ms: i64,
    ) -> Result<()>;

    /// The ids of the events of the transaction's scope's history in `hour`.
    fn history_ids(&mut self, hour: i64) -> Result<EventIds>;
    /// Adds a block of events, none of them there yet, to the event history of the
    /// transaction's scope.
    fn record_history(&mut self, block: &HistoryBlock<'_>) -> Result<()>;
    /// History events of the transaction's scope, latest first, that `keep` accepts (it sees
    /// every field but `json`, which is read only for the events kept).
    fn event_history(
        &mut self,
        query: &HistoryQuery<'_>,
        keep: &mut dyn FnMut(&HistoryEvent) -> bool,
    ) -> Result<Vec<HistoryEvent>>;
    /// Forgets, in every scope, the history of the hours that ended by `before_ms` (LookupEvents
    /// shows no event before it), and sightings recorded before it (an old event read today is
    /// still met again if a file repeats it).
    fn expire_history(&mut self, before_ms: i64) -> Result<()>;
}
