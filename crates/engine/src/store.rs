//! The seam between the domain and its storage.
//!
//! The engine decides; a store keeps. Each component says what it needs kept in a trait of its
//! own ([`TopicStore`], [`OutboxStore`], …), and a storage engine implements them all for one
//! transaction type, [`Tx`]. The engine runs each write as one closure over a `&mut dyn Tx`
//! that the store commits durably before the caller hears back, with everything the write
//! caused (datapoints, alarm transitions, outbox messages) in the same transaction; reads get
//! the same interface over a consistent view.
//!
//! The embedded SQLite store is the first implementation. The traits ask nothing SQLite-only of
//! an implementation: a PostgreSQL store for several nodes would implement them over one
//! database transaction each, with conditional writes where two nodes could race.

use crate::ApiError;

pub use crate::alarms::store::AlarmStore;
pub use crate::logs::store::LogStore;
pub use crate::metrics::store::MetricStore;
pub use crate::topics::store::{OutboxStore, TopicStore};

/// A storage failure: the database could not do what was asked. Requests that meet one are
/// answered as AWS answers its own faults, and the details go to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StorageError(pub String);

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> ApiError {
        ApiError::internal(format!("storage: {}", e.0))
    }
}

/// What storage calls answer.
pub type StorageResult<T> = Result<T, StorageError>;

/// One transaction of a store: every component's storage in one atomic unit.
pub trait Tx: LogStore + MetricStore + AlarmStore + TopicStore + OutboxStore {
    /// Tells the store that this transaction queued outbox messages, so that it wakes the
    /// delivery worker once they are committed.
    fn outbox_queued(&mut self);
}
