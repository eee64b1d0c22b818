//! What trails need kept: the trails, what their followers have read, the events seen, and the
//! event history LookupEvents searches.

use super::{HistoryEvent, StoredTrail, TrailStatus};
use crate::store::StorageResult as Result;

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

    /// Records that a trail met the event `event_id` at `at_ms`; `false` if it had already.
    fn first_sighting(&mut self, trail: &str, event_id: &str, at_ms: i64) -> Result<bool>;

    /// Adds an event to the event history of the transaction's scope; `false` if it is there
    /// already.
    fn record_history(&mut self, event: &HistoryEvent) -> Result<bool>;
    /// History events of the transaction's scope, latest first, that `keep` accepts (it sees
    /// every field but `json`, which is read only for the events kept).
    fn event_history(
        &mut self,
        query: &HistoryQuery<'_>,
        keep: &mut dyn FnMut(&HistoryEvent) -> bool,
    ) -> Result<Vec<HistoryEvent>>;
    /// Forgets history events that happened before `before_ms`, and sightings made before it
    /// (an old event read today is still met again if a file repeats it), in every scope.
    fn expire_history(&mut self, before_ms: i64) -> Result<()>;
}
