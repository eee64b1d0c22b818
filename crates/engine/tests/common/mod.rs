//! What the engine's in-process tests share: an engine on a SQLite store in a temporary
//! directory, on a manual clock.

use std::sync::Arc;

use engine::{Config, Engine, ManualClock};

/// A minute's start, so that periods line up with the clock's moves.
pub const START_MS: i64 = 1_800_000_000_000;

pub struct Fixture {
    pub engine: Engine,
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

/// An engine whose clock reads [`START_MS`] until the test moves it.
pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(ManualClock::at(START_MS));
    let store = store::SqliteStore::open(dir.path(), &Default::default()).expect("store");
    let engine = Engine::with_clock(
        Config::new(dir.path().to_path_buf(), "http://127.0.0.1:4566"),
        Arc::new(store),
        clock.clone(),
    );
    Fixture {
        engine,
        clock,
        _dir: dir,
    }
}
