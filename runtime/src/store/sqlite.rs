//! [`SqliteStore`]: sessions in a local SQLite file, which outlive a
//! restart of the service.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use sessionkit::store::Cleanup;
//! use sessionkit::{SessionLayer, SqliteStore};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqliteStore::open("sessions.db")?;
//! store.migrate().await?; // creates the table, once; a no-op afterwards
//! let cleanup = store.spawn_cleanup(Cleanup::default()); // keep it while serving
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(SessionLayer::new(store));
//! # drop(cleanup); Ok(()) }
//! ```
//!
//! # Table
//!
//! One table, `sessionkit_sessions` unless named with
//! [`SqliteStore::with_table`], created only by [`SqliteStore::migrate`]
//! (or by running [`SqliteStore::migration_sql`] yourself), never as a side
//! effect of a request:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS "sessionkit_sessions" (
//!     key TEXT PRIMARY KEY NOT NULL,    -- prefix + session id
//!     value BLOB NOT NULL,              -- the session's JSON object
//!     expires_at INTEGER NOT NULL,      -- milliseconds since the Unix epoch
//!     version INTEGER NOT NULL          -- the compare-and-set token
//! );
//! CREATE INDEX IF NOT EXISTS "sessionkit_sessions_expires_at"
//!     ON "sessionkit_sessions" (expires_at);
//! ```
//!
//! A plain (rowid) table, not `WITHOUT ROWID`: measured with 100,000
//! sessions, a `WITHOUT ROWID` table was no faster for sessions of 100
//! bytes, and for sessions of 1,000 bytes its loads took 1.7 times as long,
//! its saves 2.3 times, and its file was 3.3 times larger, as SQLite keeps
//! such rows in the key's b-tree, where large ones fit badly. The index on
//! `expires_at` serves the cleanup task only.
//!
//! `expires_at` is read from the clock of the process that writes it, so
//! several processes sharing a file need clocks in step. A query on a file
//! without the table fails with a permanent error that says to call
//! `migrate()` ([`SqliteStoreError::MissingTable`]).
//!
//! # Statements
//!
//! Each store call runs on one pooled connection, and is one statement
//! except the conditional save of a loaded session (two, in one
//! transaction). Statements are prepared once per connection
//! (`prepare_cached`):
//!
//! | call | statement |
//! |---|---|
//! | `load`, `load_versioned` | `UPDATE … SET expires_at = now + ttl WHERE key = ? AND expires_at > now RETURNING value, version` (reads and slides the expiry at once) |
//! | `save` | `INSERT … ON CONFLICT(key) DO UPDATE SET value, expires_at, version = version + 1` |
//! | `save_if`, new session | the same `INSERT … ON CONFLICT … DO UPDATE … WHERE expires_at <= now RETURNING version`: writes over an expired leftover, answers `Exists` over a live row |
//! | `save_if`, loaded session | `BEGIN IMMEDIATE`, `UPDATE … WHERE key = ? AND version = ? AND expires_at > now RETURNING version`; when no row matched, `SELECT value, version` to answer `Changed` or `Gone`; `COMMIT` |
//! | `delete` | `DELETE … WHERE key = ?` |
//! | `ping` | `BEGIN IMMEDIATE`, `SELECT 1 FROM <table> LIMIT 0`, `ROLLBACK` (checks the file, the table and the write lock; reads and writes no row) |
//!
//! An expired row is never returned: every statement compares `expires_at`
//! with the clock. A new row's version starts at a random 48-bit number
//! and grows by one with each write, so a session deleted and written
//! again under the same key does not come back with a version a request
//! loaded before the delete. A loaded session saved with no version
//! compares the stored bytes instead.
//!
//! # WAL
//!
//! Every connection sets `journal_mode=WAL` (kept in the file) and
//! `synchronous=NORMAL`: readers never wait for the writer, and a commit
//! costs no `fsync` (the WAL is synced at checkpoints). A commit survives a
//! crash of the process; a power loss can lose the last commits before a
//! checkpoint, never corrupt the file. The file needs a local file system
//! (WAL's shared memory does not work over a network file system), and
//! the `-wal` and `-shm` files next to it belong to it. SQLite copies the
//! WAL back into the file whenever it passes 1000 pages (about 4 MB), so
//! it stays about that size however many requests come.
//!
//! SQLite lets one connection write at a time, and every load is a write
//! (it slides the expiry). A connection that finds the write lock taken
//! waits for it (`busy_timeout`) for as long as the call's timeout has
//! left.
//!
//! # Cleanup
//!
//! Expired rows are not returned, but stay in the file until
//! [`SqliteStore::delete_expired`] removes them. [`SqliteStore::spawn_cleanup`]
//! runs it in the background: every [`Cleanup::interval`] it deletes
//! batches of [`Cleanup::batch`] rows, [`Cleanup::pause`] apart, until a
//! batch finds fewer, each batch one short statement
//! (`DELETE … WHERE key IN (SELECT key … WHERE expires_at <= now LIMIT batch)`),
//! so requests get the write lock between two batches. Run the task in one
//! process per file; running it in several is harmless, only wasted work.
//!
//! # Failures
//!
//! Every call is bounded by a timeout ([`SqliteStore::DEFAULT_TIMEOUT`], set
//! with [`SqliteStore::with_timeout`]) covering the wait for a pooled
//! connection and the statement, waits for the write lock included. A
//! failure becomes a [`StoreError`] whose source is a [`SqliteStoreError`],
//! of the same [class](SqliteStoreError::class): transient (`503 Service
//! Unavailable` with `Retry-After` by default) when the database is locked
//! by another connection (`SQLITE_BUSY`, `SQLITE_LOCKED`) or the call ran out
//! of time; permanent (`500` by default) when retrying cannot help: a
//! missing table, a corrupt, read-only or full file, a value over the size
//! limit. No error message holds a session id.
//!
//! A connection is opened when the pool needs one; one that fails to open
//! or configure is not kept, and a connection is checked before reuse. A
//! transaction that fails is rolled back before its connection goes back to
//! the pool. So when the cause of a failure goes away (a lock released, a
//! file that was not a database replaced by the database), requests
//! succeed again without rebuilding the store.
//!
//! # No owner indexes
//!
//! The store keeps no owner indexes: [`SessionStore::owner_index`] is
//! `false`, and `index_add`, `index_remove` and `index_list` fail with a
//! permanent error.

mod error;
mod sql;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_sqlite::{Hook, HookError, Pool, PoolError, Runtime};
use rusqlite::{params, TransactionBehavior};

pub use self::error::SqliteStoreError;
use self::sql::{
    check_table, configure, expiry, now_ms, returning, stored, version, write_if_loaded, Loaded,
    Sql,
};
use super::cleanup::{self, Cleanup, CleanupTask};
use super::{Expect, SaveOutcome, SessionStore, StoreFuture, Stored};
use crate::StoreError;

/// The `rusqlite` crate this store is built on (with SQLite compiled in),
/// to read the [`rusqlite::Error`] a [`SqliteStoreError`] holds.
pub use rusqlite;

/// A session store in a SQLite file.
///
/// Cloning is cheap; clones share the connection pool. See the
/// [module docs](self) for the table, the statements each call runs, and
/// how it fails.
#[derive(Clone)]
pub struct SqliteStore {
    pool: Pool,
    path: Arc<Path>,
    sql: Arc<Sql>,
    timeout: Duration,
    max_value_size: usize,
}

impl SqliteStore {
    /// How long a store call may take by default: 1 second.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

    /// The largest encoded session a save writes, by default: 64 KiB.
    ///
    /// Every request that uses a session reads it whole, and every one
    /// that changes it writes it whole, under the database's one write
    /// lock; real sessions are well under a kilobyte, so this leaves ample
    /// room while stopping a runaway session before it slows every request.
    pub const DEFAULT_MAX_VALUE_SIZE: usize = 64 * 1024;

    /// How many connections the pool keeps at most by default: 4.
    ///
    /// SQLite runs one write at a time, and every request that uses a
    /// session writes (a load slides the expiry), so the connections take
    /// turns at the write lock whatever their number. More than one still
    /// pays: each call also waits for a blocking thread, checks its
    /// connection before use and copies its result out, which other
    /// connections do meanwhile. Too many, and calls queue on the lock in
    /// SQLite's busy handler, which sleeps (1, 2, 5, 10 … ms) instead of
    /// being woken when the lock is free, so the slowest requests get
    /// slower. Measured over HTTP with 32 and 64 logged-in clients
    /// alternating a read and a write of their session, on a shared 2-core
    /// machine (release build, client and server on the same cores; two
    /// runs each):
    ///
    /// | connections | requests/s | 99th percentile | slowest |
    /// |---|---|---|---|
    /// | 1 | 3,500 to 5,500 | 13 to 40 ms | 18 to 44 ms |
    /// | 2 | 5,300 to 5,800 | 12 to 42 ms | 27 to 63 ms |
    /// | 4 | 6,200 to 6,500 | 12 to 29 ms | 50 to 115 ms |
    /// | 8 | 6,100 to 6,800 | 17 to 25 ms | 86 to 340 ms |
    /// | 16 (64 clients) | 6,500 to 6,600 | 40 to 42 ms | 235 to 242 ms |
    ///
    /// Four serve about as many requests as more, with a 99th percentile
    /// close to the lowest, and a slowest request well below eight's or sixteen's;
    /// one connection has the shortest worst case but serves the fewest.
    /// Change it with [`with_pool_size`](Self::with_pool_size).
    pub const DEFAULT_POOL_SIZE: usize = 4;

    /// The default table name.
    pub const DEFAULT_TABLE: &'static str = "sessionkit_sessions";

    /// Opens the SQLite file at `path`, creating it if it is missing, and
    /// switches it to WAL journaling. The session table is not created: call
    /// [`migrate`](Self::migrate) once (it is a no-op when the table
    /// exists).
    ///
    /// ```no_run
    /// use sessionkit::SqliteStore;
    ///
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqliteStore::open("/var/lib/myapp/sessions.db")?;
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// Needs no tokio runtime; the pool's connections are opened by the
    /// first requests.
    ///
    /// # Errors
    ///
    /// [`SqliteStoreError::Sqlite`] (operation `open`) when the file cannot
    /// be opened or created, is not a database, or cannot be switched to WAL
    /// (`:memory:`, or a file system without shared memory).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SqliteStoreError> {
        let path: Arc<Path> = path.as_ref().into();
        let opened = rusqlite::Connection::open(&path)
            .and_then(|connection| configure(&connection, Self::DEFAULT_TIMEOUT));
        opened.map_err(|source| SqliteStoreError::Sqlite {
            operation: "open",
            source,
        })?;
        let pool = deadpool_sqlite::Config::new(PathBuf::from(&*path))
            .builder(Runtime::Tokio1)
            .unwrap_or_else(|never| match never {})
            .max_size(Self::DEFAULT_POOL_SIZE)
            .post_create(Hook::async_fn(|connection, _| {
                Box::pin(async move {
                    connection
                        .interact(|c| configure(c, Self::DEFAULT_TIMEOUT))
                        .await
                        .map_err(|e| HookError::message(format!("configuring failed: {e}")))?
                        .map_err(HookError::Backend)
                })
            }))
            .build()
            .expect("a pool without timeouts builds");
        Ok(SqliteStore {
            pool,
            path,
            sql: Arc::new(Sql::new(Self::DEFAULT_TABLE)),
            timeout: Self::DEFAULT_TIMEOUT,
            max_value_size: Self::DEFAULT_MAX_VALUE_SIZE,
        })
    }

    /// Keeps sessions in the table `name` instead of
    /// [`DEFAULT_TABLE`](Self::DEFAULT_TABLE), for example to keep two
    /// services' sessions apart in one file. Its index is `name` +
    /// `_expires_at`.
    ///
    /// ```no_run
    /// use sessionkit::SqliteStore;
    ///
    /// # fn main() -> Result<(), sessionkit::store::sqlite::SqliteStoreError> {
    /// let store = SqliteStore::open("app.db")?.with_table("admin_sessions")?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`SqliteStoreError::InvalidTable`] unless `name` is an ASCII letter
    /// or `_` followed by ASCII letters, digits and `_`, at most 64 of them,
    /// not starting with `sqlite_` (SQLite's own).
    pub fn with_table(mut self, name: &str) -> Result<Self, SqliteStoreError> {
        check_table(name)?;
        self.sql = Arc::new(Sql::new(name));
        Ok(self)
    }

    /// Bounds each store call (waiting for a pooled connection, waiting for
    /// the write lock, running the statement) to `timeout`. Default:
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT).
    ///
    /// A call that runs out of time fails with a transient error (a 503
    /// from the layer by default) rather than hold the request while
    /// another process keeps the database locked.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use sessionkit::SqliteStore;
    ///
    /// # fn main() -> Result<(), sessionkit::store::sqlite::SqliteStoreError> {
    /// let store = SqliteStore::open("sessions.db")?.with_timeout(Duration::from_millis(250));
    /// # Ok(()) }
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest encoded session, in bytes, a save writes. Default:
    /// [`DEFAULT_MAX_VALUE_SIZE`](Self::DEFAULT_MAX_VALUE_SIZE).
    ///
    /// A larger save fails with [`SqliteStoreError::ValueTooLarge`], a
    /// permanent error, before the database is touched, so the stored
    /// session stays as it was; the layer, told the limit by
    /// [`SessionStore::max_value_size`], refuses such a session itself.
    ///
    /// ```no_run
    /// use sessionkit::SqliteStore;
    ///
    /// # fn main() -> Result<(), sessionkit::store::sqlite::SqliteStoreError> {
    /// let store = SqliteStore::open("sessions.db")?.with_max_value_size(16 * 1024);
    /// # Ok(()) }
    /// ```
    pub fn with_max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }

    /// Keeps at most `connections` connections open (at least 1). Default:
    /// [`DEFAULT_POOL_SIZE`](Self::DEFAULT_POOL_SIZE), which says why more
    /// rarely help. Applies to every clone of this store.
    ///
    /// ```no_run
    /// use sessionkit::SqliteStore;
    ///
    /// # fn main() -> Result<(), sessionkit::store::sqlite::SqliteStoreError> {
    /// let store = SqliteStore::open("sessions.db")?.with_pool_size(1);
    /// # Ok(()) }
    /// ```
    pub fn with_pool_size(self, connections: usize) -> Self {
        self.pool.resize(connections.max(1));
        self
    }

    /// The file the store keeps its sessions in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The name of the session table.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// The timeout of each store call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The largest encoded session, in bytes, a save writes.
    pub fn max_value_size(&self) -> usize {
        self.max_value_size
    }

    /// The most connections the pool keeps.
    pub fn pool_size(&self) -> usize {
        self.pool.status().max_size
    }

    /// The SQL that creates the session table and its index if they do not
    /// exist, as [`migrate`](Self::migrate) runs it: to review it, or to run
    /// it with the tool that manages the file's schema.
    ///
    /// ```no_run
    /// use sessionkit::SqliteStore;
    ///
    /// # fn main() -> Result<(), sessionkit::store::sqlite::SqliteStoreError> {
    /// println!("{}", SqliteStore::open("sessions.db")?.migration_sql());
    /// # Ok(()) }
    /// ```
    pub fn migration_sql(&self) -> String {
        self.sql.migration.clone()
    }

    /// Creates the session table and its index if they do not exist
    /// ([`migration_sql`](Self::migration_sql)); running it again changes
    /// nothing. The store never creates them otherwise.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] whose source is a [`SqliteStoreError`]: the file is
    /// read-only, locked for longer than the timeout, or not a database.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.run("migrate", |c, sql| c.execute_batch(&sql.migration))
            .await?;
        Ok(())
    }

    /// Deletes at most `batch` expired rows, in one statement, and answers
    /// how many it deleted. [`spawn_cleanup`](Self::spawn_cleanup) calls it
    /// in batches until none are left.
    ///
    /// ```no_run
    /// # async fn demo(store: sessionkit::SqliteStore) -> Result<(), sessionkit::StoreError> {
    /// while store.delete_expired(1000).await? == 1000 {}
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`StoreError`] whose source is a [`SqliteStoreError`].
    pub async fn delete_expired(&self, batch: usize) -> Result<u64, StoreError> {
        let batch = i64::try_from(batch).unwrap_or(i64::MAX);
        let deleted = self
            .run("delete_expired", move |c, sql| {
                c.prepare_cached(&sql.delete_expired)?
                    .execute(params![now_ms(), batch])
            })
            .await?;
        Ok(deleted as u64)
    }

    /// Starts the task that removes expired rows, on the current tokio
    /// runtime: see [`Cleanup`] for its knobs and the
    /// [module docs](self#cleanup) for what it runs. It stops when the
    /// returned handle is dropped, so keep the handle for as long as the
    /// store serves.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use sessionkit::store::Cleanup;
    ///
    /// # async fn demo(store: sessionkit::SqliteStore) {
    /// let cleanup = store.spawn_cleanup(Cleanup::default().with_interval(Duration::from_secs(300)));
    /// // ... serve ...
    /// cleanup.stop();
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn spawn_cleanup(&self, cleanup: Cleanup) -> CleanupTask {
        let store = self.clone();
        cleanup::spawn("sqlite", cleanup, move |batch| {
            let store = store.clone();
            async move { store.delete_expired(batch).await }
        })
    }

    /// Runs `work` on a pooled connection, off the async threads, within
    /// the store's timeout: SQLite waits for a lock at most until the
    /// deadline, and the call gives up there even if SQLite has not.
    async fn run<T, F>(&self, operation: &'static str, work: F) -> Result<T, SqliteStoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection, &Sql) -> rusqlite::Result<T> + Send + 'static,
    {
        let deadline = Instant::now() + self.timeout;
        let table = &self.sql.table;
        let call = async {
            let connection = self
                .pool
                .get()
                .await
                .map_err(|e| pool_error(operation, self.timeout, e))?;
            let sql = self.sql.clone();
            connection
                .interact(move |c| {
                    c.busy_timeout(deadline.saturating_duration_since(Instant::now()))?;
                    work(c, &sql)
                })
                .await
                .map_err(|e| SqliteStoreError::Pool {
                    operation,
                    detail: format!("the work on the connection failed: {e}"),
                })?
                .map_err(|e| SqliteStoreError::from_sqlite(operation, table, e))
        };
        match tokio::time::timeout_at(deadline.into(), call).await {
            Ok(result) => result,
            Err(_elapsed) => Err(SqliteStoreError::Timeout {
                operation,
                timeout: self.timeout,
            }),
        }
    }

    /// Refuses a value over the maximum, before any I/O.
    fn check_size(&self, value: &[u8]) -> Result<(), SqliteStoreError> {
        if value.len() > self.max_value_size {
            return Err(SqliteStoreError::ValueTooLarge {
                size: value.len(),
                max: self.max_value_size,
            });
        }
        Ok(())
    }
}

/// The error of a failed checkout.
fn pool_error(operation: &'static str, timeout: Duration, error: PoolError) -> SqliteStoreError {
    match error {
        PoolError::Backend(source) | PoolError::PostCreateHook(HookError::Backend(source)) => {
            SqliteStoreError::Sqlite {
                operation: "open",
                source,
            }
        }
        PoolError::Timeout(_) => SqliteStoreError::Timeout { operation, timeout },
        PoolError::PostCreateHook(HookError::Message(detail)) => SqliteStoreError::Pool {
            operation,
            detail: detail.into_owned(),
        },
        other => SqliteStoreError::Pool {
            operation,
            detail: other.to_string(),
        },
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("table", &self.sql.table)
            .field("timeout", &self.timeout)
            .field("pool_size", &self.pool_size())
            .field("max_value_size", &self.max_value_size)
            .finish()
    }
}

impl SessionStore for SqliteStore {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.load_versioned(key, ttl)
            .map(|found| found.map(|stored| stored.value))
    }

    fn load_versioned<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Option<Stored>> {
        let key = key.to_owned();
        StoreFuture::new(async move {
            let found = self
                .run("load", move |c, sql| {
                    let now = now_ms();
                    let mut load = c.prepare_cached(&sql.load)?;
                    returning(&mut load, params![key, expiry(now, ttl), now], stored)
                })
                .await?;
            Ok(found)
        })
    }

    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        StoreFuture::new(async move {
            self.check_size(value)?;
            let (key, value) = (key.to_owned(), value.to_vec());
            self.run("save", move |c, sql| {
                c.prepare_cached(&sql.save)?
                    .execute(params![key, value, expiry(now_ms(), ttl)])
            })
            .await?;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        let key = key.to_owned();
        StoreFuture::new(async move {
            self.run("delete", move |c, sql| {
                c.prepare_cached(&sql.delete)?.execute(params![key])
            })
            .await?;
            Ok(())
        })
    }

    fn save_if<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
        expect: Expect<'a>,
    ) -> StoreFuture<'a, SaveOutcome> {
        StoreFuture::new(async move {
            self.check_size(value)?;
            let (key, value) = (key.to_owned(), value.to_vec());
            let outcome = match expect {
                Expect::Absent => {
                    self.run("save_if", move |c, sql| {
                        let now = now_ms();
                        let mut create = c.prepare_cached(&sql.create)?;
                        let params = params![key, value, expiry(now, ttl), now];
                        let saved: Option<i64> = returning(&mut create, params, |row| row.get(0))?;
                        Ok(match saved {
                            Some(saved) => SaveOutcome::Saved {
                                version: Some(version(saved)),
                            },
                            None => SaveOutcome::Exists,
                        })
                    })
                    .await?
                }
                Expect::Loaded {
                    value: loaded,
                    version: loaded_version,
                } => {
                    let loaded = match loaded_version {
                        Some(v) => Loaded::Version(v as i64),
                        None => Loaded::Value(loaded.to_vec()),
                    };
                    self.run("save_if", move |c, sql| {
                        write_if_loaded(c, sql, &key, &value, ttl, loaded)
                    })
                    .await?
                }
            };
            Ok(outcome)
        })
    }

    fn compare_and_set(&self) -> bool {
        true
    }

    fn max_value_size(&self) -> Option<usize> {
        Some(self.max_value_size)
    }

    fn name(&self) -> &'static str {
        "sqlite"
    }

    /// Takes the write lock (`BEGIN IMMEDIATE`), runs
    /// `SELECT 1 FROM <table> LIMIT 0`, and rolls back: the file opens, is
    /// a database, holds the table, and a load could write now (every load
    /// slides an expiry). Nothing is read or written.
    fn ping(&self) -> StoreFuture<'_, ()> {
        StoreFuture::new(async move {
            self.run("ping", |c, sql| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.prepare_cached(&sql.ping)?.query([])?.next()?;
                tx.rollback()
            })
            .await?;
            Ok(())
        })
    }
}
