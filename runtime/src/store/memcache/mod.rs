//! [`MemcacheStore`]: sessions in one or more memcached servers, readable
//! by sanic-session.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use sessionkit::{MemcacheStore, SessionLayer};
//!
//! # fn main() -> Result<(), sessionkit::store::memcache::MemcacheStoreError> {
//! let store = MemcacheStore::new(["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"])?;
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(SessionLayer::new(store));
//! # Ok(()) }
//! ```
//!
//! # Commands
//!
//! Each store call goes to one server, on one connection, and waits for the
//! server's answer to every command it sends. In the common case a call is
//! one command, so one round trip:
//!
//! | call | command | answers |
//! |---|---|---|
//! | `load` | `gat <exptime> <key>` (reads and slides the expiry in one trip) | `VALUE …` / `END` (missing) |
//! | `load_versioned` | `gats <exptime> <key>`: `gat`, plus the value's CAS unique | `VALUE … <unique>` / `END` (missing) |
//! | `save` | `replace <key> 0 <exptime> <bytes>` and the value, then `add` the same, in one write | `STORED` and `NOT_STORED` (either order) |
//! | `save_if`, new session | `add <key> 0 <exptime> <bytes>` and the value | `STORED` / `NOT_STORED` (taken: `Exists`) |
//! | `save_if`, loaded | `cas <key> 0 <exptime> <bytes> <unique>` and the value | `STORED` / `EXISTS` (changed) / `NOT_FOUND` (`Gone`) |
//! | `delete` | `delete <key>` | `DELETED` / `NOT_FOUND` |
//! | `ping` | `version`, to every server in turn | `VERSION …` |
//!
//! A conflict costs one more round trip: after `EXISTS`, `gets <key>` on
//! the same connection fetches what the other writer left and its unique,
//! which `save_if` returns as `Changed` for the layer to merge and retry
//! with (or `Gone`, if the key was deleted in between). memcached does not
//! say which unique a write gave the value, so a `save_if` expecting a
//! value without a unique (one this store wrote) sends `gets` first,
//! compares the bytes, and then `cas` with the unique it got: two round
//! trips.
//!
//! `save` never sends `set`: memcached answers a `set` it cannot store (a
//! value over its item size limit, no memory left) with an error *and*
//! deletes what the key held, logging the visitor out; a refused `replace`,
//! `add` or `cas` leaves the old value. So `save` sends `replace` (which
//! writes if the key holds a value) followed by `add` (which writes if it
//! holds none) in one write: one round trip, the value sent twice.
//!
//! `gat` and `gats` need memcached 1.5.3 or later; a new connection asks
//! the server's `version` once and refuses an older server with a clear
//! error.
//!
//! # Format (compatible with sanic-session)
//!
//! Keys are `prefix + id`, values the session's compact JSON object, flags
//! 0: what sanic-session's memcached interface writes, so a sessionkit
//! service and a sanic-session service sharing a memcached and a prefix read
//! each other's sessions. Values written by others are accepted with any
//! flags. With `hash_ids: true` in the session's config the key ends in the
//! SHA-256 of the id instead (64 lowercase hex characters, within the
//! 250-byte limit the config's rules keep), which sanic-session does not
//! find.
//!
//! `replace`, `add` and `cas` store exactly what sanic-session's `set` does
//! (flags 0, the same bytes, the same exptime): compare-and-set only
//! decides whether the write happens. Every write, sanic-session's `set`
//! included, gives the item a new CAS unique, so a sessionkit `save_if`
//! racing a sanic-session write sees it as a change.
//!
//! # Expiry
//!
//! memcached reads an exptime above 30 days (2,592,000 s) as an absolute
//! Unix time, so a longer expiry is sent as now + expiry (sanic-session
//! instead turns it into 0, "never expires"). memcached's clock ticks once a
//! second, so an item given exptime `n` lives between `n − 1` and `n`
//! seconds; the store sends the expiry rounded up plus one second, so a
//! session lives at least its expiry and at most one second longer.
//!
//! # Keys
//!
//! memcached's text protocol ends a key at a space and a command at `\r\n`,
//! so a key holding one could smuggle a command. The layer only builds keys
//! from ids it has validated (32 lowercase hex characters), and the store
//! checks every key again before any I/O: 1 to 250 printable ASCII
//! characters, no space or control character, or the call fails with
//! [`MemcacheStoreError::InvalidKey`] and nothing is sent.
//!
//! # Several servers
//!
//! A key always goes to the same server, chosen by ketama consistent
//! hashing over the servers' `host:port` names (libketama's points: 160 per
//! server from MD5), so adding a fourth server to three moves about a
//! quarter of the sessions and removing one moves only that server's.
//! [`MemcacheStore::server_for`] tells which server holds a key.
//!
//! When a server is down or does not answer, the sessions it holds fail
//! (the layer answers 503, within the timeout) while the others keep
//! working: with one of three servers lost, about a third of the sessions.
//! Their keys are not moved to the surviving servers while it is away.
//! Moving them (ketama's usual choice) would give each of those visitors a
//! fresh, empty session on a survivor, logging them out; and once the
//! server came back, the keys would move back to it and find the copy it
//! kept from before, so visitors would be served stale data and lose what
//! they did in between. Without moving, a server that comes back with its
//! data (a network partition healed, a stuck process resumed) serves its
//! sessions as they were, and one restarted empty gives its visitors new
//! sessions, which the remapping would have done anyway.
//!
//! # No owner indexes
//!
//! The store keeps no owner indexes: [`SessionStore::owner_index`] is
//! `false`, and `index_add`, `index_remove` and `index_list` fail with a
//! [permanent](crate::ErrorClass::Permanent) error ("this store keeps no
//! owner index"). An owner index must be changed atomically (add an entry,
//! drop the expired ones and those over the limit, in one step) and list
//! every session of an owner, including those on other servers; memcached
//! can neither enumerate keys nor change part of a value under a lock of
//! its own, and a value shared by all of an owner's sessions would live on
//! one server, lost with it while the sessions on the others live on. Use
//! the memory or the Redis store for features that need one.
//!
//! # Connections and failures
//!
//! Each server has its own pool of connections (deadpool), opened on first
//! use and reused across requests. Every call is bounded by a timeout
//! ([`MemcacheStore::DEFAULT_TIMEOUT`], set with
//! [`MemcacheStore::with_timeout`]) covering the wait for a pooled
//! connection, connecting, and the command's answer. A connection that saw
//! an error, a timeout or an error reply, or whose command was cancelled
//! midway, is closed and never reused, so a late answer can never be read as
//! the answer to another command; an idle connection the server has closed
//! (memcached restarted) is noticed when it is taken from the pool, without
//! a round trip, and replaced. So once a server is back, requests succeed
//! again without rebuilding the store.
//!
//! A failure becomes a [`StoreError`](crate::StoreError) whose source is a
//! [`MemcacheStoreError`], of the same [class](MemcacheStoreError::class):
//! transient when the server is down, slow, closed the connection, or out
//! of memory (the layer answers `503 Service Unavailable` by default),
//! permanent when retrying cannot help: a value too large, a key memcached
//! cannot carry, a `CLIENT_ERROR`, an answer that is not memcached's (`500`
//! by default). Either way the layer logs it. A `replace`, `add`, `cas` or
//! `delete` that timed out may still have been applied; the response
//! reports the failure either way, never a success that was not
//! acknowledged. No error message holds a whole session id: keys, and any
//! server answer quoted, show at most the first four characters of one.
//!
//! # Value size
//!
//! memcached keeps an item of at most its item size limit (`-I`, 1 MiB by
//! default), counting the item's header and key as well as the value. The
//! store refuses to send a value over its own maximum,
//! [`MemcacheStore::DEFAULT_MAX_VALUE_SIZE`] unless set with
//! [`MemcacheStore::with_max_value_size`], and reports it to the layer
//! ([`SessionStore::max_value_size`]), which refuses a larger session before
//! any I/O. A value under the store's maximum that the server still refuses
//! (a server started with a smaller `-I`) fails with
//! `SERVER_ERROR object too large for cache` and leaves the stored session
//! as it was.
//!
//! The same maximum bounds what the store reads: a `VALUE` line announcing
//! more bytes than the maximum is an error (a faulty or hostile server
//! cannot make the store allocate what it announces), and the connection is
//! closed. So a server whose `-I` is over 1 MiB, holding values written by
//! other clients, needs a larger maximum here too.
//!
//! # Why these crates
//!
//! * **deadpool** (`managed`, no runtime feature) for the pools: small (its
//!   only dependencies are tokio's `sync` and `deadpool-runtime`), no
//!   background task, so a store can be built outside a runtime, and its
//!   `recycle` hook is where a connection is checked before reuse. bb8
//!   would also do, but spawns a reaper task into the runtime that builds
//!   the pool, and checks connections on checkout with a round trip by
//!   default.
//! * **md-5** (RustCrypto) under a small ketama ring written here: the
//!   ketama crates available are pre-releases or use another point scheme.
//! * No memcached client crate: `memcache-async`'s `set` and `delete` are
//!   fire-and-forget, it has no `gat` or `gats`, its `cas` takes
//!   memcached's `NOT_FOUND` for an error, and it reads an answer line for
//!   as long as the server sends bytes without a newline, so every command,
//!   the `version` handshake included, is framed by this module, with a
//!   bound on every length read.

pub(crate) mod connection;
mod error;
mod ring;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool::managed::{Object, Pool, PoolError, QueueMode};

use self::connection::{Added, Connection, Manager, Swapped};
use self::error::quoted;
pub use self::error::MemcacheStoreError;
use self::ring::Ring;
use super::{Expect, SaveOutcome, SessionStore, StoreFuture, Stored};

/// memcached's longest relative exptime; a larger one is a Unix time.
const RELATIVE_EXPTIME_MAX: u64 = 60 * 60 * 24 * 30;

/// memcached's longest key, in bytes.
const KEY_MAX: usize = 250;

/// A session store in one or more memcached servers.
///
/// Cloning is cheap; clones share the connection pools. Building one does
/// not connect: each server's first connection is opened by the first
/// request that needs it. See the [module docs](self) for the commands it
/// sends, how keys are spread over servers, and how it fails.
#[derive(Clone)]
pub struct MemcacheStore {
    nodes: Arc<[Node]>,
    ring: Arc<Ring>,
    timeout: Duration,
    max_value_size: usize,
}

/// One server and its pool.
struct Node {
    server: Arc<str>,
    pool: Pool<Manager>,
}

impl MemcacheStore {
    /// How long a store call may take by default: 1 second.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

    /// How many connections each server's pool keeps at most by default.
    pub const DEFAULT_POOL_SIZE: usize = 16;

    /// The largest value a save sends and a load reads, by default: 1 MiB
    /// less 1 KiB (1,047,552 bytes).
    ///
    /// memcached's default item size limit (`-I 1m`) is 1 MiB for the whole
    /// item: a header of 48 bytes on 64-bit builds, 8 more for the CAS
    /// unique, the key and a NUL byte (up to 251), 4 bytes of flags when
    /// they are not 0, and the value with its `\r\n`. With a 250-byte key
    /// that is 309 bytes besides the value (memcached 1.6 stores a value
    /// of 1,048,267 bytes under such a key, and refuses one byte more); the
    /// 1 KiB margin covers it with room to spare, so a value the store
    /// accepts fits a default memcached under any key.
    pub const DEFAULT_MAX_VALUE_SIZE: usize = 1024 * 1024 - 1024;

    /// The largest maximum value size [`with_max_value_size`](Self::with_max_value_size)
    /// accepts: 1 GiB, the largest item size limit memcached can be given.
    pub const MAX_VALUE_SIZE_LIMIT: usize = 1024 * 1024 * 1024;

    /// A store over `servers`, each `host:port` (a name, an IPv4 address, or
    /// an IPv6 address in brackets), or a [`SocketAddr`](std::net::SocketAddr).
    ///
    /// The order does not matter for which server holds a key; the names
    /// do, so give every instance of a service the same names. Names are
    /// resolved when connecting, so a server that moves is found again.
    ///
    /// ```no_run
    /// use std::net::SocketAddr;
    /// use sessionkit::MemcacheStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let one = MemcacheStore::new(["127.0.0.1:11211"])?;
    /// let from_env = MemcacheStore::new(
    ///     std::env::var("MEMCACHED_SERVERS")?.split(','),
    /// )?;
    /// let addr: SocketAddr = "[::1]:11211".parse()?;
    /// let by_address = MemcacheStore::new([addr])?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`MemcacheStoreError::InvalidServer`] when the list is empty, names
    /// a server twice, or has an entry that is not `host:port`.
    pub fn new<I>(servers: I) -> Result<Self, MemcacheStoreError>
    where
        I: IntoIterator,
        I::Item: ToString,
    {
        let mut names: Vec<String> = Vec::new();
        for server in servers {
            let server = server.to_string().trim().to_string();
            check_server(&server)?;
            if names.contains(&server) {
                return Err(MemcacheStoreError::InvalidServer {
                    server,
                    reason: "listed twice",
                });
            }
            names.push(server);
        }
        if names.is_empty() {
            return Err(MemcacheStoreError::InvalidServer {
                server: String::new(),
                reason: "no server given; pass at least one `host:port`",
            });
        }
        let ring = Arc::new(Ring::new(&names));
        let nodes = names
            .into_iter()
            .map(|name| {
                let server: Arc<str> = name.into();
                let manager = Manager {
                    server: server.clone(),
                };
                let pool = Pool::builder(manager)
                    .max_size(Self::DEFAULT_POOL_SIZE)
                    // The most recently used connection is the likeliest
                    // to be alive; the others can idle.
                    .queue_mode(QueueMode::Lifo)
                    .build()
                    .expect("a pool without timeouts needs no runtime");
                Node { server, pool }
            })
            .collect();
        Ok(MemcacheStore {
            nodes,
            ring,
            timeout: Self::DEFAULT_TIMEOUT,
            max_value_size: Self::DEFAULT_MAX_VALUE_SIZE,
        })
    }

    /// Bounds each store call (waiting for a pooled connection, connecting,
    /// sending the command and reading its answer) to `timeout`. Default:
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT).
    ///
    /// A call that runs out of time fails (a 503 from the layer by default)
    /// rather than hold the request while a server is unreachable or stuck.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use sessionkit::MemcacheStore;
    ///
    /// # fn main() -> Result<(), sessionkit::store::memcache::MemcacheStoreError> {
    /// let store = MemcacheStore::new(["127.0.0.1:11211"])?
    ///     .with_timeout(Duration::from_millis(250));
    /// # Ok(()) }
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Keeps at most `connections` connections to each server (at least 1).
    /// Default: [`DEFAULT_POOL_SIZE`](Self::DEFAULT_POOL_SIZE). A request
    /// that finds them all busy waits for one, within the timeout.
    ///
    /// Applies to every clone of this store.
    ///
    /// ```no_run
    /// use sessionkit::MemcacheStore;
    ///
    /// # fn main() -> Result<(), sessionkit::store::memcache::MemcacheStoreError> {
    /// let store = MemcacheStore::new(["127.0.0.1:11211"])?.with_pool_size(64);
    /// # Ok(()) }
    /// ```
    pub fn with_pool_size(self, connections: usize) -> Self {
        for node in self.nodes.iter() {
            node.pool.resize(connections.max(1));
        }
        self
    }

    /// The largest encoded session, in bytes, a save sends and a load
    /// reads (at most [`MAX_VALUE_SIZE_LIMIT`](Self::MAX_VALUE_SIZE_LIMIT)).
    /// Default: [`DEFAULT_MAX_VALUE_SIZE`](Self::DEFAULT_MAX_VALUE_SIZE),
    /// which fits memcached's default item size limit; for a server started
    /// with another `-I`, give that limit less 1 KiB.
    ///
    /// A larger save fails with [`MemcacheStoreError::ValueTooLarge`], a
    /// [permanent](crate::ErrorClass::Permanent) error, before anything is
    /// sent, so the stored session stays as it was; the layer, told the
    /// limit by [`SessionStore::max_value_size`], refuses such a session
    /// itself. A load finding a larger value fails with a permanent
    /// [`MemcacheStoreError::Protocol`] error without reading it.
    ///
    /// ```no_run
    /// use sessionkit::MemcacheStore;
    ///
    /// # fn main() -> Result<(), sessionkit::store::memcache::MemcacheStoreError> {
    /// // memcached -I 2m
    /// let store = MemcacheStore::new(["127.0.0.1:11211"])?
    ///     .with_max_value_size(2 * 1024 * 1024 - 1024);
    /// # Ok(()) }
    /// ```
    pub fn with_max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes.min(Self::MAX_VALUE_SIZE_LIMIT);
        self
    }

    /// The timeout of each store call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The largest encoded session, in bytes, a save sends and a load reads.
    pub fn max_value_size(&self) -> usize {
        self.max_value_size
    }

    /// Refuses a value over the maximum, before anything is sent.
    fn check_size(&self, value: &[u8]) -> Result<(), MemcacheStoreError> {
        if value.len() > self.max_value_size {
            return Err(MemcacheStoreError::ValueTooLarge {
                size: value.len(),
                max: self.max_value_size,
            });
        }
        Ok(())
    }

    /// The most connections each server's pool keeps.
    pub fn pool_size(&self) -> usize {
        self.nodes[0].pool.status().max_size
    }

    /// The servers, `host:port`, in the order given.
    pub fn servers(&self) -> impl Iterator<Item = &str> + '_ {
        self.nodes.iter().map(|node| &*node.server)
    }

    /// The server (`host:port`, as given) that holds `key`, for example
    /// `"session:" + id`, to find a session when debugging.
    ///
    /// ```no_run
    /// use sessionkit::MemcacheStore;
    ///
    /// # fn main() -> Result<(), sessionkit::store::memcache::MemcacheStoreError> {
    /// let store = MemcacheStore::new(["10.0.0.1:11211", "10.0.0.2:11211"])?;
    /// println!("{}", store.server_for("session:9ca69ea696434e99beff2880eb95116a"));
    /// # Ok(()) }
    /// ```
    pub fn server_for(&self, key: &str) -> &str {
        &self.nodes[self.ring.server_for(key.as_bytes())].server
    }

    /// A pooled connection to the server that holds `key`, taken within
    /// the timeout, and the [`Call`] that settles the command sent on it.
    async fn checkout(
        &self,
        key: &str,
        command: &'static str,
    ) -> Result<(Object<Manager>, Call<'_>), MemcacheStoreError> {
        check_key(key)?;
        let node = &self.nodes[self.ring.server_for(key.as_bytes())];
        let deadline = tokio::time::Instant::now() + self.timeout;
        self.connect(node, command, deadline).await
    }

    /// A pooled connection to `node`, taken by `deadline`, and the
    /// [`Call`] that settles the command sent on it.
    async fn connect<'s>(
        &'s self,
        node: &'s Node,
        command: &'static str,
        deadline: tokio::time::Instant,
    ) -> Result<(Object<Manager>, Call<'s>), MemcacheStoreError> {
        let call = Call {
            node,
            command,
            deadline,
            timeout: self.timeout,
        };
        match tokio::time::timeout_at(call.deadline, call.node.pool.get()).await {
            Ok(Ok(connection)) => Ok((connection, call)),
            Ok(Err(PoolError::Backend(error))) => Err(error),
            Ok(Err(PoolError::Timeout(_))) => Err(call.timed_out()),
            Ok(Err(error)) => Err(MemcacheStoreError::Protocol {
                server: call.node.server.to_string(),
                command,
                detail: format!("connection pool: {error}"),
            }),
            Err(_elapsed) => Err(call.timed_out()),
        }
    }
}

/// One store call under way: its server, command and deadline.
struct Call<'s> {
    node: &'s Node,
    command: &'static str,
    deadline: tokio::time::Instant,
    timeout: Duration,
}

impl Call<'_> {
    /// The outcome of the command, given what running it until the
    /// deadline gave. A connection whose command failed or ran out of time
    /// is closed, never pooled again.
    fn settle<T>(
        self,
        connection: Object<Manager>,
        outcome: Result<Result<T, MemcacheStoreError>, tokio::time::error::Elapsed>,
    ) -> Result<T, MemcacheStoreError> {
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                drop(Object::take(connection));
                Err(error)
            }
            Err(_elapsed) => {
                drop(Object::take(connection));
                Err(self.timed_out())
            }
        }
    }

    fn timed_out(&self) -> MemcacheStoreError {
        MemcacheStoreError::Timeout {
            server: self.node.server.to_string(),
            command: self.command,
            timeout: self.timeout,
        }
    }
}

impl fmt::Debug for MemcacheStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemcacheStore")
            .field("servers", &self.servers().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .field("pool_size", &self.pool_size())
            .field("max_value_size", &self.max_value_size)
            .finish()
    }
}

impl SessionStore for MemcacheStore {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        StoreFuture::new(async move {
            let exptime = exptime(ttl, SystemTime::now());
            let (mut connection, call) = self.checkout(key, "gat").await?;
            let read = connection.gat(key, exptime, self.max_value_size);
            let outcome = tokio::time::timeout_at(call.deadline, read).await;
            Ok(call.settle(connection, outcome)?)
        })
    }

    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        StoreFuture::new(async move {
            self.check_size(value)?;
            let exptime = exptime(ttl, SystemTime::now());
            let (mut connection, call) = self.checkout(key, "replace").await?;
            let outcome =
                tokio::time::timeout_at(call.deadline, connection.put(key, value, exptime)).await;
            Ok(call.settle(connection, outcome)?)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        StoreFuture::new(async move {
            let (mut connection, call) = self.checkout(key, "delete").await?;
            let outcome = tokio::time::timeout_at(call.deadline, connection.delete(key)).await;
            Ok(call.settle(connection, outcome)?)
        })
    }

    fn load_versioned<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Option<Stored>> {
        StoreFuture::new(async move {
            let exptime = exptime(ttl, SystemTime::now());
            let (mut connection, call) = self.checkout(key, "gats").await?;
            let read = connection.gats(key, exptime, self.max_value_size);
            let outcome = tokio::time::timeout_at(call.deadline, read).await;
            let found = call.settle(connection, outcome)?;
            Ok(found.map(|(value, unique)| Stored {
                value,
                version: Some(unique),
            }))
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
            let exptime = exptime(ttl, SystemTime::now());
            let first = match expect {
                Expect::Absent => "add",
                Expect::Loaded {
                    version: Some(_), ..
                } => "cas",
                Expect::Loaded { version: None, .. } => "gets",
            };
            let (mut connection, mut call) = self.checkout(key, first).await?;
            let write = write_if(
                &mut connection,
                &mut call.command,
                key,
                value,
                exptime,
                expect,
                self.max_value_size,
            );
            let outcome = tokio::time::timeout_at(call.deadline, write).await;
            Ok(call.settle(connection, outcome)?)
        })
    }

    fn compare_and_set(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "memcache"
    }

    /// `version` to each server in turn, all within one store timeout; the
    /// first server that fails is the one the error names.
    fn ping(&self) -> StoreFuture<'_, ()> {
        StoreFuture::new(async move {
            let deadline = tokio::time::Instant::now() + self.timeout;
            for node in self.nodes.iter() {
                let (mut connection, call) = self.connect(node, "version", deadline).await?;
                let outcome = tokio::time::timeout_at(deadline, connection.version()).await;
                call.settle(connection, outcome)?;
            }
            Ok(())
        })
    }

    fn max_value_size(&self) -> Option<usize> {
        Some(self.max_value_size)
    }
}

/// The commands of one `save_if` on one connection: `add` for a new key;
/// `cas` with the loaded unique, then `gets` after `EXISTS` to return what
/// the other writer left; without a unique, `gets` first to compare the
/// bytes and learn it. `command` names the command under way, for the
/// timeout error; `max` bounds the value `gets` reads.
async fn write_if(
    connection: &mut Connection,
    command: &mut &'static str,
    key: &str,
    value: &[u8],
    exptime: u32,
    expect: Expect<'_>,
    max: usize,
) -> Result<SaveOutcome, MemcacheStoreError> {
    let changed = |value, unique| {
        SaveOutcome::Changed(Stored {
            value,
            version: Some(unique),
        })
    };
    let unique = match expect {
        Expect::Absent => {
            *command = "add";
            return Ok(match connection.add(key, value, exptime).await? {
                Added::Stored => SaveOutcome::Saved { version: None },
                Added::NotStored => SaveOutcome::Exists,
            });
        }
        Expect::Loaded {
            version: Some(unique),
            ..
        } => unique,
        Expect::Loaded {
            value: base,
            version: None,
        } => {
            *command = "gets";
            match connection.gets(key, max).await? {
                None => return Ok(SaveOutcome::Gone),
                Some((current, unique)) if current != base => return Ok(changed(current, unique)),
                Some((_, unique)) => unique,
            }
        }
    };
    *command = "cas";
    match connection.cas(key, value, exptime, unique).await? {
        // memcached does not say which unique the new value got.
        Swapped::Stored => Ok(SaveOutcome::Saved { version: None }),
        Swapped::NotFound => Ok(SaveOutcome::Gone),
        Swapped::Exists => {
            *command = "gets";
            Ok(match connection.gets(key, max).await? {
                Some((current, unique)) => changed(current, unique),
                // Deleted between the two commands.
                None => SaveOutcome::Gone,
            })
        }
    }
}

/// memcached's exptime for a time to live of `ttl` from `now`: whole
/// seconds rounded up, plus one for memcached's one-second clock, and a
/// Unix time when that is over 30 days (capped at 2038-01-19, the largest
/// exptime memcached parses).
fn exptime(ttl: Duration, now: SystemTime) -> u32 {
    let secs = ttl
        .as_secs()
        .saturating_add(u64::from(ttl.subsec_nanos() > 0))
        .saturating_add(1);
    let exptime = if secs <= RELATIVE_EXPTIME_MAX {
        secs
    } else {
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        now.saturating_add(secs)
    };
    exptime.min(i32::MAX as u64) as u32
}

/// Refuses a key memcached's text protocol cannot carry as one key.
fn check_key(key: &str) -> Result<(), MemcacheStoreError> {
    let reason = if key.is_empty() {
        "it is empty"
    } else if key.len() > KEY_MAX {
        "it is longer than 250 bytes"
    } else if !key.bytes().all(|b| b.is_ascii_graphic()) {
        "it holds a space, a control character or a non-ASCII character"
    } else {
        return Ok(());
    };
    Err(MemcacheStoreError::InvalidKey {
        key: quoted(key.as_bytes(), 80),
        reason,
    })
}

/// Refuses a server that is not `host:port`.
fn check_server(server: &str) -> Result<(), MemcacheStoreError> {
    let invalid = |reason| MemcacheStoreError::InvalidServer {
        server: server.to_string(),
        reason,
    };
    let (host, port) = server
        .rsplit_once(':')
        .ok_or_else(|| invalid("expected `host:port`, e.g. `127.0.0.1:11211`"))?;
    if host.is_empty() {
        return Err(invalid("the host is empty"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(invalid(
            "write an IPv6 address in brackets, e.g. `[::1]:11211`",
        ));
    }
    if host.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(invalid("the host holds a space or a control character"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(invalid("the port is not a number from 1 to 65535")),
    }
}
