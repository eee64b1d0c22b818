//! SQLite's failures as the engine's storage errors.

use engine::store::StorageError;

/// A failure of SQLite, for the engine.
pub(crate) fn storage(e: rusqlite::Error) -> StorageError {
    StorageError(e.to_string())
}
