//! trailwatch's storage: the engine's store traits ([`engine::store`]) implemented over one
//! SQLite file in the data directory.
//!
//! - `sqlite.rs`: the store: one writer thread committing writes in groups (each in its own
//!   savepoint, all answered once the one `COMMIT` is fsync'd), a reader connection beside it,
//!   and checkpoints on their own thread;
//! - `schema.rs`: the tables, and the upgrade of stores written by earlier versions;
//! - `logs.rs`, `blocks.rs`, `metrics.rs`, `alarms.rs`, `topics.rs`: each component's
//!   storage trait, log events kept a batch to a row (`blocks.rs`).
//!
//! ```no_run
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let config = engine::Config::new("./trailwatch-data".into(), "http://127.0.0.1:4566");
//! let store = store::SqliteStore::open(&config.data_dir, &config.home())?;
//! let engine = engine::Engine::new(config, Arc::new(store));
//! # Ok(()) }
//! ```

mod alarms;
mod blocks;
mod error;
mod logs;
mod metrics;
mod schema;
mod sqlite;
mod topics;
mod trails;

pub use schema::SCHEMA;
pub use sqlite::{Durability, OpenError, SqliteStore};
