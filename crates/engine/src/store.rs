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

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::ApiError;
use crate::scope::Scope;

pub use crate::alarms::store::AlarmStore;
pub use crate::logs::store::LogStore;
pub use crate::metrics::store::MetricStore;
pub use crate::topics::store::{OutboxStore, TopicStore};
pub use crate::trails::store::TrailStore;

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

/// A future a store hands back.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A unit of work on a transaction, with its answer boxed (see [`Store`]).
pub type Work = Box<dyn FnOnce(&mut dyn Tx) -> Result<Box<dyn Any + Send>, ApiError> + Send>;

/// A storage engine: runs the engine's work in transactions.
///
/// The answer of a unit of work is boxed so that the trait can be used as `dyn Store`; the
/// engine unboxes it (`Engine::write`).
pub trait Store: Send + Sync {
    /// Runs `work` in a transaction in `scope` and answers once it is committed durably, or
    /// once it failed and was undone: a write whose closure fails changes nothing.
    fn write(
        &self,
        scope: Scope,
        work: Work,
    ) -> BoxFuture<'_, Result<Box<dyn Any + Send>, ApiError>>;
    /// Runs `work` in `scope` on a consistent view of what is committed; it may not write.
    fn read(
        &self,
        scope: Scope,
        work: Work,
    ) -> BoxFuture<'_, Result<Box<dyn Any + Send>, ApiError>>;
    /// Signalled after a commit that queued outbox messages ([`Tx::outbox_queued`]).
    fn outbox_signal(&self) -> Arc<Notify>;
    /// Encodes a batch of log events (timestamp, message), in time order, as
    /// [`LogStore::append_events`] takes it. Separate from the write so that it can run
    /// before it, in parallel with other requests, off a store's single writer.
    fn encode_events(&self, events: &mut dyn Iterator<Item = (i64, &str)>) -> Vec<u8>;
    /// Encodes what the event history keeps of a block's events besides their JSON, as
    /// [`crate::trails::store::HistoryBlock`] takes it; off the writer, like `encode_events`.
    fn encode_history(
        &self,
        events: &mut dyn Iterator<Item = crate::trails::HistoryAttributes<'_>>,
    ) -> Vec<u8>;
}

/// Runs `work` on each item in the item's scope, in order, stopping at the first error; the
/// transaction is back in its own scope afterwards, whatever happened. For work that spans
/// scopes within one write: a tick's alarms, housekeeping's log groups.
pub(crate) fn in_their_scopes<T, E>(
    tx: &mut dyn Tx,
    items: impl IntoIterator<Item = (Scope, T)>,
    mut work: impl FnMut(&mut dyn Tx, T) -> Result<(), E>,
) -> Result<(), E> {
    let home = tx.scope().clone();
    let mut result = Ok(());
    for (scope, item) in items {
        tx.enter(&scope);
        result = work(tx, item);
        if result.is_err() {
            break;
        }
    }
    tx.enter(&home);
    result
}

/// One transaction of a store: every component's storage in one atomic unit.
///
/// A transaction is in one scope, an account in a region: what it reads and writes by name
/// (log groups, metrics, alarms, their history) is that scope's, so the same name in two scopes
/// is two resources and no domain code can reach across by mistake. Topics and subscriptions
/// are found by ARN, which names its scope. The few methods that span scopes say so.
pub trait Tx: LogStore + MetricStore + AlarmStore + TopicStore + OutboxStore + TrailStore {
    /// The account and region of what this transaction reads and writes.
    fn scope(&self) -> &Scope;
    /// Moves to another scope, for work that spans them (a tick, a delivery's outcome).
    fn enter(&mut self, scope: &Scope);

    /// Tells the store that this transaction queued outbox messages, so that it wakes the
    /// delivery worker once they are committed.
    fn outbox_queued(&mut self);
}
