//! trailwatch's domain: log groups and their events, metric filters, metrics, alarms, topics
//! and subscriptions, and the pipeline that joins them.
//!
//! One component a folder — [`logs`], [`metrics`], [`alarms`], [`topics`] — each with its
//! operations on typed requests and responses shaped as AWS's service models shape them (the
//! wire protocols around them live in the `aws` crate), and a trait saying what it needs kept
//! ([`store`]). An accepted write is durable before it is acknowledged, and every consequence of
//! it — the metric datapoints of matching log events, the alarm transitions they cause and the
//! notifications those send — commits in the same transaction.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use engine::{Config, Engine};
//! let config = Config::new("./trailwatch-data".into(), "http://127.0.0.1:4566");
//! let store = store::SqliteStore::open(&config.data_dir, &config.home())?;
//! let engine = Engine::new(config, Arc::new(store));
//! let request = serde_json::from_value(
//!     serde_json::json!({"logGroupName": "CloudTrail/DefaultLogGroup"}),
//! )?;
//! engine.logs(&engine.default_scope()).create_log_group(request).await?;
//! # Ok(()) }
//! ```

pub mod alarms;
mod beside;
pub mod error;
pub mod format;
pub mod logs;
pub mod metrics;
mod paging;
pub mod replay;
pub mod scope;
pub mod store;
pub mod topics;
pub mod trails;

use std::path::PathBuf;
use std::sync::Arc;

use crate::scope::{Region, Regions, Scope};
use crate::store::{Store, Tx};

pub use crate::error::{ApiError, ErrorCode};
pub use crate::topics::policy::glob;
pub use crate::topics::{delivery_policy, endpoint, outbox};

/// Where the engine runs and what it calls itself.
#[derive(Debug, Clone)]
pub struct Config {
    /// The data directory holding the database.
    pub data_dir: PathBuf,
    /// The region of work that no request names one for (e.g. `us-east-1`); requests are
    /// served in the region they are signed for.
    pub region: &'static Region,
    /// The account of the first key, and of stores written before accounts were kept.
    pub account_id: String,
    /// The regions requests may be signed for.
    pub regions: Regions,
    /// The base URL subscribers reach us at, for `SubscribeURL`, `UnsubscribeURL` and
    /// `SigningCertURL` (e.g. `http://127.0.0.1:4566`).
    pub public_url: String,
    /// Which subscription endpoints may be contacted, beyond those never contacted.
    pub endpoint_policy: endpoint::EndpointPolicy,
}

impl Config {
    /// The defaults of `trailwatch serve`: `us-east-1`, account `000000000000`.
    pub fn new(data_dir: PathBuf, public_url: &str) -> Config {
        Config {
            data_dir,
            region: Region::named("us-east-1").expect("us-east-1 is a region"),
            account_id: "000000000000".into(),
            regions: Regions::all(),
            public_url: public_url.trim_end_matches('/').to_owned(),
            endpoint_policy: endpoint::EndpointPolicy::default(),
        }
    }
}

impl Config {
    /// The default account in the default region: where data written before stores kept
    /// scopes lives, and where work that spans scopes starts.
    pub fn home(&self) -> Scope {
        Scope::new(&self.account_id, self.region)
    }
}

/// The time source; replay will drive the engine on event time, tests on a fixed clock.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// A clock that moves only when told: for tests, and for replays on event time.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: std::sync::atomic::AtomicI64,
}

impl ManualClock {
    /// A clock showing `now_ms`.
    pub fn at(now_ms: i64) -> ManualClock {
        ManualClock {
            now_ms: std::sync::atomic::AtomicI64::new(now_ms),
        }
    }

    /// Sets the time.
    pub fn set(&self, now_ms: i64) {
        self.now_ms
            .store(now_ms, std::sync::atomic::Ordering::SeqCst);
    }

    /// Moves the time on by `ms`.
    pub fn advance(&self, ms: i64) {
        self.now_ms
            .fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The engine: the store, the compiled filter sets and the clock.
pub struct Engine {
    pub(crate) config: Arc<Config>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Each log group's metric filters compiled into one filter set, built on first use and
    /// dropped when the group's filters change.
    pub(crate) filter_sets: Arc<logs::FilterSets>,
    /// When each alarm next needs evaluating.
    pub(crate) alarm_schedule: Arc<alarms::Schedule>,
    /// Whether the buckets trails name exist; unchecked when unset.
    pub(crate) buckets: trails::Buckets,
    /// Signalled when a trail starts logging or changes, for the followers.
    pub(crate) trail_changes: Arc<tokio::sync::Notify>,
}

impl Engine {
    /// An engine keeping its data in `store`, on the wall clock.
    pub fn new(config: Config, store: Arc<dyn Store>) -> Engine {
        Engine::with_clock(config, store, Arc::new(SystemClock))
    }

    /// An engine on the given clock.
    pub fn with_clock(config: Config, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Engine {
        Engine {
            config: Arc::new(config),
            store,
            clock,
            filter_sets: Arc::default(),
            alarm_schedule: Arc::default(),
            buckets: None,
            trail_changes: Arc::default(),
        }
    }

    /// The engine checking the buckets trails name with `check`.
    pub fn with_bucket_check(mut self, check: Arc<dyn trails::BucketCheck>) -> Engine {
        self.buckets = Some(check);
        self
    }

    /// The engine's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The default account in the default region.
    pub fn default_scope(&self) -> Scope {
        self.config.home()
    }

    /// Milliseconds since the epoch on the engine's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Housekeeping: expired log events and confirmation tokens go, and messages for
    /// subscriptions that are gone are dropped.
    pub async fn housekeeping(&self) -> Result<(), ApiError> {
        // Separate writes: a failure of one does not undo the others.
        // Housekeeping spans scopes: it starts in any and takes each row's.
        let scope = self.default_scope();
        let expired = self
            .write(&scope, |tx, ctx| logs::expire_events(tx, ctx.now_ms))
            .await;
        if let Err(e) = self
            .write(&scope, |tx, ctx| Ok(tx.expire_tokens(ctx.now_ms)?))
            .await
        {
            tracing::error!(error = %e, "Cannot forget expired confirmation tokens.");
        }
        if let Err(e) = self
            .write(&scope, |tx, ctx| {
                Ok(tx.expire_history(ctx.now_ms - trails::HISTORY_MS)?)
            })
            .await
        {
            tracing::error!(error = %e, "Cannot forget events older than the event history.");
        }
        self.drop_orphaned_deliveries().await?;
        expired
    }

    /// Runs `work` in the next group transaction, in `scope`, with the context of now; answers
    /// once the transaction is durable.
    pub(crate) async fn write<R, F>(&self, scope: &Scope, work: F) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Tx, &Context) -> Result<R, ApiError> + Send + 'static,
    {
        let ctx = self.context();
        unbox(self.store.write(scope.clone(), boxed(work, ctx)).await)
    }

    /// Runs `work` on a consistent read-only view of the store, in `scope`.
    pub(crate) async fn read<R, F>(&self, scope: &Scope, work: F) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Tx, &Context) -> Result<R, ApiError> + Send + 'static,
    {
        let ctx = self.context();
        unbox(self.store.read(scope.clone(), boxed(work, ctx)).await)
    }

    pub(crate) fn context(&self) -> Context {
        Context {
            config: self.config.clone(),
            now_ms: self.clock.now_ms(),
            filter_sets: self.filter_sets.clone(),
            alarm_schedule: self.alarm_schedule.clone(),
        }
    }
}

/// The response of an operation without output members.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Empty {}

/// Work on a transaction, its answer boxed for [`Store`].
fn boxed<R, F>(work: F, ctx: Context) -> store::Work
where
    R: Send + 'static,
    F: FnOnce(&mut dyn Tx, &Context) -> Result<R, ApiError> + Send + 'static,
{
    Box::new(move |tx| work(tx, &ctx).map(|r| Box::new(r) as Box<dyn std::any::Any + Send>))
}

/// The answer of work boxed by [`boxed`].
fn unbox<R: 'static>(
    answer: Result<Box<dyn std::any::Any + Send>, ApiError>,
) -> Result<R, ApiError> {
    answer?
        .downcast::<R>()
        .map(|r| *r)
        .map_err(|_| ApiError::internal("a store answered with a value of another type"))
}

/// How a request reached the engine, where that changes what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    /// Through the API, which checks signatures (unless the operator turned that off).
    Signed,
    /// Through a link in a message, which anyone holding the message may visit.
    Unsigned,
}

/// What a write needs beyond its input: configuration and the time it runs at.
#[derive(Clone)]
pub(crate) struct Context {
    pub config: Arc<Config>,
    pub now_ms: i64,
    pub filter_sets: Arc<logs::FilterSets>,
    pub alarm_schedule: Arc<alarms::Schedule>,
}
