//! [`PostgresStore`]: sessions in a PostgreSQL table.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use sessionkit::store::Cleanup;
//! use sessionkit::{PostgresStore, SessionLayer};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let store = PostgresStore::new("postgres://app@127.0.0.1:5432/app")?;
//! store.migrate().await?; // creates the table once; a no-op afterwards
//! let cleanup = store.spawn_cleanup(Cleanup::default()); // keep it alive
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(SessionLayer::new(store));
//! # drop(cleanup);
//! # Ok(()) }
//! ```
//!
//! # Table
//!
//! One row per session, in the table `sessionkit_sessions` unless named
//! with [`PostgresStore::with_table`]:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS "sessionkit_sessions" (
//!     key text PRIMARY KEY,
//!     value bytea NOT NULL,
//!     expires_at timestamptz NOT NULL,
//!     version bigint NOT NULL
//! );
//! CREATE INDEX IF NOT EXISTS "sessionkit_sessions_expires_at_idx"
//!     ON "sessionkit_sessions" (expires_at);
//! ```
//!
//! The store never creates it by itself: call [`PostgresStore::migrate`]
//! once at startup (idempotent, and safe to run from several processes at
//! once), or run [`PostgresStore::migration_sql`] with your own migrations.
//! A store whose table is missing fails every call with a
//! [permanent](crate::ErrorClass::Permanent) error,
//! [`PostgresStoreError::MissingTable`], that says so.
//!
//! `value` holds the session's JSON object as the layer encoded it;
//! `version` counts the writes of the row, so a conditional save compares
//! one number instead of the bytes. A new row's version starts at a random
//! 48-bit number, so a session deleted and written again under the same
//! key does not come back with a version a request loaded before the
//! delete.
//!
//! # Statements
//!
//! Every call is one statement, so one round trip, except a conditional
//! save that loses a race. Expiry is always the server's clock (`now()`);
//! a time to live is sent in milliseconds (`now() + $n * interval '1
//! millisecond'`), so the application's clock does not matter. An expired
//! row is never returned: every statement compares `expires_at` with
//! `now()`, whether the cleanup task has removed it yet or not.
//!
//! | call | statement |
//! |---|---|
//! | `load`, `load_versioned` | `UPDATE … SET expires_at = now() + ttl WHERE key = $1 AND expires_at > now() RETURNING value, version` (reads and slides the expiry at once) |
//! | `save` | `INSERT … ON CONFLICT (key) DO UPDATE SET value, expires_at, version = version + 1` |
//! | `save_if`, new session | the same `INSERT`, but the update only `WHERE t.expires_at <= now()` (an expired leftover counts as absent), `RETURNING version`: a row is `Saved`, none `Exists` |
//! | `save_if`, loaded session | `UPDATE … SET value, expires_at, version = version + 1 WHERE key = $1 AND version = $4 AND expires_at > now() RETURNING version` |
//! | `delete` | `DELETE … WHERE key = $1` |
//! | `ping` | `SELECT 1` |
//!
//! A conditional update that matches no row costs a second statement,
//! `SELECT value, version … WHERE key = $1 AND expires_at > now()`: a row
//! is what the other writer left (`Changed`, which the layer merges and
//! saves again), none means the session was ended (`Gone`). Both
//! statements run in autocommit; the update is atomic on its own (a
//! concurrent writer of the same row waits for it, then checks the version
//! again), and the select only tells what to merge with, so no transaction
//! needs to span the two.
//!
//! Per request, as counted by the tests (`pg_stat_statements`):
//!
//! | request | statements |
//! |---|---|
//! | new visitor that writes | 1 (the `INSERT`) |
//! | read-only | 1 (the load's `UPDATE`) |
//! | read and write | 2 (the load, the conditional `UPDATE`) |
//! | login (`cycle_id`) and write | 3 (the load, the `INSERT` under the new id, the `DELETE` of the old) |
//! | logout (`destroy`) | 2 (the load, the `DELETE`) |
//! | no session extracted, or a new visitor that writes nothing | 0 |
//!
//! All statements are built once, when the store (or its table) is set,
//! and prepared once per connection (`prepare_cached`).
//!
//! A load writes the row (its new expiry), so a read-only request costs a
//! row version like any update; autovacuum reclaims them.
//!
//! # Cleanup
//!
//! Expired rows stay until removed. [`PostgresStore::spawn_cleanup`]
//! starts a task that deletes them in batches,
//! `DELETE … WHERE key IN (SELECT key … WHERE expires_at <= now() LIMIT $1
//! FOR UPDATE SKIP LOCKED)`, pausing between batches so that requests are
//! never held behind a long delete, and skipping rows a request has locked.
//! Its knobs are those of [`Cleanup`]: the interval between runs (default a
//! minute), the rows per statement (default 1000) and the pause between
//! two (default 10 ms). With several processes, each may run one: `SKIP
//! LOCKED` keeps them off each other's rows. [`PostgresStore::delete_expired`]
//! runs one batch, for a scheduler of your own.
//!
//! # Connections and failures
//!
//! Connections come from a pool (deadpool-postgres, 16 at most unless set
//! with [`PostgresStore::with_pool_size`]), opened on first use, so
//! building a store does not connect. Every call is bounded by the store's
//! timeout ([`PostgresStore::DEFAULT_TIMEOUT`], set with
//! [`PostgresStore::with_timeout`]), which covers the wait for a pooled
//! connection, connecting, and the statement. A connection that timed out
//! or failed is closed, never returned to the pool; one the server closed
//! while idle (a restart) is noticed when taken from the pool and replaced,
//! and a statement whose connection turns out closed, or ended by the
//! server (`pg_terminate_backend`, a shutdown: SQLSTATE `57P01`, `57P02`),
//! is sent again once on a new connection. Ended by the server, the
//! statement was aborted; closed, it was usually never sent, but its
//! answer may also have been lost after it committed. Sent again, a load,
//! a save or a delete changes nothing more, and a conditional save finds
//! its own write, which it reports as another writer's (`Exists`, or
//! `Changed` with its own value, which the layer merges and saves again). So once the server is back, requests succeed again
//! without rebuilding the store.
//!
//! A failure becomes a [`StoreError`] whose source is a
//! [`PostgresStoreError`], of the same
//! [class](PostgresStoreError::class): transient when the server is down,
//! slow, shutting down, starting up or out of connections (the layer
//! answers `503 Service Unavailable` with `Retry-After` by default),
//! permanent otherwise (a missing table, a value too large, a refused
//! login: `500`). No error message holds a whole session id: the server's
//! messages are shown with any id cut to its first four characters.
//!
//! # Value size
//!
//! The store refuses to send a value over its maximum,
//! [`PostgresStore::DEFAULT_MAX_VALUE_SIZE`] unless set with
//! [`PostgresStore::with_max_value_size`], and reports it to the layer
//! ([`SessionStore::max_value_size`]), which refuses a larger session
//! before any I/O.
//!
//! # No owner indexes
//!
//! The store keeps no owner indexes: [`SessionStore::owner_index`] is
//! `false`, and the index calls fail with a permanent error.

mod error;
mod table;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use tokio::time::Instant;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use self::error::from_statement;
pub use self::error::PostgresStoreError;
use self::table::{Table, MIGRATE_LOCK};
use super::cleanup::{self, Cleanup, CleanupTask};
use super::{Expect, SaveOutcome, SessionStore, StoreFuture, Stored};
use crate::StoreError;

pub use deadpool_postgres;
pub use tokio_postgres;

/// The longest time to live sent, 100 years: a longer one would overflow
/// PostgreSQL's interval arithmetic.
const TTL_MAX_MS: i64 = 100 * 365 * 86_400_000;

/// A session store in a PostgreSQL table.
///
/// Cloning is cheap; clones share the connection pool. See the
/// [module docs](self) for the table, the statements and how it fails.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    table: Arc<Table>,
    timeout: Duration,
    max_value_size: usize,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.table.name)
            .field("timeout", &self.timeout)
            .field("max_value_size", &self.max_value_size)
            .field("pool_size", &self.pool.status().max_size)
            .finish()
    }
}

impl PostgresStore {
    /// How long a store call may take by default: 1 second.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

    /// The largest value a save sends by default: 64 KiB.
    pub const DEFAULT_MAX_VALUE_SIZE: usize = 64 * 1024;

    /// The connections the pool keeps at most by default.
    pub const DEFAULT_POOL_SIZE: usize = 16;

    /// The table sessions are kept in by default.
    pub const DEFAULT_TABLE: &'static str = "sessionkit_sessions";

    /// The shortest bound of [`migrate`](Self::migrate): creating a table
    /// may wait for another process doing the same.
    const MIGRATE_TIMEOUT: Duration = Duration::from_secs(30);

    /// A store for the database at `url`, a connection string as libpq
    /// takes it: `postgres://user:password@host:port/database?options` or
    /// `host=… user=… dbname=…`. Nothing is connected yet: the pool opens
    /// connections when calls need them. No TLS.
    ///
    /// ```no_run
    /// use sessionkit::PostgresStore;
    ///
    /// # fn main() -> Result<(), sessionkit::store::postgres::PostgresStoreError> {
    /// let store = PostgresStore::new("postgres://app@127.0.0.1:5432/app")?;
    /// let same = PostgresStore::new("host=127.0.0.1 port=5432 user=app dbname=app")?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`PostgresStoreError::InvalidUrl`] when `url` does not parse.
    pub fn new(url: &str) -> Result<Self, PostgresStoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|source| PostgresStoreError::InvalidUrl { source })?;
        let manager_config = ManagerConfig {
            // Checks only that the connection is open, without a round
            // trip: a connection that failed is never returned to the pool
            // (see `settle`), and one the server closed while idle is
            // closed here.
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = Manager::from_config(config, NoTls, manager_config);
        let pool = Pool::builder(manager)
            .max_size(Self::DEFAULT_POOL_SIZE)
            // The most recently used connection is the likeliest to be alive.
            .queue_mode(deadpool_postgres::QueueMode::Lifo)
            .build()
            .expect("a pool without timeouts needs no runtime");
        Ok(Self::from_pool(pool))
    }

    /// A store over a pool you built (for TLS, or settings of your own).
    /// Its connections should be checked on recycling (deadpool-postgres's
    /// [`RecyclingMethod::Fast`] does, cheaply); the store's own timeout
    /// bounds every call whatever the pool's timeouts are.
    ///
    /// ```no_run
    /// use sessionkit::store::postgres::deadpool_postgres::{Config, Runtime};
    /// use sessionkit::store::postgres::tokio_postgres::NoTls;
    /// use sessionkit::PostgresStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut config = Config::new();
    /// config.host = Some("127.0.0.1".into());
    /// config.user = Some("app".into());
    /// config.dbname = Some("app".into());
    /// let pool = config.create_pool(Some(Runtime::Tokio1), NoTls)?;
    /// let store = PostgresStore::from_pool(pool);
    /// # Ok(()) }
    /// ```
    pub fn from_pool(pool: Pool) -> Self {
        PostgresStore {
            pool,
            table: Arc::new(
                Table::new(Self::DEFAULT_TABLE).expect("the default table name is valid"),
            ),
            timeout: Self::DEFAULT_TIMEOUT,
            max_value_size: Self::DEFAULT_MAX_VALUE_SIZE,
        }
    }

    /// Keeps sessions in the table `name`: `table` or `schema.table`, each
    /// part an ASCII letter or `_` followed by ASCII letters, digits and
    /// `_`, at most 63 bytes. The name is quoted, so it is case-sensitive.
    /// Default: [`DEFAULT_TABLE`](Self::DEFAULT_TABLE).
    ///
    /// ```no_run
    /// use sessionkit::PostgresStore;
    ///
    /// # fn main() -> Result<(), sessionkit::store::postgres::PostgresStoreError> {
    /// let store = PostgresStore::new("postgres://app@127.0.0.1/app")?
    ///     .with_table("auth.web_sessions")?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`PostgresStoreError::InvalidTable`] for any other name.
    pub fn with_table(mut self, name: &str) -> Result<Self, PostgresStoreError> {
        self.table = Arc::new(Table::new(name)?);
        Ok(self)
    }

    /// Bounds each store call (waiting for a pooled connection, connecting,
    /// and the statement) to `timeout`. Default:
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use sessionkit::PostgresStore;
    ///
    /// # fn main() -> Result<(), sessionkit::store::postgres::PostgresStoreError> {
    /// let store = PostgresStore::new("postgres://app@127.0.0.1/app")?
    ///     .with_timeout(Duration::from_millis(250));
    /// # Ok(()) }
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest encoded session, in bytes, a save sends. Default:
    /// [`DEFAULT_MAX_VALUE_SIZE`](Self::DEFAULT_MAX_VALUE_SIZE). A larger
    /// save fails with [`PostgresStoreError::ValueTooLarge`], a
    /// [permanent](crate::ErrorClass::Permanent) error, before anything is
    /// sent.
    ///
    /// ```no_run
    /// use sessionkit::PostgresStore;
    ///
    /// # fn main() -> Result<(), sessionkit::store::postgres::PostgresStoreError> {
    /// let store = PostgresStore::new("postgres://app@127.0.0.1/app")?
    ///     .with_max_value_size(256 * 1024);
    /// # Ok(()) }
    /// ```
    pub fn with_max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }

    /// Keeps at most `connections` connections (at least 1). Default:
    /// [`DEFAULT_POOL_SIZE`](Self::DEFAULT_POOL_SIZE). Applies to every
    /// clone of this store (they share the pool).
    ///
    /// ```no_run
    /// use sessionkit::PostgresStore;
    ///
    /// # fn main() -> Result<(), sessionkit::store::postgres::PostgresStoreError> {
    /// let store = PostgresStore::new("postgres://app@127.0.0.1/app")?.with_pool_size(4);
    /// # Ok(()) }
    /// ```
    pub fn with_pool_size(self, connections: usize) -> Self {
        self.pool.resize(connections.max(1));
        self
    }

    /// The timeout of each store call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The table's name, as given.
    pub fn table(&self) -> &str {
        &self.table.name
    }

    /// The connection pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The SQL that creates the session table and its index if they do not
    /// exist, for a migration tool of your own; what
    /// [`migrate`](Self::migrate) runs.
    ///
    /// ```
    /// use sessionkit::PostgresStore;
    ///
    /// let store = PostgresStore::new("postgres://app@127.0.0.1/app").unwrap();
    /// assert!(store.migration_sql().starts_with(
    ///     "CREATE TABLE IF NOT EXISTS \"sessionkit_sessions\" ("
    /// ));
    /// ```
    pub fn migration_sql(&self) -> String {
        self.table.migration.clone()
    }

    /// Creates the session table and its index if they do not exist
    /// ([`migration_sql`](Self::migration_sql)); otherwise changes nothing.
    /// Several processes may call it at once: each takes a transaction-level
    /// advisory lock first, so they create the table one after the other
    /// (and one that raced a migration run by other means retries once).
    /// Bounded by the store's timeout, but never by less than 30 seconds.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] with a [`PostgresStoreError`] source: the server
    /// cannot be reached, or refused (no right to create the table).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let sql = format!(
            "SELECT pg_advisory_xact_lock({MIGRATE_LOCK});\n{}",
            self.table.migration
        );
        let timeout = self.timeout.max(Self::MIGRATE_TIMEOUT);
        let mut retried = false;
        loop {
            let deadline = Instant::now() + timeout;
            let client = self.checkout("migrate", deadline, timeout).await?;
            // One simple query: its statements run in one transaction,
            // which holds the lock until they are done.
            let result = tokio::time::timeout_at(deadline, client.batch_execute(&sql)).await;
            match self.settle(client, "migrate", timeout, result) {
                Err(PostgresStoreError::Server { code, .. })
                    if !retried && matches!(code.as_str(), "23505" | "42P07" | "42710") =>
                {
                    // Another migrator (without our lock) created it
                    // between our check and our insert: now it exists.
                    retried = true;
                }
                result => return result.map_err(StoreError::from),
            }
        }
    }

    /// Deletes at most `batch` expired rows, rows other calls hold locked
    /// excepted, and returns how many it deleted. What the
    /// [cleanup task](Self::spawn_cleanup) runs until a batch comes back
    /// short.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] with a [`PostgresStoreError`] source.
    pub async fn delete_expired(&self, batch: usize) -> Result<u64, StoreError> {
        let limit = i64::try_from(batch).unwrap_or(i64::MAX);
        let rows = self
            .query(
                "delete_expired",
                &self.table.delete_expired,
                &[&limit],
                Instant::now() + self.timeout,
                Exec::Count,
            )
            .await?;
        Ok(rows.count)
    }

    /// Starts the task that removes expired rows on the current tokio
    /// runtime, as [`Cleanup`] says (batches of
    /// [`delete_expired`](Self::delete_expired)); it runs until the
    /// returned handle is dropped or stopped. A failed batch is logged and
    /// tried again at the next run.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use sessionkit::store::Cleanup;
    /// use sessionkit::PostgresStore;
    ///
    /// # async fn demo(store: PostgresStore) {
    /// let cleanup = store.spawn_cleanup(
    ///     Cleanup::default().with_interval(Duration::from_secs(300)).with_batch(500),
    /// );
    /// // ... serve; the task stops when `cleanup` is dropped.
    /// # drop(cleanup);
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn spawn_cleanup(&self, cleanup: Cleanup) -> CleanupTask {
        let store = self.clone();
        cleanup::spawn("postgres", cleanup, move |batch| {
            let store = store.clone();
            async move { store.delete_expired(batch).await }
        })
    }

    /// Refuses a value over the maximum, before anything is sent.
    fn check_size(&self, value: &[u8]) -> Result<(), PostgresStoreError> {
        if value.len() > self.max_value_size {
            return Err(PostgresStoreError::ValueTooLarge {
                size: value.len(),
                max: self.max_value_size,
            });
        }
        Ok(())
    }

    /// A pooled connection, taken by `deadline` (`timeout` after the call
    /// started).
    async fn checkout(
        &self,
        statement: &'static str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Object, PostgresStoreError> {
        match tokio::time::timeout_at(deadline, self.pool.get()).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(PoolError::Backend(source))) => Err(PostgresStoreError::Connect { source }),
            Ok(Err(PoolError::Timeout(_))) | Err(_) => {
                Err(PostgresStoreError::Timeout { statement, timeout })
            }
            Ok(Err(error)) => Err(PostgresStoreError::Pool {
                detail: error.to_string(),
            }),
        }
    }

    /// The result of a statement run on `client`. The connection is closed
    /// (taken out of the pool) unless it answered, or failed with an error
    /// of the server's that leaves it usable: one that timed out may still
    /// deliver the late answer, one that failed otherwise is broken.
    fn settle<T>(
        &self,
        client: Object,
        statement: &'static str,
        timeout: Duration,
        result: Result<Result<T, tokio_postgres::Error>, tokio::time::error::Elapsed>,
    ) -> Result<T, PostgresStoreError> {
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                // An error of the server's leaves the connection usable,
                // unless it is about the connection itself.
                if error.as_db_error().is_none() || connection_ended(&error) {
                    drop(Object::take(client));
                }
                Err(from_statement(statement, &self.table.name, error))
            }
            Err(_elapsed) => {
                drop(Object::take(client));
                Err(PostgresStoreError::Timeout { statement, timeout })
            }
        }
    }

    /// Runs `sql` with `params` on a pooled connection by `deadline`. A
    /// statement whose connection ended ([`connection_ended`]) is sent once
    /// more on another.
    async fn query(
        &self,
        statement: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        deadline: Instant,
        exec: Exec,
    ) -> Result<Rows, PostgresStoreError> {
        let mut retried = false;
        loop {
            let client = self.checkout(statement, deadline, self.timeout).await?;
            let result = tokio::time::timeout_at(deadline, async {
                let prepared = client.prepare_cached(sql).await?;
                match exec {
                    Exec::Rows => client.query(&prepared, params).await.map(|rows| Rows {
                        count: rows.len() as u64,
                        rows,
                    }),
                    Exec::Count => client.execute(&prepared, params).await.map(|count| Rows {
                        count,
                        rows: Vec::new(),
                    }),
                }
            })
            .await;
            let ended = matches!(&result, Ok(Err(e)) if connection_ended(e));
            match self.settle(client, statement, self.timeout, result) {
                Err(_) if ended && !retried => retried = true,
                result => return result,
            }
        }
    }

    /// The one row `sql` returns, if any.
    async fn query_opt(
        &self,
        statement: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        deadline: Instant,
    ) -> Result<Option<Row>, PostgresStoreError> {
        let rows = self
            .query(statement, sql, params, deadline, Exec::Rows)
            .await?;
        Ok(rows.rows.into_iter().next())
    }

    async fn load_row(&self, key: &str, ttl: Duration) -> Result<Option<Stored>, StoreError> {
        let ttl = ttl_ms(ttl);
        let row = self
            .query_opt(
                "load",
                &self.table.load,
                &[&key, &ttl],
                Instant::now() + self.timeout,
            )
            .await?;
        Ok(row.map(stored))
    }

    async fn save_row(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.check_size(value)?;
        let ttl = ttl_ms(ttl);
        self.query(
            "save",
            &self.table.save,
            &[&key, &value, &ttl],
            Instant::now() + self.timeout,
            Exec::Count,
        )
        .await?;
        Ok(())
    }

    async fn save_row_if(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        expect: Expect<'_>,
    ) -> Result<SaveOutcome, StoreError> {
        self.check_size(value)?;
        let ttl = ttl_ms(ttl);
        let deadline = Instant::now() + self.timeout;
        // Versions start at 1 and count writes, so they fit a bigint; one
        // that does not (not ours) matches no row.
        let expected_version: i64;
        let expected_value: &[u8];
        let (sql, expected): (&str, &(dyn ToSql + Sync)) = match expect {
            Expect::Absent => {
                let row = self
                    .query_opt(
                        "save_if",
                        &self.table.create,
                        &[&key, &value, &ttl],
                        deadline,
                    )
                    .await?;
                return Ok(match row {
                    Some(row) => SaveOutcome::Saved {
                        version: Some(version(&row, 0)),
                    },
                    None => SaveOutcome::Exists,
                });
            }
            Expect::Loaded {
                version: Some(version),
                ..
            } => {
                expected_version = i64::try_from(version).unwrap_or(-1);
                (&self.table.update_version, &expected_version)
            }
            Expect::Loaded { value: loaded, .. } => {
                expected_value = loaded;
                (&self.table.update_value, &expected_value)
            }
        };
        let row = self
            .query_opt("save_if", sql, &[&key, &value, &ttl, expected], deadline)
            .await?;
        if let Some(row) = row {
            return Ok(SaveOutcome::Saved {
                version: Some(version(&row, 0)),
            });
        }
        // Lost a race, or the session is gone: say which.
        let row = self
            .query_opt("save_if", &self.table.current, &[&key], deadline)
            .await?;
        Ok(match row {
            Some(row) => SaveOutcome::Changed(stored(row)),
            None => SaveOutcome::Gone,
        })
    }

    async fn delete_row(&self, key: &str) -> Result<(), StoreError> {
        self.query(
            "delete",
            &self.table.delete,
            &[&key],
            Instant::now() + self.timeout,
            Exec::Count,
        )
        .await?;
        Ok(())
    }

    async fn ping_server(&self) -> Result<(), StoreError> {
        self.query(
            "ping",
            "SELECT 1",
            &[],
            Instant::now() + self.timeout,
            Exec::Rows,
        )
        .await?;
        Ok(())
    }
}

/// How a statement is run: for its rows, or for the count of rows it
/// changed.
#[derive(Clone, Copy)]
enum Exec {
    Rows,
    Count,
}

/// What a statement gave.
struct Rows {
    rows: Vec<Row>,
    count: u64,
}

/// Whether a statement failed because its connection ended: tokio-postgres
/// answers `closed` (the connection was gone when the request was to be
/// written, or went before the answer came), or the server ended the
/// process serving it (`57P01` for `pg_terminate_backend` or a shutdown,
/// `57P02` after a crash), aborting the statement. Either way the
/// connection is useless, and the statement is worth sending again on
/// another (see the module docs for what that repeats).
fn connection_ended(error: &tokio_postgres::Error) -> bool {
    error.is_closed()
        || error
            .code()
            .is_some_and(|code| matches!(code.code(), "57P01" | "57P02"))
}

/// A time to live in milliseconds, as the statements take it.
fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).map_or(TTL_MAX_MS, |ms| ms.min(TTL_MAX_MS))
}

/// The `version` column at `index` of `row`.
fn version(row: &Row, index: usize) -> u64 {
    let version: i64 = row.get(index);
    version as u64
}

/// A row of `value, version`.
fn stored(row: Row) -> Stored {
    Stored {
        version: Some(version(&row, 1)),
        value: row.get(0),
    }
}

impl SessionStore for PostgresStore {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        StoreFuture::new(async move { Ok(self.load_row(key, ttl).await?.map(|s| s.value)) })
    }

    fn load_versioned<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Option<Stored>> {
        StoreFuture::new(self.load_row(key, ttl))
    }

    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        StoreFuture::new(self.save_row(key, value, ttl))
    }

    fn save_if<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
        expect: Expect<'a>,
    ) -> StoreFuture<'a, SaveOutcome> {
        StoreFuture::new(self.save_row_if(key, value, ttl, expect))
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        StoreFuture::new(self.delete_row(key))
    }

    fn compare_and_set(&self) -> bool {
        true
    }

    fn max_value_size(&self) -> Option<usize> {
        Some(self.max_value_size)
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        StoreFuture::new(self.ping_server())
    }

    fn name(&self) -> &'static str {
        "postgres"
    }
}
