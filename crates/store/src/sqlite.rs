//! The embedded store: one SQLite file in the data directory.
//!
//! Writes go through one writer thread that commits in groups: every write waiting when a
//! transaction starts joins it, each inside its own savepoint (so a failing write is undone
//! alone), and all of them learn their result only after the one `COMMIT` has been fsync'd
//! (WAL, `synchronous=FULL`). A caller therefore never hears "accepted" for data a crash could
//! lose, and many concurrent writers share one fsync. Reads use their own connection; WAL lets
//! them run beside the writer.

use std::any::Any;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use engine::ApiError;
use engine::scope::{Region, Scope};
use engine::store::{BoxFuture, Store, Tx, Work};
use rusqlite::Connection;
use tokio::sync::{Notify, oneshot};

/// A transaction on one of the store's connections, in one scope at a time.
pub(crate) struct SqliteTx<'c> {
    pub(crate) conn: &'c Connection,
    /// Set when the transaction queued outbox messages.
    queued: &'c AtomicBool,
    scope: Scope,
    /// The scope as its rows hold it (see [`scope_key`]).
    pub(crate) scope_key: String,
    /// Scopes whose `event_history_scopes` row this transaction has written, so that a
    /// delivery of many events writes it once; forgotten when a job is rolled back.
    pub(crate) history_scopes: Vec<String>,
}

/// A scope as the `scope` column of a table holds it: `<account>:<region>`.
pub(crate) fn scope_key(scope: &Scope) -> String {
    format!("{}:{}", scope.account(), scope.region_name())
}

/// The scope of a `scope` column; `None` for a region no partition lists any more.
pub(crate) fn scope_of_key(key: &str) -> Option<Scope> {
    let (account, region) = key.split_once(':')?;
    Some(Scope::new(account, Region::named(region)?))
}

impl<'c> SqliteTx<'c> {
    /// What the ARNs of this scope's topics and subscriptions start with.
    pub(crate) fn sns_prefix(&self) -> String {
        self.scope.arn("sns", "")
    }

    /// What the ARNs of every account's topics in this scope's region start with.
    pub(crate) fn sns_region_prefix(&self) -> String {
        let region = self.scope.region();
        format!("arn:{}:sns:{}:", region.partition.id, region.name)
    }

    fn new(conn: &'c Connection, queued: &'c AtomicBool, scope: Scope) -> SqliteTx<'c> {
        SqliteTx {
            conn,
            queued,
            scope_key: scope_key(&scope),
            scope,
            history_scopes: Vec::new(),
        }
    }

    /// Whether this transaction queued outbox messages.
    fn take_queued(&self) -> bool {
        self.queued.swap(false, Ordering::AcqRel)
    }
}

impl Tx for SqliteTx<'_> {
    fn scope(&self) -> &Scope {
        &self.scope
    }

    fn enter(&mut self, scope: &Scope) {
        if *scope != self.scope {
            self.scope = scope.clone();
            self.scope_key = scope_key(scope);
        }
    }

    fn outbox_queued(&mut self) {
        self.queued.store(true, Ordering::Release);
    }
}

/// The most writes one transaction takes, so one commit never waits on an unbounded queue.
const MAX_GROUP: usize = 512;

/// A write's work and where its answer goes.
trait Job: Send {
    /// Runs the write inside its savepoint; `false` means it failed and must be undone.
    fn run(&mut self, tx: &mut SqliteTx<'_>) -> bool;
    /// Delivers the answer once the transaction's fate is known.
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct TypedJob<R, F> {
    scope: Scope,
    work: Option<F>,
    result: Option<Result<R, ApiError>>,
    reply: oneshot::Sender<Result<R, ApiError>>,
}

impl<R, F> Job for TypedJob<R, F>
where
    R: Send,
    F: FnOnce(&mut dyn Tx) -> Result<R, ApiError> + Send,
{
    fn run(&mut self, tx: &mut SqliteTx<'_>) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        tx.enter(&self.scope);
        // A bug in one write must not stop the writer every later write depends on: the
        // write fails alone (its savepoint is rolled back) and the writer goes on.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(tx)))
            .unwrap_or_else(|_| Err(ApiError::internal("a write panicked")));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let answer = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            // A write that failed on its own keeps its own error even if the group failed.
            (Err(_), Some(Err(e))) => Err(e),
            (Err(reason), _) => Err(ApiError::internal(format!("commit failed: {reason}"))),
            (Ok(()), None) => Err(ApiError::internal("write did not run")),
        };
        // The caller may have gone away (a dropped request); the write stands regardless.
        let _ = self.reply.send(answer);
    }
}

/// The SQLite store: one file, one writer committing in groups, one reader.
pub struct SqliteStore {
    jobs: Mutex<mpsc::Sender<Box<dyn Job>>>,
    reader: Arc<Mutex<Connection>>,
    /// Signalled after a commit that queued outbox rows.
    outbox: Arc<Notify>,
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// SQLite refused to open or set up the database.
    #[error("cannot open the database {path}: {source}")]
    Open {
        /// The database file.
        path: String,
        /// SQLite's reason.
        source: rusqlite::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the database writer: {0}")]
    Thread(std::io::Error),
}

/// Whether a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A commit is on disk (the WAL fsync'd) before it returns: the server's store.
    Durable,
    /// Commits are left to the operating system: a store that is thrown away after use, such
    /// as a replay's, where a crash loses nothing worth keeping.
    Scratch,
}

/// The writer's page cache at most, in KiB. A trail delivery's commit (up to 64 objects, some
/// 16 MB of events) touches more pages than SQLite's default 2 MB holds, and pages were written
/// out mid-transaction and read back; the cache fills only as it is used.
const WRITER_CACHE_KIB: i64 = 64 * 1024;

fn open_connection(path: &Path, durability: Durability) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let synchronous = match durability {
        Durability::Durable => "FULL",
        Durability::Scratch => "OFF",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) `trailwatch.db` in `dir`, bringing a store written by an
    /// earlier version up to date, and starts the writer thread.
    ///
    /// `home` is the scope of data written before stores kept scopes (see
    /// [`crate::schema::upgrade_scopes`]).
    pub fn open(dir: &Path, home: &Scope) -> Result<SqliteStore, OpenError> {
        SqliteStore::open_with(dir, home, Durability::Durable)
    }

    /// [`SqliteStore::open`] with the given durability.
    pub fn open_with(
        dir: &Path,
        home: &Scope,
        durability: Durability,
    ) -> Result<SqliteStore, OpenError> {
        let path = dir.join("trailwatch.db");
        let err = |source| OpenError::Open {
            path: path.display().to_string(),
            source,
        };
        let mut writer = open_connection(&path, durability).map_err(err)?;
        writer
            .pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
            .map_err(err)?;
        let old_scope = crate::schema::upgrade_scopes(&writer, home).map_err(err)?;
        // One transaction: one write of the new pages rather than one for each statement. It
        // takes the write lock at once, so that another process opening the same store waits
        // for it (busy timeout) rather than failing when this one's reads turn into writes.
        let schema = writer
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        schema.execute_batch(crate::schema::SCHEMA).map_err(err)?;
        crate::schema::upgrade(&schema).map_err(err)?;
        schema.commit().map_err(err)?;
        let old_scope = old_scope.unwrap_or_else(|| scope_key(home));
        crate::blocks::migrate_rows(&writer, &old_scope).map_err(err)?;
        crate::trails::migrate_rows(&writer).map_err(err)?;
        // Checkpoints (copying the WAL into the database file) run on their own thread, so
        // the writer spends its time on writes; the WAL may grow meanwhile, which is what it
        // is for.
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(err)?;
        let checkpointer = open_connection(&path, durability).map_err(err)?;
        std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer))
            .map_err(OpenError::Thread)?;
        let reader = open_connection(&path, durability).map_err(err)?;
        // Reads never write: a read that tried would be a bug, and fails instead.
        reader
            .pragma_update(None, "query_only", true)
            .map_err(err)?;
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let outbox = Arc::new(Notify::new());
        let signal = outbox.clone();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn({
                let home = home.clone();
                move || writer_loop(writer, rx, signal, home)
            })
            .map_err(OpenError::Thread)?;
        Ok(SqliteStore {
            jobs: Mutex::new(tx),
            reader: Arc::new(Mutex::new(reader)),
            outbox,
        })
    }

    /// Runs `work` in the next group transaction and answers after the commit is durable.
    async fn write_job<R, F>(&self, scope: Scope, work: F) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<R, ApiError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(TypedJob {
            scope,
            work: Some(work),
            result: None,
            reply,
        });
        {
            let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            jobs.send(job)
                .map_err(|_| ApiError::internal("the database writer has stopped"))?;
        }
        answer
            .await
            .map_err(|_| ApiError::internal("the database writer has stopped"))?
    }

    /// Runs a read on the reader connection, off the async threads.
    async fn read_job<R, F>(&self, scope: Scope, work: F) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<R, ApiError> + Send + 'static,
    {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().unwrap_or_else(|p| p.into_inner());
            let unused = AtomicBool::new(false);
            work(&mut SqliteTx::new(&conn, &unused, scope))
        })
        .await
        .map_err(|e| ApiError::internal(format!("read task failed: {e}")))?
    }
}

impl Store for SqliteStore {
    fn write(
        &self,
        scope: Scope,
        work: Work,
    ) -> BoxFuture<'_, Result<Box<dyn Any + Send>, ApiError>> {
        Box::pin(self.write_job(scope, work))
    }

    fn read(
        &self,
        scope: Scope,
        work: Work,
    ) -> BoxFuture<'_, Result<Box<dyn Any + Send>, ApiError>> {
        Box::pin(self.read_job(scope, work))
    }

    fn outbox_signal(&self) -> Arc<Notify> {
        self.outbox.clone()
    }

    fn encode_events(&self, events: &mut dyn Iterator<Item = (i64, &str)>) -> Vec<u8> {
        crate::blocks::pack(events)
    }

    fn encode_history(
        &self,
        events: &mut dyn Iterator<Item = engine::trails::HistoryAttributes<'_>>,
    ) -> Vec<u8> {
        crate::trails::encode_history(events)
    }
}

/// How often the WAL is copied into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// A WAL longer than this many pages (32 MiB) is restarted even if that briefly holds up
/// the writer: under constant load a passive checkpoint may never find a moment to do so.
const WAL_RESTART_PAGES: i64 = 8_192;

fn checkpoint_loop(conn: Connection) {
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        // PASSIVE: copies what no reader still needs, never blocks the writer. A failure is
        // retried on the next round; the WAL keeps everything until then.
        let log_pages =
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1));
        match log_pages {
            Ok(pages) if pages > WAL_RESTART_PAGES => {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL restart failed.");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed."),
        }
    }
}

fn writer_loop(
    conn: Connection,
    rx: mpsc::Receiver<Box<dyn Job>>,
    signal: Arc<Notify>,
    home: Scope,
) {
    let dirty = AtomicBool::new(false);
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        // Each job enters its own scope before it runs.
        let mut tx = SqliteTx::new(&conn, &dirty, home.clone());
        let committed = run_group(&mut tx, &mut group);
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        let queued = tx.take_queued();
        for job in group {
            job.finish(committed.clone());
        }
        if queued && committed.is_ok() {
            signal.notify_one();
        }
    }
}

fn run_group(tx: &mut SqliteTx<'_>, group: &mut [Box<dyn Job>]) -> Result<(), String> {
    let conn = tx.conn;
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| e.to_string())?;
    for job in group.iter_mut() {
        conn.execute_batch("SAVEPOINT job")
            .map_err(|e| e.to_string())?;
        if job.run(tx) {
            conn.execute_batch("RELEASE job")
                .map_err(|e| e.to_string())?;
        } else {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")
                .map_err(|e| e.to_string())?;
            tx.history_scopes.clear();
        }
    }
    conn.execute_batch("COMMIT").map_err(|e| e.to_string())
}
