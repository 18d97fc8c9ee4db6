//! [`RedisStore`]: sessions in Redis or Redis Cluster, readable by
//! sanic-session.
//!
//! # Four ways in
//!
//! * [`RedisStore::new`] takes a connection you built and that can be cloned:
//!   a [`ConnectionManager`] (reconnects by itself — the usual choice, and
//!   the analogue of sanic-session's `AIORedisSessionInterface(redis)`), a
//!   [`ClusterConnection`](redis::cluster_async::ClusterConnection) for Redis
//!   Cluster, or a `MultiplexedConnection` (which does not reconnect).
//! * [`RedisStore::from_getter`] takes an async function that returns a
//!   connection for each call, for a pool you manage yourself (the analogue
//!   of sanic-session's `RedisSessionInterface(redis_getter)`).
//! * [`RedisStore::from_url`] and [`RedisStore::from_cluster_nodes`] build
//!   the connection for you.
//! * [`RedisStore::from_sentinel`] (or
//!   [`from_sentinel_client`](RedisStore::from_sentinel_client)) asks Redis
//!   Sentinels for the master, and asks again when the connection to it
//!   fails, so the store follows a failover by itself.
//!
//! # TLS
//!
//! With the `redis-tls` feature, [`RedisStore::from_url`] also takes
//! `rediss://host:port[/db]` URLs: TLS 1.2 or 1.3 through rustls (no
//! OpenSSL needed), trusting the system's CA certificates.
//! [`RedisStore::from_url_with_tls`][from_url_with_tls] takes a
//! [`TlsCertificates`][TlsCertificates] as well, for the two things
//! a private deployment usually needs:
//!
//! * **A private CA**: its certificate (PEM, one or more) as `root_cert`;
//!   then only those CAs are trusted, not the system's.
//! * **A client certificate**, for a Redis with `tls-auth-clients yes` (its
//!   default once TLS is on): `client_tls`, a
//!   [`ClientTlsConfig`][ClientTlsConfig] with the PEM certificate
//!   chain and its PEM private key.
//!
//! The server's certificate must name the URL's host: a DNS name, or for
//! `rediss://10.0.0.5` that IP address as a subject alternative name. A
//! server the client does not trust fails the constructor with an I/O error
//! that says why (`invalid peer certificate: UnknownIssuer`), and so does a
//! server that wants a client certificate it was not given (over TLS 1.3,
//! `received fatal alert: CertificateRequired`).
//!
//! rustls needs a process-wide crypto provider: [`RedisStore::from_url`]
//! and [`RedisStore::from_url_with_tls`][from_url_with_tls], given a
//! `rediss://` URL, install ring's unless the program installed one before
//! (to use another, such as aws-lc-rs, install it with
//! `rustls::crypto::CryptoProvider::install_default` before building the
//! store). Any other TLS connection (one you build for
//! [`RedisStore::new`] or [`RedisStore::from_getter`], or `rediss://` nodes
//! given to [`RedisStore::from_cluster_nodes`]) gets ring by rustls's own
//! choice when ring is the only provider compiled in; otherwise install one
//! first.
//!
//! # Commands
//!
//! Each store call is one command, so one round trip:
//!
//! | call | command |
//! |---|---|
//! | `load`, `load_versioned` | `GETEX key EX ttl` (reads and slides the expiry in one trip) |
//! | `save` | `SET key value EX ttl` |
//! | `save_if`, new session | `SET key value NX EX ttl` (only where nothing is) |
//! | `save_if`, loaded session | `EVALSHA` of a short script (below) |
//! | `delete` | `DEL key` |
//!
//! Nothing else is sent per request (no `EXISTS`, `TTL` or `PING`).
//! The owner index calls, which the layer makes only at a login, a logout
//! or a "log out everywhere", are described [below](#owner-indexes).
//!
//! # Compare-and-set
//!
//! A loaded session is saved by a Lua script that Redis runs atomically: it
//! reads the key, writes the new value with its TTL only if the key still
//! holds the bytes that were loaded, and otherwise answers what it holds now
//! (or that it is gone), so a conflict costs no extra round trip to learn
//! the other writer's value. The script touches only its one key, so it runs
//! on Redis Cluster as well. It is called by its SHA-1 (`EVALSHA`); a Redis
//! that does not know it (restarted, failed over, or after `SCRIPT FLUSH`)
//! answers `NOSCRIPT`, and the call is repeated once as `EVAL` with the
//! script's text, which also caches it again. The value format does not
//! change: a plain string key, as sanic-session reads and writes it.
//! `GETEX` needs Redis 6.2 or later (or a compatible server such as Valkey).
//! A TTL that is not a whole number of seconds is sent as `PX` milliseconds,
//! rounded up.
//!
//! Keys are `prefix + id`, values the session's compact JSON object, and the
//! TTL is the session's expiry: the format sanic-session's Redis interfaces
//! use (`SETEX key expiry value`, read with `GET`), so a sessionkit service
//! and a sanic-session service sharing a Redis and a prefix read each other's
//! sessions. Keys and values are sent as separate arguments of the Redis
//! protocol, so their bytes can never be read as another command; the layer
//! builds keys only from ids it has validated (32 lowercase hex characters).
//!
//! A key holding another type than a string (a hash, a list) makes `GETEX`
//! fail with `WRONGTYPE`: that is reported as a permanent store error,
//! because it means the session prefix collides with other data in the
//! database.
//!
//! With `hash_ids: true` in the session's config the key is the prefix and
//! the SHA-256 of the id, 64 lowercase hex characters: still one plain
//! key, so in a Redis Cluster each session stays in one slot (there is no
//! `{` in the hash to make a hash tag). sanic-session does not find such a
//! key.
//!
//! # Owner indexes
//!
//! The store keeps owner indexes ([`SessionStore::owner_index`] is `true`,
//! whatever the connection: a single Redis, Sentinel or Cluster). An index
//! is one Redis hash, under the key the layer names (`prefix + "owner:" +
//! owner`), so on Redis Cluster it lives in one slot:
//!
//! | field | value |
//! |---|---|
//! | a session's store key | `<until> <value>`: the session's `until` in decimal seconds since the Unix epoch, one space, then the layer's value bytes as they are |
//!
//! The hash expires (`EXPIREAT`) at its latest entry's `until`, so it never
//! outlives its sessions.
//!
//! | call | commands |
//! |---|---|
//! | `index_add` | one script (`EVALSHA`, or `EVAL` after `NOSCRIPT`, as for compare-and-set): `HSET` the entry, `HGETALL`, `HDEL` the entries whose `until` has passed, and over `max` those with the earliest `until` (answered, for the layer to delete), then `EXPIREAT` the latest `until` (or `DEL`, left empty) |
//! | `index_remove` | one script: `HDEL` each key (Redis deletes a hash left empty), then `EXPIREAT` the latest `until` left |
//! | `index_list` | `HGETALL`, then one `PTTL` per session key, sent at once (on Cluster each goes to the node of its own slot), then the `index_remove` script for the entries that are gone (`PTTL` answers -2, or their `until` has passed), if any |
//!
//! "Now", which `index_add` compares each `until` with, is the client's
//! clock, sent as an argument, not Redis's `TIME`: `until` is computed by
//! the layer from that same clock, so one clock decides both, and the
//! script's effect depends only on its arguments. `EXPIREAT` is read by
//! Redis's clock; with clocks in step, the two agree.
//!
//! A session key that exists without an expiry (`PTTL` answers -1; this
//! store never writes one, but another client may have) is listed as
//! alive, with the time left to its `until` as its time to live: a "log out
//! everywhere" must find it to end it.
//!
//! # Failures
//!
//! Every call is bounded by a timeout ([`RedisStore::DEFAULT_TIMEOUT`], set
//! with [`RedisStore::with_timeout`]) covering getting a connection and the
//! command's answer. A timeout, a refused or dropped connection, or an error
//! reply becomes a [`StoreError`] whose source is a [`RedisStoreError`]
//! (which keeps the [`RedisError`] as its own source, unless its text may
//! quote a session id: then its message ends with that text, redacted);
//! the layer then answers with its error policy. The
//! error's [class](RedisStoreError::class) says which: transient (`503
//! Service Unavailable` by default) when Redis is unreachable, slow, busy,
//! loading or failing over, permanent (`500` by default) when retrying
//! cannot help, such as a value over the size limit or an error reply like
//! `WRONGTYPE`. A save that timed out may still have reached Redis; the
//! response reports the failure either way, never a success that was not
//! acknowledged.
//!
//! No error message holds a whole session id: Redis quotes the arguments of
//! a command it does not know (`GETEX` on a server older than 6.2), so the
//! text of an error reply is shown with every run of more than four hex
//! digits cut to its first four, as [`redact_key`](super::redact_key) shows
//! a key. A reply of an unexpected type is reported without its content,
//! which may be session data.
//!
//! With a [`ConnectionManager`], requests succeed again once Redis is back,
//! without rebuilding the store: the manager reconnects in the background.
//! With [`RedisStore::from_sentinel`], they succeed again once the Sentinels
//! name a master that answers, the old one or a promoted replica.
//!
//! [`ConnectionManager`]: redis::aio::ConnectionManager
#![cfg_attr(
    feature = "redis-tls",
    doc = "[from_url_with_tls]: RedisStore::from_url_with_tls\n\
           [TlsCertificates]: redis::TlsCertificates\n\
           [ClientTlsConfig]: redis::ClientTlsConfig"
)]
// Without `redis-tls` these items do not exist: the links go to the TLS section.
#![cfg_attr(
    not(feature = "redis-tls"),
    doc = "[from_url_with_tls]: self#tls\n[TlsCertificates]: self#tls\n[ClientTlsConfig]: self#tls"
)]

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use ::redis::cluster::ClusterClient;
use ::redis::sentinel::{SentinelClient, SentinelServerType};
use ::redis::{
    AsyncConnectionConfig, Cmd, ErrorKind, IntoConnectionInfo, RedisError, RedisResult,
    ServerErrorKind, Value,
};

use super::{Expect, IndexEntry, SaveOutcome, SessionStore, StoreFuture, Stored};
use crate::{ErrorClass, StoreError};

/// The `redis` crate this store is built on, for the connections and
/// clients its constructors take.
pub use ::redis as client;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Writes `ARGV[2]` with a TTL of `ARGV[3]` milliseconds under `KEYS[1]` if
/// it holds exactly `ARGV[1]`. Answers 1 when written, 0 when the key is
/// gone, and otherwise what the key holds, as a one-element array.
const SAVE_IF_LOADED: &str = "\
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if current ~= ARGV[1] then return {current} end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

/// The SHA-1 `EVALSHA` names [`SAVE_IF_LOADED`] by.
fn save_if_loaded_sha() -> &'static str {
    static SHA: OnceLock<String> = OnceLock::new();
    sha_of(&SHA, SAVE_IF_LOADED)
}

/// The SHA-1 of `script`, computed once into `cell`.
fn sha_of(cell: &'static OnceLock<String>, script: &str) -> &'static str {
    cell.get_or_init(|| ::redis::Script::new(script).get_hash().to_owned())
}

/// The Lua that the owner index scripts share: the `until` at the start of
/// an index field's value (`<until> <value>`), as a number and as the
/// digits themselves, or nil for a value not of that form; and `EXPIREAT`
/// of `KEYS[1]` at those digits (kept as text: a Lua number would be sent
/// as a float), capped at the year 9999, which Redis takes.
const INDEX_LUA_HELPERS: &str = "\
local function until_of(field_value)
  local digits = string.match(field_value, '^(%d+) ')
  if not digits then return nil, nil end
  return tonumber(digits), digits
end
local function expire_at(digits)
  if tonumber(digits) > 253402300799 then digits = '253402300799' end
  redis.call('EXPIREAT', KEYS[1], digits)
end
";

/// Puts the owner index entry `ARGV[1]` (a session key) with the value
/// `ARGV[2] .. ' ' .. ARGV[3]` (until, value) in the hash `KEYS[1]`; drops
/// the entries whose until is at most `ARGV[5]` (now) and any without an
/// until; when more than `ARGV[4]` remain, drops those with the earliest
/// until and answers their keys; then sets the hash to expire at its
/// latest until (or deletes it, left empty).
const INDEX_ADD_BODY: &str = "\
local now = tonumber(ARGV[5])
local max = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
local flat = redis.call('HGETALL', KEYS[1])
local live = {}
for i = 1, #flat, 2 do
  local u, digits = until_of(flat[i + 1])
  if u and u > now then
    live[#live + 1] = {flat[i], u, digits}
  else
    redis.call('HDEL', KEYS[1], flat[i])
  end
end
local evicted = {}
if #live > max then
  table.sort(live, function(a, b) return a[2] < b[2] end)
  for i = 1, #live - max do
    evicted[i] = live[i][1]
    redis.call('HDEL', KEYS[1], live[i][1])
  end
end
local latest = nil
for i = #evicted + 1, #live do
  if not latest or live[i][2] > latest[2] then latest = live[i] end
end
if latest then
  expire_at(latest[3])
else
  redis.call('DEL', KEYS[1])
end
return evicted
";

/// Removes the owner index entries `ARGV` from the hash `KEYS[1]` (Redis
/// deletes a hash whose last field goes), and sets what is left to expire
/// at its latest until.
const INDEX_REMOVE_BODY: &str = "\
for i = 1, #ARGV do
  redis.call('HDEL', KEYS[1], ARGV[i])
end
local flat = redis.call('HGETALL', KEYS[1])
local latest, latest_digits = nil, nil
for i = 2, #flat, 2 do
  local u, digits = until_of(flat[i])
  if u and (not latest or u > latest) then latest, latest_digits = u, digits end
end
if latest_digits then expire_at(latest_digits) end
return 0
";

/// [`INDEX_ADD_BODY`] with the helpers, as sent.
fn index_add_script() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| format!("{INDEX_LUA_HELPERS}{INDEX_ADD_BODY}"))
}

/// [`INDEX_REMOVE_BODY`] with the helpers, as sent.
fn index_remove_script() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| format!("{INDEX_LUA_HELPERS}{INDEX_REMOVE_BODY}"))
}

fn index_add_sha() -> &'static str {
    static SHA: OnceLock<String> = OnceLock::new();
    sha_of(&SHA, index_add_script())
}

fn index_remove_sha() -> &'static str {
    static SHA: OnceLock<String> = OnceLock::new();
    sha_of(&SHA, index_remove_script())
}

/// Whether `hex` is the SHA-1 of one of the store's scripts, which Redis
/// names in a script's errors.
fn is_script_sha(hex: &str) -> bool {
    [save_if_loaded_sha(), index_add_sha(), index_remove_sha()].contains(&hex)
}

/// Installs ring as rustls's crypto provider for this process, unless one
/// is installed already. The `redis` crate's TLS connections use the process's
/// provider, and rustls can pick none by itself (and panics when asked)
/// when its `aws-lc-rs` feature is on as well as `ring`.
#[cfg(feature = "redis-tls")]
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread installing one first is fine: that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A session store in Redis or Redis Cluster.
///
/// Cloning is cheap; clones share the connection (or getter). See the
/// [module docs](self) for the commands it sends and how it fails.
///
/// ```no_run
/// use axum::{routing::get, Router};
/// use sessionkit::{store::redis::RedisStore, SessionLayer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::from_url("redis://127.0.0.1:6379").await?;
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(SessionLayer::new(store));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    source: Connection,
    timeout: Duration,
    max_value_size: usize,
}

impl RedisStore {
    /// How long a call may take, by default, before it fails: 1 second.
    ///
    /// Redis answers a `GETEX` or `SET` of a session in well under a
    /// millisecond; a call that takes a second means Redis is down, stuck or
    /// unreachable, and a prompt `503` is better than a request that hangs.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

    /// The largest encoded session value a save accepts, by default: 64 KiB.
    ///
    /// A session is read in full by every request that uses it and written
    /// in full by every request that changes it, and Redis keeps it in memory
    /// for as long as the visitor's expiry. Real sessions (an id, a few
    /// flags, a cart) are well under a kilobyte, so 64 KiB leaves two orders
    /// of magnitude of headroom, while a runaway session (a list appended to
    /// on every request) is stopped before it makes each request of that
    /// visitor slow (64 KiB is about half a millisecond of a 1 Gbit/s link,
    /// each way) and before many of them fill Redis's memory. Redis's own
    /// limit, 512 MB a value, protects nothing here.
    pub const DEFAULT_MAX_VALUE_SIZE: usize = 64 * 1024;

    /// A store over a connection that can be cloned, one clone per call: a
    /// [`ConnectionManager`] (reconnects after Redis restarts or the network
    /// drops: the usual choice), a
    /// [`ClusterConnection`](redis::cluster_async::ClusterConnection) for
    /// Redis Cluster, or a
    /// [`MultiplexedConnection`] (which does **not** reconnect: once its
    /// socket breaks, every call fails).
    ///
    /// ```no_run
    /// use sessionkit::store::redis::client::{aio::ConnectionManager, Client};
    /// use sessionkit::store::redis::RedisStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sessionkit::store::redis::client::RedisError> {
    /// let client = Client::open("redis://127.0.0.1:6379")?;
    /// let manager = ConnectionManager::new(client).await?;
    /// let store = RedisStore::new(manager);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`ConnectionManager`]: redis::aio::ConnectionManager
    pub fn new<C>(connection: C) -> Self
    where
        C: ConnectionLike + Clone + Send + Sync + 'static,
    {
        match (&connection as &dyn Any).downcast_ref::<ConnectionManager>() {
            Some(manager) => Self::with_connection(Connection::Managed(manager.clone())),
            None => Self::with_source(Arc::new(Cloned(connection))),
        }
    }

    /// A store that asks `getter` for a connection on every call: for a pool
    /// you manage yourself (deadpool-redis's `Connection`, say). The getter's
    /// error fails the call like a command error does, and the time it takes
    /// counts towards the [timeout](Self::with_timeout).
    ///
    /// ```no_run
    /// use sessionkit::store::redis::client::{aio::MultiplexedConnection, Client, RedisResult};
    /// use sessionkit::store::redis::RedisStore;
    ///
    /// // Stands for your pool: anything that hands out connections.
    /// #[derive(Clone)]
    /// struct Pool(Client);
    ///
    /// impl Pool {
    ///     async fn get(&self) -> RedisResult<MultiplexedConnection> {
    ///         self.0.get_multiplexed_async_connection().await
    ///     }
    /// }
    ///
    /// # fn main() -> RedisResult<()> {
    /// let pool = Pool(Client::open("redis://127.0.0.1:6379")?);
    /// let store = RedisStore::from_getter(move || {
    ///     let pool = pool.clone();
    ///     async move { pool.get().await }
    /// });
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_getter<F, Fut, C>(getter: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = RedisResult<C>> + Send + 'static,
        C: ConnectionLike + Send + 'static,
    {
        Self::with_source(Arc::new(Getter {
            getter,
            _types: PhantomData,
        }))
    }

    /// Connects to the Redis at `url` (`redis://[user:password@]host:port[/db]`,
    /// or `rediss://` for TLS with the `redis-tls` feature: see
    /// [TLS](self#tls)) through a [`ConnectionManager`] that
    /// reconnects by itself, retrying with a delay of at most a second, so
    /// requests succeed again within about a second of Redis coming back.
    ///
    /// Fails when the URL is invalid or the server cannot be reached now
    /// (after the manager's retries, a few seconds).
    ///
    /// ```no_run
    /// use sessionkit::store::redis::RedisStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sessionkit::store::redis::client::RedisError> {
    /// let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    /// let store = RedisStore::from_url(&url).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn from_url(url: &str) -> Result<Self, RedisError> {
        Self::managed(::redis::Client::open(url)?).await
    }

    /// Connects to the Redis at `url` (`rediss://host:port[/db]`) over TLS,
    /// like [`from_url`](Self::from_url), trusting the CA certificates of
    /// `certificates.root_cert` (PEM; `None`: the system's) and presenting
    /// `certificates.client_tls` (a PEM certificate chain and its PEM
    /// private key) when Redis asks for a client certificate
    /// (`tls-auth-clients`). See [TLS](self#tls).
    ///
    /// Fails when the URL is not `rediss://`, a PEM does not parse, or the
    /// server cannot be reached or its certificate is not trusted (after
    /// the manager's retries, a few seconds).
    ///
    /// ```no_run
    /// use sessionkit::store::redis::client::{ClientTlsConfig, TlsCertificates};
    /// use sessionkit::store::redis::RedisStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let certificates = TlsCertificates {
    ///     // The private CA that signed the server's certificate.
    ///     root_cert: Some(std::fs::read("/etc/redis/tls/ca.crt")?),
    ///     // For `tls-auth-clients yes`; `None` otherwise.
    ///     client_tls: Some(ClientTlsConfig {
    ///         client_cert: std::fs::read("/etc/redis/tls/client.crt")?,
    ///         client_key: std::fs::read("/etc/redis/tls/client.key")?,
    ///     }),
    /// };
    /// let store = RedisStore::from_url_with_tls("rediss://redis.internal:6380", certificates).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "redis-tls")]
    pub async fn from_url_with_tls(
        url: &str,
        certificates: ::redis::TlsCertificates,
    ) -> Result<Self, RedisError> {
        Self::managed(::redis::Client::build_with_tls(url, certificates)?).await
    }

    /// A store over a [`ConnectionManager`] of `client`, connected now.
    async fn managed(client: ::redis::Client) -> Result<Self, RedisError> {
        #[cfg(feature = "redis-tls")]
        if matches!(
            client.get_connection_info().addr(),
            ::redis::ConnectionAddr::TcpTls { .. }
        ) {
            install_crypto_provider();
        }
        // No response timeout: the store's timeout bounds every call (and
        // the manager's would only fail it with an I/O error instead, for
        // one timer more per command). The connection timeout bounds each
        // attempt to connect, its handshake included.
        let config = ConnectionManagerConfig::new()
            .set_max_delay(Duration::from_secs(1))
            .set_connection_timeout(Some(Self::DEFAULT_TIMEOUT))
            .set_response_timeout(None);
        let manager = ConnectionManager::new_with_config(client, config).await?;
        Ok(Self::new(manager))
    }

    /// Connects to the Redis Cluster that `nodes` belong to (one reachable
    /// node is enough; the others are discovered), through a
    /// [`ClusterConnection`](redis::cluster_async::ClusterConnection) that
    /// follows slot moves and reconnects to nodes by itself. Each session is
    /// one key, so it lives in one slot on one master.
    ///
    /// ```no_run
    /// use sessionkit::store::redis::RedisStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sessionkit::store::redis::client::RedisError> {
    /// let store = RedisStore::from_cluster_nodes([
    ///     "redis://10.0.0.1:6379",
    ///     "redis://10.0.0.2:6379",
    ///     "redis://10.0.0.3:6379",
    /// ])
    /// .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn from_cluster_nodes<I>(nodes: I) -> Result<Self, RedisError>
    where
        I: IntoIterator,
        I::Item: IntoConnectionInfo,
    {
        let client = ClusterClient::builder(nodes)
            .connection_timeout(Self::DEFAULT_TIMEOUT)
            .response_timeout(Self::DEFAULT_TIMEOUT)
            .build()?;
        let connection = client.get_async_connection().await?;
        Ok(Self::new(connection))
    }

    /// Connects to the master that the Redis Sentinels at `sentinels` know
    /// as `master_name`, and follows it when they fail over to a replica,
    /// without rebuilding the store.
    ///
    /// The store keeps one connection to the master. When a call on it fails
    /// on I/O (the master went away), is answered `READONLY` or `MASTERDOWN`
    /// (the server was demoted to a replica), or gets no answer within the
    /// [timeout](Self::with_timeout), that call fails (a transient error: the
    /// `503` policy) and the connection is dropped; the next call asks the
    /// Sentinels for the master again (`SENTINEL MASTERS`, then `ROLE` on
    /// the server they name) and connects to it. One lookup runs at a time:
    /// calls that come while it runs wait for it and take its result,
    /// failure included, rather than each asking again. While the Sentinels
    /// have not yet promoted a replica, the lookup fails and so do the
    /// calls, transiently, each within the timeout. Calls on a healthy
    /// master send nothing more than their one command.
    ///
    /// `sentinels` are Sentinel addresses (`redis://host:26379`), not Redis
    /// servers. The connection to the master has no timeouts of its own:
    /// the store's [timeout](Self::with_timeout) bounds each call, whatever
    /// it is set to, and a call that outlasts it drops the connection. (The
    /// lookup's own connections, to the Sentinels and to check the master's
    /// role, get the `redis` crate's defaults: 1 s to connect, 500 ms for an
    /// answer.) For a master that needs a password or TLS (with the `redis`
    /// crate's TLS features enabled), or a database other than 0,
    /// build a [`SentinelClient`] yourself and use
    /// [`from_sentinel_client`](Self::from_sentinel_client).
    ///
    /// Fails when the addresses are invalid, or when no Sentinel can be
    /// reached or names a master by that name now.
    ///
    /// ```no_run
    /// use sessionkit::store::redis::RedisStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sessionkit::store::redis::client::RedisError> {
    /// let store = RedisStore::from_sentinel(
    ///     [
    ///         "redis://10.0.0.1:26379",
    ///         "redis://10.0.0.2:26379",
    ///         "redis://10.0.0.3:26379",
    ///     ],
    ///     "mymaster",
    /// )
    /// .await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`SentinelClient`]: redis::sentinel::SentinelClient
    pub async fn from_sentinel<I>(sentinels: I, master_name: &str) -> Result<Self, RedisError>
    where
        I: IntoIterator,
        I::Item: IntoConnectionInfo,
    {
        let client = SentinelClient::build(
            sentinels.into_iter().collect(),
            // A `String` without the `redis` crate's TLS support, any
            // `AsRef<str>` with it: a `String` is both.
            String::from(master_name),
            None,
            SentinelServerType::Master,
        )?;
        Self::from_sentinel_client(client).await
    }

    /// Like [`from_sentinel`](Self::from_sentinel), with a
    /// [`SentinelClient`] you built: for a master that needs a password,
    /// TLS (with the `redis` crate's TLS features enabled) or another
    /// database ([`SentinelClientBuilder`](redis::sentinel::SentinelClientBuilder)
    /// sets those for the Sentinels and for the master separately). The
    /// client must be for [`SentinelServerType::Master`]: sessions are
    /// written on every call, and a replica refuses writes.
    ///
    /// Fails when no Sentinel can be reached or names the master now.
    ///
    /// ```no_run
    /// use sessionkit::store::redis::client::sentinel::{SentinelClientBuilder, SentinelServerType};
    /// use sessionkit::store::redis::client::ConnectionAddr;
    /// use sessionkit::store::redis::RedisStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sessionkit::store::redis::client::RedisError> {
    /// let sentinels = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    ///     .map(|host| ConnectionAddr::Tcp(host.to_string(), 26379));
    /// let client = SentinelClientBuilder::new(sentinels, "mymaster", SentinelServerType::Master)?
    ///     .set_client_to_redis_password("secret")
    ///     .build()?;
    /// let store = RedisStore::from_sentinel_client(client).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`SentinelClient`]: redis::sentinel::SentinelClient
    /// [`SentinelServerType::Master`]: redis::sentinel::SentinelServerType::Master
    pub async fn from_sentinel_client(client: SentinelClient) -> Result<Self, RedisError> {
        let source = SentinelMaster {
            client: tokio::sync::Mutex::new(client),
            state: std::sync::Mutex::new(MasterState::default()),
            // The store's timeout bounds every call, and one that outlasts
            // it drops the connection: see `Unanswered`.
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(None)
                .set_response_timeout(None),
        };
        source.master().await?;
        Ok(Self::with_source(Arc::new(source)))
    }

    fn with_source(source: Arc<dyn Source>) -> Self {
        Self::with_connection(Connection::Source(source))
    }

    fn with_connection(source: Connection) -> Self {
        RedisStore {
            source,
            timeout: Self::DEFAULT_TIMEOUT,
            max_value_size: Self::DEFAULT_MAX_VALUE_SIZE,
        }
    }

    /// Fails a call that has not finished within `timeout` (getting the
    /// connection included). Default: [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT).
    ///
    /// Every request that uses a session waits up to this long when Redis
    /// does not answer, so keep it short. The connection's own timeouts
    /// apply as well: the `redis` crate gives a
    /// [`ConnectionManager`] a response
    /// timeout of 500 ms unless its config says otherwise, and
    /// [`from_cluster_nodes`](Self::from_cluster_nodes) sets its to
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT); to wait longer than those,
    /// build the connection yourself. [`from_url`](Self::from_url) and
    /// [`from_sentinel`](Self::from_sentinel) set none on their
    /// connections' answers, so this timeout alone bounds their calls
    /// (`from_url`'s manager still gives up on an attempt to connect after
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT), and tries again).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use sessionkit::store::redis::RedisStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sessionkit::store::redis::client::RedisError> {
    /// let store = RedisStore::from_url("redis://127.0.0.1:6379")
    ///     .await?
    ///     .with_timeout(Duration::from_millis(250));
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Refuses to save an encoded session larger than `bytes`: the save
    /// fails with [`RedisStoreError::ValueTooLarge`], a
    /// [permanent](crate::ErrorClass::Permanent) error, before anything is
    /// sent, so the stored session stays as it was. The layer, told the
    /// limit by [`SessionStore::max_value_size`], refuses such a session
    /// itself. Default:
    /// [`DEFAULT_MAX_VALUE_SIZE`](Self::DEFAULT_MAX_VALUE_SIZE), which
    /// explains the choice.
    ///
    /// ```no_run
    /// use sessionkit::store::redis::RedisStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sessionkit::store::redis::client::RedisError> {
    /// let store = RedisStore::from_url("redis://127.0.0.1:6379")
    ///     .await?
    ///     .with_max_value_size(16 * 1024);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }

    /// The timeout of each call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The largest encoded session a save accepts, in bytes.
    pub fn max_value_size(&self) -> usize {
        self.max_value_size
    }

    /// `GETEX key EX ttl`: the value, its expiry slid, in one round trip.
    async fn getex(&self, key: &str, ttl: Duration) -> Result<Option<Vec<u8>>, RedisStoreError> {
        let mut cmd = command("GETEX", 1 + EXPIRY_ARGS, key.len() + EXPIRY_BYTES);
        cmd.arg(key);
        expiry_args(&mut cmd, ttl);
        match self.run("GETEX", cmd).await? {
            Value::Nil => Ok(None),
            Value::BulkString(value) => Ok(Some(value)),
            _ => Err(unexpected_reply("GETEX")),
        }
    }

    /// Refuses a value over the size limit, before anything is sent.
    fn check_size(&self, value: &[u8]) -> Result<(), RedisStoreError> {
        if value.len() > self.max_value_size {
            return Err(RedisStoreError::ValueTooLarge {
                size: value.len(),
                max: self.max_value_size,
            });
        }
        Ok(())
    }

    /// Runs the script `text` by its SHA-1 `sha` (`EVALSHA`), or by its
    /// text (`EVAL`, which also caches it again) when Redis does not know
    /// it; `args` appends the key count, the keys and the arguments:
    /// `size.0` of them, of at most `size.1` bytes in all (the room the
    /// command reserves for them).
    async fn eval(
        &self,
        text: &str,
        sha: &str,
        size: (usize, usize),
        args: impl Fn(&mut Cmd) + Send,
    ) -> Result<Value, RedisStoreError> {
        let script = |name: &'static str, script: &str| {
            let mut cmd = command(name, 1 + size.0, script.len() + size.1);
            cmd.arg(script);
            args(&mut cmd);
            cmd
        };
        match self.run("EVALSHA", script("EVALSHA", sha)).await {
            Err(RedisStoreError::Command { source, .. })
                if source.kind() == ErrorKind::Server(ServerErrorKind::NoScript) =>
            {
                self.run("EVAL", script("EVAL", text)).await
            }
            answer => answer,
        }
    }

    /// Removes the owner index entries `keys` from `index`, setting what is
    /// left to expire at its latest `until`.
    async fn index_remove_keys(&self, index: &str, keys: &[&str]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let bytes = 1 + index.len() + keys.iter().map(|key| key.len()).sum::<usize>();
        let answer = self
            .eval(
                index_remove_script(),
                index_remove_sha(),
                (2 + keys.len(), bytes),
                |cmd| {
                    cmd.arg(1).arg(index).arg(keys);
                },
            )
            .await?;
        match answer {
            Value::Int(0) => Ok(()),
            _ => Err(unexpected_reply("EVALSHA").into()),
        }
    }

    /// Sends `cmd` within the timeout; its answer, an error answer (or one
    /// holding an error) being an error.
    async fn run(&self, command: &'static str, cmd: Cmd) -> Result<Value, RedisStoreError> {
        let timeout = self.timeout;
        let answer = match &self.source {
            Connection::Managed(manager) => {
                tokio::time::timeout(timeout, managed_query(manager.clone(), cmd)).await
            }
            Connection::Source(source) => tokio::time::timeout(timeout, source.query(cmd)).await,
        };
        let value = match answer {
            Ok(Ok(value)) => value,
            Ok(Err(Failure::Connect(source))) => {
                return Err(RedisStoreError::Connect { command, source })
            }
            Ok(Err(Failure::Command(source))) => {
                return Err(RedisStoreError::Command { command, source })
            }
            Err(_elapsed) => return Err(RedisStoreError::Timeout { command, timeout }),
        };
        Ok(value)
    }
}

/// The error for an answer of the compare-and-set script other than the
/// three it gives. Not printed: it may hold session data.
fn unexpected_script_answer() -> StoreError {
    StoreError::new("Redis: unexpected answer from the compare-and-set script").permanent()
}

/// The error for a reply that is not one `command` gives (of another type,
/// or a value the store has no meaning for). The reply is not shown: it may
/// hold session data.
fn unexpected_reply(command: &'static str) -> RedisStoreError {
    RedisStoreError::Command {
        command,
        source: RedisError::from((
            ErrorKind::UnexpectedReturnType,
            "the reply is not one the command gives (not shown: it may hold session data)",
        )),
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("connection", &self.source.describe())
            .field("timeout", &self.timeout)
            .field("max_value_size", &self.max_value_size)
            .finish()
    }
}

impl SessionStore for RedisStore {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        StoreFuture::new(async move { Ok(self.getex(key, ttl).await?) })
    }

    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        StoreFuture::new(async move {
            self.check_size(value)?;
            let mut cmd = command(
                "SET",
                2 + EXPIRY_ARGS,
                key.len() + value.len() + EXPIRY_BYTES,
            );
            cmd.arg(key).arg(value);
            expiry_args(&mut cmd, ttl);
            match self.run("SET", cmd).await? {
                Value::Okay => Ok(()),
                _ => Err(unexpected_reply("SET").into()),
            }
        })
    }

    fn load_versioned<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Option<Stored>> {
        StoreFuture::new(async move {
            let value = self.getex(key, ttl).await?;
            Ok(value.map(|value| Stored {
                value,
                version: None,
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
            let base = match expect {
                Expect::Absent => {
                    let mut cmd = command(
                        "SET",
                        3 + EXPIRY_ARGS,
                        key.len() + value.len() + 2 + EXPIRY_BYTES,
                    );
                    cmd.arg(key).arg(value).arg("NX");
                    expiry_args(&mut cmd, ttl);
                    return match self.run("SET", cmd).await? {
                        Value::Okay => Ok(SaveOutcome::Saved { version: None }),
                        Value::Nil => Ok(SaveOutcome::Exists),
                        _ => Err(unexpected_reply("SET").into()),
                    };
                }
                Expect::Loaded { value: base, .. } => base,
            };
            let millis =
                u64::try_from(ttl.as_nanos().div_ceil(1_000_000).max(1)).unwrap_or(u64::MAX);
            // The key count, the key, the two values and the TTL.
            let size = (5, 1 + key.len() + base.len() + value.len() + U64_DIGITS);
            let answer = self
                .eval(SAVE_IF_LOADED, save_if_loaded_sha(), size, |cmd| {
                    cmd.arg(1).arg(key).arg(base).arg(value).arg(millis);
                })
                .await?;
            // The script answers 1, 0 or `{current}`, a Lua string: a bulk
            // string in a one-element array. Nothing else is taken, and no
            // count or length is read from the answer.
            Ok(match answer {
                Value::Int(1) => SaveOutcome::Saved { version: None },
                Value::Int(0) => SaveOutcome::Gone,
                Value::Array(mut current) => match (current.pop(), current.is_empty()) {
                    (Some(Value::BulkString(value)), true) => SaveOutcome::Changed(Stored {
                        value,
                        version: None,
                    }),
                    _ => return Err(unexpected_script_answer()),
                },
                _ => return Err(unexpected_script_answer()),
            })
        })
    }

    fn compare_and_set(&self) -> bool {
        true
    }

    fn max_value_size(&self) -> Option<usize> {
        Some(self.max_value_size)
    }

    fn name(&self) -> &'static str {
        "redis"
    }

    /// `PING`, within the store's timeout (on Redis Cluster, routed as the
    /// `redis` crate routes it). Any answer that is not an error is `Ok`.
    fn ping(&self) -> StoreFuture<'_, ()> {
        StoreFuture::new(async move {
            self.run("PING", ::redis::cmd("PING")).await?;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        StoreFuture::new(async move {
            let mut cmd = command("DEL", 1, key.len());
            cmd.arg(key);
            match self.run("DEL", cmd).await? {
                Value::Int(_) => Ok(()),
                _ => Err(unexpected_reply("DEL").into()),
            }
        })
    }

    /// `true`, for every kind of connection: see
    /// [Owner indexes](self#owner-indexes).
    fn owner_index(&self) -> bool {
        true
    }

    fn index_add<'a>(
        &'a self,
        index: &'a str,
        key: &'a str,
        value: &'a [u8],
        until: u64,
        max: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        StoreFuture::new(async move {
            let now = unix_now_secs();
            // The key count, the index, the entry's key, until and value,
            // max and now.
            let bytes = 1 + index.len() + key.len() + value.len() + 3 * U64_DIGITS;
            let answer = self
                .eval(index_add_script(), index_add_sha(), (7, bytes), |cmd| {
                    cmd.arg(1)
                        .arg(index)
                        .arg(key)
                        .arg(until)
                        .arg(value)
                        .arg(max)
                        .arg(now);
                })
                .await?;
            let Value::Array(evicted) = answer else {
                return Err(unexpected_reply("EVALSHA").into());
            };
            evicted
                .into_iter()
                .map(|key| match key {
                    Value::BulkString(key) => {
                        String::from_utf8(key).map_err(|_| unexpected_reply("EVALSHA").into())
                    }
                    _ => Err(unexpected_reply("EVALSHA").into()),
                })
                .collect()
        })
    }

    fn index_remove<'a>(&'a self, index: &'a str, keys: &'a [String]) -> StoreFuture<'a, ()> {
        StoreFuture::new(async move {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            self.index_remove_keys(index, &keys).await
        })
    }

    fn index_list<'a>(&'a self, index: &'a str) -> StoreFuture<'a, Vec<IndexEntry>> {
        StoreFuture::new(async move {
            let mut cmd = ::redis::cmd("HGETALL");
            cmd.arg(index);
            let fields = match self.run("HGETALL", cmd).await? {
                Value::Array(flat) if flat.len() % 2 == 0 => {
                    let mut flat = flat.into_iter();
                    std::iter::from_fn(|| Some((flat.next()?, flat.next()?))).collect()
                }
                Value::Map(pairs) => pairs,
                _ => return Err(unexpected_reply("HGETALL").into()),
            };
            let now = unix_now_secs();
            let mut listed = Vec::with_capacity(fields.len());
            // Entries whose session is gone, or whose `until` has passed.
            let mut gone = Vec::new();
            for (key, entry) in fields {
                let (Value::BulkString(key), Value::BulkString(entry)) = (key, entry) else {
                    return Err(unexpected_reply("HGETALL").into());
                };
                // A field this store did not write is left alone.
                let Ok(key) = String::from_utf8(key) else {
                    continue;
                };
                match parse_index_value(&entry) {
                    Some((until, _)) if until <= now => gone.push(key),
                    Some((until, value)) => listed.push((key, until, value.to_vec())),
                    None => {}
                }
            }
            // Each session key lives in a slot of its own on Redis Cluster:
            // one `PTTL` each, all at once.
            let ttls = futures_util::future::join_all(listed.iter().map(|(key, _, _)| {
                let mut cmd = ::redis::cmd("PTTL");
                cmd.arg(key);
                self.run("PTTL", cmd)
            }))
            .await;
            let mut found = Vec::with_capacity(listed.len());
            for ((key, until, value), ttl) in listed.into_iter().zip(ttls) {
                let ttl = match ttl? {
                    Value::Int(-2) => {
                        gone.push(key);
                        continue;
                    }
                    // A session key without an expiry (this store never
                    // writes one): alive, for as long as its `until`
                    // allows.
                    Value::Int(-1) => Duration::from_secs(until.saturating_sub(now)),
                    Value::Int(ms) if ms >= 0 => Duration::from_millis(ms.unsigned_abs()),
                    _ => return Err(unexpected_reply("PTTL").into()),
                };
                found.push(IndexEntry { key, value, ttl });
            }
            let gone: Vec<&str> = gone.iter().map(String::as_str).collect();
            self.index_remove_keys(index, &gone).await?;
            Ok(found)
        })
    }
}

/// An owner index field's value, `<until> <value>`: the until and the
/// value; `None` when it is not of that form.
fn parse_index_value(entry: &[u8]) -> Option<(u64, &[u8])> {
    let space = entry.iter().position(|&b| b == b' ')?;
    let (digits, value) = (&entry[..space], &entry[space + 1..]);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let until = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((until, value))
}

/// The client's clock, in whole seconds since the Unix epoch: what the
/// owner index scripts compare each entry's `until` with.
fn unix_now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// The most digits a `u64` (or a `usize`) is written with.
const U64_DIGITS: usize = 20;

/// How many arguments [`expiry_args`] appends, and at most how many bytes.
const EXPIRY_ARGS: usize = 2;
const EXPIRY_BYTES: usize = 2 + U64_DIGITS;

/// The command `name`, with room for `args` more arguments of `bytes` bytes
/// in all, so that appending them allocates nothing: a `Cmd` grows its
/// buffers argument by argument otherwise, and the reallocations cost more
/// than the copies.
fn command(name: &'static str, args: usize, bytes: usize) -> Cmd {
    let mut cmd = Cmd::with_capacity(1 + args, name.len() + bytes);
    cmd.arg(name);
    cmd
}

/// Appends `EX seconds`, or `PX milliseconds` (rounded up, at least 1) when
/// `ttl` is not a whole, non-zero number of seconds.
fn expiry_args(cmd: &mut Cmd, ttl: Duration) {
    if ttl.subsec_nanos() == 0 && ttl.as_secs() > 0 {
        cmd.arg("EX").arg(ttl.as_secs());
    } else {
        let millis = ttl.as_nanos().div_ceil(1_000_000).max(1);
        cmd.arg("PX").arg(u64::try_from(millis).unwrap_or(u64::MAX));
    }
}

/// Why a Redis call failed. The [`StoreError`] the store returns has one of
/// these as its source, and its [class](RedisStoreError::class); find it
/// with [`Error::source`](std::error::Error::source) and `downcast_ref`.
///
/// ```
/// use sessionkit::store::redis::RedisStoreError;
/// use sessionkit::StoreError;
///
/// fn is_timeout(error: &StoreError) -> bool {
///     std::error::Error::source(error)
///         .and_then(|e| e.downcast_ref::<RedisStoreError>())
///         .is_some_and(|e| matches!(e, RedisStoreError::Timeout { .. }))
/// }
/// ```
#[non_exhaustive]
pub enum RedisStoreError {
    /// No connection for the command: the getter given to
    /// [`RedisStore::from_getter`] failed, or, for a store built by
    /// [`RedisStore::from_sentinel`], the Sentinels could not be asked or
    /// named no master that answers as one (as during a failover), or the
    /// master they named could not be connected to.
    Connect {
        /// The command the connection was for.
        command: &'static str,
        /// What the getter or the lookup returned, as returned. This error's
        /// [`source`](std::error::Error::source) is this when its text holds
        /// nothing to redact; otherwise this error's `Display` shows it with
        /// ids redacted (see the [module docs](self)) instead. `Debug` shows
        /// it redacted.
        source: RedisError,
    },
    /// The command failed: the connection is down, was refused or dropped,
    /// Redis answered with an error, or its reply was not of the command's
    /// type.
    Command {
        /// The command (`GETEX`, `SET`, `EVALSHA`, `EVAL`, `DEL`, `PING`,
        /// `HGETALL` or `PTTL`).
        command: &'static str,
        /// What the `redis` crate reported, as reported. This error's
        /// [`source`](std::error::Error::source) is this when its text holds
        /// nothing to redact; otherwise this error's `Display` shows it with
        /// ids redacted (see the [module docs](self)) instead. `Debug` shows
        /// it redacted.
        source: RedisError,
    },
    /// No answer within the store's timeout.
    Timeout {
        /// The command (`GETEX`, `SET`, `EVALSHA`, `EVAL`, `DEL`, `PING`,
        /// `HGETALL` or `PTTL`).
        command: &'static str,
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// The encoded session is larger than the store's
    /// [maximum](RedisStore::with_max_value_size); nothing was written.
    ValueTooLarge {
        /// The encoded size, in bytes.
        size: usize,
        /// The maximum, in bytes.
        max: usize,
    },
}

impl RedisStoreError {
    /// Whether trying again later can succeed.
    ///
    /// | error | class |
    /// |---|---|
    /// | [`Timeout`](Self::Timeout) | transient |
    /// | [`Connect`](Self::Connect) or [`Command`](Self::Command) failing on I/O: refused, reset, closed (a reply cut short by the connection closing included), timed out | transient |
    /// | an error reply saying Redis cannot serve now: `BUSY` (a script runs), `LOADING`, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`, `READONLY` (a replica, as during a failover), `MOVED`, `ASK`, `OOM` (`maxmemory` reached), `MISCONF` (snapshots failing), `NOREPLICAS`; or no cluster node or sentinel master to be found | transient |
    /// | [`ValueTooLarge`](Self::ValueTooLarge) | permanent |
    /// | any other error reply (`WRONGTYPE`, `ERR …`, `NOSCRIPT`, `NOAUTH`, `NOPERM`, a script error), a failed authentication, a complete reply the `redis` crate cannot parse or that is not of the command's type | permanent |
    ///
    /// ```
    /// use sessionkit::store::redis::client::{ErrorKind, RedisError};
    /// use sessionkit::store::redis::RedisStoreError;
    /// use sessionkit::ErrorClass;
    ///
    /// let refused = RedisStoreError::Command {
    ///     command: "GETEX",
    ///     source: RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
    /// };
    /// assert_eq!(refused.class(), ErrorClass::Transient);
    /// let too_large = RedisStoreError::ValueTooLarge { size: 70_000, max: 65_536 };
    /// assert_eq!(too_large.class(), ErrorClass::Permanent);
    /// ```
    pub fn class(&self) -> ErrorClass {
        match self {
            RedisStoreError::Timeout { .. } => ErrorClass::Transient,
            RedisStoreError::ValueTooLarge { .. } => ErrorClass::Permanent,
            RedisStoreError::Connect { source, .. } | RedisStoreError::Command { source, .. } => {
                redis_error_class(source)
            }
        }
    }
}

/// What the `redis` crate's reply decoder says when the stream ends inside
/// a reply.
const CUT_SHORT: &str = "Unexpected end of input";

/// The class of what the `redis` crate reported: see
/// [`RedisStoreError::class`].
fn redis_error_class(error: &RedisError) -> ErrorClass {
    use ::redis::ServerErrorKind as Server;
    match error.kind() {
        ErrorKind::Io
        | ErrorKind::ClusterConnectionNotFound
        | ErrorKind::MasterNameNotFoundBySentinel
        | ErrorKind::NoValidReplicasFoundBySentinel
        | ErrorKind::Server(
            Server::BusyLoading
            | Server::TryAgain
            | Server::ClusterDown
            | Server::MasterDown
            | Server::ReadOnly
            | Server::Moved
            | Server::Ask,
        ) => ErrorClass::Transient,
        ErrorKind::Extension
            if matches!(
                error.code(),
                Some("BUSY" | "OOM" | "MISCONF" | "NOREPLICAS")
            ) =>
        {
            ErrorClass::Transient
        }
        // The connection closed in the middle of a reply: the async
        // connections' reply decoder reports the end of the stream inside
        // a reply as a parse error rather than an I/O error.
        ErrorKind::Parse if error.to_string().contains(CUT_SHORT) => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    }
}

/// A [`RedisError`] as this store shows it: its text with ids redacted.
struct Shown<'a>(&'a RedisError);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redacted(&self.0.to_string()))
    }
}

/// Whether `error`'s text holds nothing [`redacted`] would cut, so that it
/// can be shown as it is.
fn shows_no_id(error: &RedisError) -> bool {
    let text = error.to_string();
    redacted(&text) == text
}

/// `text` with ids cut as [`redact_key`](super::redact_key) cuts them,
/// except the SHA-1 of the store's own script, which Redis names in a
/// script's errors.
fn redacted(text: &str) -> String {
    super::redact_ids(text, is_script_sha)
}

impl fmt::Debug for RedisStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisStoreError::Connect { command, source } => f
                .debug_struct("Connect")
                .field("command", command)
                .field("source", &Shown(source).to_string())
                .finish(),
            RedisStoreError::Command { command, source } => f
                .debug_struct("Command")
                .field("command", command)
                .field("source", &Shown(source).to_string())
                .finish(),
            RedisStoreError::Timeout { command, timeout } => f
                .debug_struct("Timeout")
                .field("command", command)
                .field("timeout", timeout)
                .finish(),
            RedisStoreError::ValueTooLarge { size, max } => f
                .debug_struct("ValueTooLarge")
                .field("size", size)
                .field("max", max)
                .finish(),
        }
    }
}

impl fmt::Display for RedisStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisStoreError::Connect { command, source } => {
                write!(f, "could not get a connection for {command}")?;
                show_withheld(f, source)
            }
            RedisStoreError::Command { command, source } => {
                write!(f, "{command} failed")?;
                show_withheld(f, source)
            }
            RedisStoreError::Timeout { command, timeout } => {
                write!(f, "{command} got no answer within {timeout:?}")
            }
            RedisStoreError::ValueTooLarge { size, max } => write!(
                f,
                "the session is {size} bytes encoded, over the limit of {max} bytes; nothing was written"
            ),
        }
    }
}

/// Writes `": "` and `source`'s text, redacted, if it is not returned by
/// [`RedisStoreError`]'s `source()`: one or the other, never both.
fn show_withheld(f: &mut fmt::Formatter<'_>, source: &RedisError) -> fmt::Result {
    if shows_no_id(source) {
        Ok(())
    } else {
        write!(f, ": {}", Shown(source))
    }
}

impl std::error::Error for RedisStoreError {
    /// The [`RedisError`], which this error's `Display` does not repeat;
    /// unless its text holds something that may be a session id (a run of
    /// more than four hex digits other than a number or the script's
    /// SHA-1): that one is not returned, but shown, redacted, at the end of
    /// this error's `Display` instead.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RedisStoreError::Connect { source, .. } | RedisStoreError::Command { source, .. } => {
                shows_no_id(source).then_some(source as _)
            }
            RedisStoreError::Timeout { .. } | RedisStoreError::ValueTooLarge { .. } => None,
        }
    }
}

impl From<RedisStoreError> for StoreError {
    fn from(error: RedisStoreError) -> Self {
        let class = error.class();
        let error = StoreError::with_source("Redis", error);
        match class {
            ErrorClass::Transient => error,
            ErrorClass::Permanent => error.permanent(),
        }
    }
}

/// Where a call failed, before the timeout.
enum Failure {
    Connect(RedisError),
    Command(RedisError),
}

/// Runs one command on some connection: the object-safe core of the store.
trait Source: Send + Sync + 'static {
    fn query(&self, cmd: Cmd) -> BoxFuture<'_, Result<Value, Failure>>;
    fn describe(&self) -> &'static str;
}

/// A connection cloned for each call.
struct Cloned<C>(C);

impl<C> Source for Cloned<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    fn query(&self, cmd: Cmd) -> BoxFuture<'_, Result<Value, Failure>> {
        let mut connection = self.0.clone();
        Box::pin(async move {
            cmd.query_async(&mut connection)
                .await
                .map_err(Failure::Command)
        })
    }

    fn describe(&self) -> &'static str {
        std::any::type_name::<C>()
    }
}

/// What the store sends its commands on.
#[derive(Clone)]
enum Connection {
    /// A [`ConnectionManager`] (from [`RedisStore::from_url`], or given to
    /// [`RedisStore::new`]), called directly: see [`managed_query`].
    Managed(ConnectionManager),
    /// Any other connection, getter or Sentinel master.
    Source(Arc<dyn Source>),
}

impl Connection {
    fn describe(&self) -> &'static str {
        match self {
            Connection::Managed(_) => std::any::type_name::<ConnectionManager>(),
            Connection::Source(source) => source.describe(),
        }
    }
}

/// Sends `cmd` on `manager` (a clone, for this call), as [`Cloned`] does
/// for other connections, with two allocations less per command: the
/// future lives in the caller's, not in a box of its own, and the
/// manager's own method is called rather than its [`ConnectionLike`] one,
/// which boxes its future. Error replies inside the answer become errors,
/// as `Cmd::query_async` makes them.
async fn managed_query(mut manager: ConnectionManager, cmd: Cmd) -> Result<Value, Failure> {
    manager
        .send_packed_command(&cmd)
        .await
        .and_then(Value::extract_error)
        .map_err(Failure::Command)
}

/// A function that returns a connection for each call.
struct Getter<F, Fut, C> {
    getter: F,
    _types: PhantomData<fn() -> (Fut, C)>,
}

impl<F, Fut, C> Source for Getter<F, Fut, C>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = RedisResult<C>> + Send + 'static,
    C: ConnectionLike + Send + 'static,
{
    fn query(&self, cmd: Cmd) -> BoxFuture<'_, Result<Value, Failure>> {
        let connection = (self.getter)();
        Box::pin(async move {
            let mut connection = connection.await.map_err(Failure::Connect)?;
            cmd.query_async(&mut connection)
                .await
                .map_err(Failure::Command)
        })
    }

    fn describe(&self) -> &'static str {
        "connection getter"
    }
}

/// The master a set of Redis Sentinels names: one connection to it, looked
/// up again when that connection fails (see [`RedisStore::from_sentinel`]).
struct SentinelMaster {
    /// Asks the Sentinels; locked for the length of a lookup, so that one
    /// runs at a time.
    client: tokio::sync::Mutex<SentinelClient>,
    state: std::sync::Mutex<MasterState>,
    /// For the connection to the master.
    config: AsyncConnectionConfig,
}

#[derive(Default)]
struct MasterState {
    /// The connection to the master, while it is believed to be one.
    master: Option<Master>,
    /// Lookups finished so far, successful or not.
    lookups: u64,
    /// What the last lookup failed with, if it failed.
    failed: Option<RedisError>,
}

#[derive(Clone)]
struct Master {
    connection: MultiplexedConnection,
    /// Which lookup made this connection.
    lookup: u64,
}

impl SentinelMaster {
    fn state(&self) -> std::sync::MutexGuard<'_, MasterState> {
        // The state is consistent after every statement that changes it, so
        // a panic elsewhere while it was locked leaves nothing half-done.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The connection to the master: the current one, or a new one after a
    /// lookup. A call that waited for another call's lookup takes its
    /// result, failure included, rather than running one more.
    async fn master(&self) -> RedisResult<Master> {
        let seen = {
            let state = self.state();
            if let Some(master) = &state.master {
                return Ok(master.clone());
            }
            state.lookups
        };
        let mut client = self.client.lock().await;
        {
            let state = self.state();
            if let Some(master) = &state.master {
                return Ok(master.clone());
            }
            if state.lookups != seen {
                if let Some(error) = &state.failed {
                    return Err(error.clone());
                }
            }
        }
        let found = client.get_async_connection_with_config(&self.config).await;
        let mut state = self.state();
        state.lookups += 1;
        match found {
            Ok(connection) => {
                let master = Master {
                    connection,
                    lookup: state.lookups,
                };
                state.master = Some(master.clone());
                state.failed = None;
                Ok(master)
            }
            Err(error) => {
                state.failed = Some(error.clone());
                Err(error)
            }
        }
    }

    /// Drops the connection `lookup` made, unless it was already replaced.
    fn forget(&self, lookup: u64) {
        let mut state = self.state();
        if state.master.as_ref().is_some_and(|m| m.lookup == lookup) {
            state.master = None;
        }
    }
}

/// Whether `error` says the connection no longer leads to the master: it
/// broke, or the server was demoted to a replica.
fn master_lost(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_unrecoverable_error()
        || matches!(
            error.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
        )
}

/// Forgets the connection of a call dropped before its answer came: the
/// store's timeout elapsed, and the master may be gone without a word
/// (frozen, or cut off); or the request was dropped, and a new connection
/// costs only a lookup.
struct Unanswered<'a> {
    source: &'a SentinelMaster,
    lookup: u64,
    answered: bool,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.source.forget(self.lookup);
        }
    }
}

impl Source for SentinelMaster {
    fn query(&self, cmd: Cmd) -> BoxFuture<'_, Result<Value, Failure>> {
        Box::pin(async move {
            let Master {
                mut connection,
                lookup,
            } = self.master().await.map_err(Failure::Connect)?;
            let mut pending = Unanswered {
                source: self,
                lookup,
                answered: false,
            };
            let answer = cmd.query_async(&mut connection).await;
            pending.answered = true;
            answer.map_err(|error| {
                if master_lost(&error) {
                    self.forget(lookup);
                }
                Failure::Command(error)
            })
        })
    }

    fn describe(&self) -> &'static str {
        "Redis Sentinel master"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Report;

    fn args(cmd: &Cmd) -> Vec<String> {
        cmd.args_iter()
            .map(|a| match a {
                ::redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                _ => "<not simple>".into(),
            })
            .collect()
    }

    #[test]
    fn whole_seconds_are_sent_as_ex_and_the_rest_as_px_rounded_up() {
        for (ttl, want) in [
            (Duration::from_secs(2_592_000), ["EX", "2592000"]),
            (Duration::from_secs(3), ["EX", "3"]),
            (Duration::from_millis(1500), ["PX", "1500"]),
            (Duration::from_micros(1001), ["PX", "2"]),
            (Duration::from_nanos(1), ["PX", "1"]),
            (Duration::ZERO, ["PX", "1"]),
        ] {
            let mut cmd = ::redis::cmd("SET");
            expiry_args(&mut cmd, ttl);
            assert_eq!(args(&cmd)[1..], want, "{ttl:?}");
        }
    }

    #[test]
    fn a_command_with_room_reserved_sends_what_one_without_sends() {
        let key = "session:9ca69ea696434e99beff2880eb95116a";
        let mut reserved = command("SET", 3 + EXPIRY_ARGS, 0);
        let mut grown = ::redis::cmd("SET");
        for cmd in [&mut reserved, &mut grown] {
            cmd.arg(key).arg(&b"{\"n\":1}"[..]).arg("NX");
            expiry_args(cmd, Duration::from_millis(1500));
        }
        assert_eq!(reserved.get_packed_command(), grown.get_packed_command());
        assert_eq!(
            args(&reserved),
            ["SET", key, "{\"n\":1}", "NX", "PX", "1500"]
        );
    }

    #[test]
    fn a_reply_cut_short_is_transient_and_garbage_permanent() {
        use ::redis::ParsingError;
        // What the async reply decoder gives when the connection closes
        // inside a reply (`$7\r\n{"n"`, then the end of the stream).
        let cut = ParsingError::from(
            "Parse error at 0\nUnexpected end of input\nUnexpected `123`\n".to_string(),
        );
        let garbage = ParsingError::from(
            "Parse error at 0\nUnexpected `x`\nExpected `-`, `+`, `:`, `$` or `*`\n".to_string(),
        );
        for (error, class) in [
            (cut, ErrorClass::Transient),
            (garbage, ErrorClass::Permanent),
        ] {
            let error = RedisStoreError::Command {
                command: "GETEX",
                source: RedisError::from(error),
            };
            assert_eq!(error.class(), class, "{error}");
        }
    }

    #[test]
    fn errors_say_what_failed_and_keep_the_source() {
        let error: StoreError = RedisStoreError::ValueTooLarge {
            size: 70_000,
            max: 65_536,
        }
        .into();
        assert_eq!(error.to_string(), "Redis");
        assert_eq!(
            Report(&error).to_string(),
            "Redis: the session is 70000 bytes encoded, over the limit of 65536 bytes; nothing was written"
        );
        let inner = std::error::Error::source(&error)
            .and_then(|e| e.downcast_ref::<RedisStoreError>())
            .expect("RedisStoreError as the source");
        assert!(matches!(inner, RedisStoreError::ValueTooLarge { .. }));

        let redis_error =
            RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let error: StoreError = RedisStoreError::Command {
            command: "GETEX",
            source: redis_error,
        }
        .into();
        assert_eq!(
            Report(&error).to_string(),
            "Redis: GETEX failed: connection refused"
        );
        let chain = std::error::Error::source(&error).and_then(std::error::Error::source);
        assert!(chain.and_then(|e| e.downcast_ref::<RedisError>()).is_some());
    }

    /// The error the `redis` crate makes of the error reply `reply`.
    fn reply_error(reply: &str) -> RedisError {
        ::redis::parse_redis_value(format!("-{reply}\r\n").as_bytes())
            .unwrap()
            .extract_error()
            .unwrap_err()
    }

    #[test]
    fn errors_are_classed() {
        let command = |source| RedisStoreError::Command {
            command: "GETEX",
            source,
        };
        let io = |kind: std::io::ErrorKind| command(std::io::Error::from(kind).into());
        let mut transient = vec![
            RedisStoreError::Timeout {
                command: "GETEX",
                timeout: Duration::from_secs(1),
            },
            RedisStoreError::Connect {
                command: "GETEX",
                source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into(),
            },
            io(std::io::ErrorKind::ConnectionRefused),
            io(std::io::ErrorKind::ConnectionReset),
            io(std::io::ErrorKind::BrokenPipe),
            io(std::io::ErrorKind::UnexpectedEof),
            io(std::io::ErrorKind::TimedOut),
        ];
        for reply in [
            "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
            "LOADING Redis is loading the dataset in memory",
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "CLUSTERDOWN The cluster is down",
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            "READONLY You can't write against a read only replica.",
            "MOVED 3999 127.0.0.1:6381",
            "ASK 3999 127.0.0.1:6381",
            "OOM command not allowed when used memory > 'maxmemory'.",
            "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.",
            "NOREPLICAS Not enough good replicas to write.",
        ] {
            transient.push(command(reply_error(reply)));
        }
        let mut permanent = vec![
            RedisStoreError::ValueTooLarge {
                size: 70_000,
                max: 65_536,
            },
            unexpected_reply("GETEX"),
            command(RedisError::from((
                ErrorKind::AuthenticationFailed,
                "Password authentication failed",
            ))),
        ];
        for reply in [
            "WRONGTYPE Operation against a key holding the wrong kind of value",
            "ERR unknown command 'GETEX', with args beginning with: ",
            "ERR Error running script (call to f_0123): @user_script:1: oops",
            "NOSCRIPT No matching script. Please use EVAL.",
            "NOAUTH Authentication required.",
            "NOPERM this user has no permissions to run the 'getex' command",
            "WRONGPASS invalid username-password pair or user is disabled.",
            "EXECABORT Transaction discarded because of previous errors.",
            "CROSSSLOT Keys in request don't hash to the same slot",
        ] {
            permanent.push(command(reply_error(reply)));
        }
        let classed = (transient.into_iter().map(|e| (e, ErrorClass::Transient)))
            .chain(permanent.into_iter().map(|e| (e, ErrorClass::Permanent)));
        for (error, class) in classed {
            assert_eq!(error.class(), class, "{error}");
            let shown = error.to_string();
            assert_eq!(StoreError::from(error).class(), class, "{shown}");
        }
    }

    #[test]
    fn an_error_reply_quoting_a_key_is_shown_redacted() {
        let id = "9ca69ea696434e99beff2880eb95116a";
        let error = command_error(reply_error(&format!(
            "ERR unknown command 'GETEX', with args beginning with: 'session:{id}' 'EX' '2592000' "
        )));
        let store_error = StoreError::from(error);
        let inner = std::error::Error::source(&store_error).unwrap();
        let text = format!("{store_error} {store_error:?} {inner} {inner:?}");
        assert!(!text.contains(&id[..5]), "{text}");
        assert_eq!(
            inner.to_string(),
            "GETEX failed: ResponseError: unknown command 'GETEX', with args beginning with: 'session:9ca6…' 'EX' '2592000' "
        );
        assert!(inner.source().is_none(), "the unredacted error is left out");
        let Some(RedisStoreError::Command { source, .. }) = inner.downcast_ref() else {
            panic!("{inner:?}");
        };
        assert!(
            source.to_string().contains(id),
            "kept, for a handler to look at"
        );

        // Nothing to redact: the `redis` crate's error is the source. The
        // script's SHA-1 is shown whole.
        let sha = save_if_loaded_sha();
        let error = command_error(reply_error(&format!(
            "WRONGTYPE Operation against a key holding the wrong kind of value script: {sha}, on @user_script:1."
        )));
        assert_eq!(error.to_string(), "GETEX failed");
        let source = std::error::Error::source(&error);
        assert!(source.is_some_and(|e| e.is::<RedisError>()), "{error}");
        assert!(source.unwrap().to_string().contains(sha), "{error}");
    }

    #[test]
    fn an_error_shows_its_cause_or_returns_it_never_both() {
        let id = "9ca69ea696434e99beff2880eb95116a";
        let shown = |source: RedisError| {
            [
                RedisStoreError::Connect {
                    command: "GETEX",
                    source: source.clone(),
                },
                command_error(source),
            ]
        };
        // Nothing to redact: the `redis` crate's error is the source, and
        // only there.
        let cause = "WRONGTYPE Operation against a key holding the wrong kind of value";
        for error in shown(reply_error(cause)) {
            let source = std::error::Error::source(&error).expect("the source");
            let text = source.to_string();
            assert!(text.contains("Operation against a key"), "{text}");
            assert!(!error.to_string().contains(&text), "{error}");
            let chain = Report(&StoreError::from(error)).to_string();
            assert_eq!(chain.matches(&text).count(), 1, "{chain}");
        }
        // The source may quote an id: it is withheld, and shown redacted in
        // the message, once.
        let cause =
            format!("ERR unknown command 'GETEX', with args beginning with: 'session:{id}'");
        for error in shown(reply_error(&cause)) {
            assert!(std::error::Error::source(&error).is_none(), "{error}");
            let redacted = "unknown command 'GETEX', with args beginning with: 'session:9ca6…'";
            assert!(error.to_string().ends_with(redacted), "{error}");
            let chain = Report(&StoreError::from(error)).to_string();
            assert_eq!(chain.matches(redacted).count(), 1, "{chain}");
            assert!(!chain.contains(&id[..5]), "{chain}");
        }
    }

    fn command_error(source: RedisError) -> RedisStoreError {
        RedisStoreError::Command {
            command: "GETEX",
            source,
        }
    }

    #[test]
    fn redacted_cuts_hex_runs_and_keeps_words_and_numbers() {
        let id = "9ca69ea696434e99beff2880eb95116a";
        assert_eq!(
            redacted(&format!("'session:{id}' 'PX' '2592000000' 127.0.0.1:6379")),
            "'session:9ca6…' 'PX' '2592000000' 127.0.0.1:6379"
        );
        assert_eq!(redacted(&format!("{id}{id}")), "9ca6…");
        let plain = "Connection refused (os error 111); broken pipe; dead beef";
        assert_eq!(redacted(plain), plain);
    }
}
