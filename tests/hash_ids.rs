//! `hash_ids: true` over real HTTP, on the memory store, a Redis server, a
//! Redis Cluster and memcached: the store key is the prefix and the
//! SHA-256 of the cookie's id, no key holds the id itself, what can be read
//! from the store does not work as a cookie, and logout and `cycle_id`
//! delete the hashed key.
//!
//! The keys are read from the store itself: `KEYS` on every Redis node,
//! memcached's `lru_crawler metadump`, and for the memory store (which lists
//! no keys) its count of sessions and loads of the keys expected.

mod support;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use sessionkit::store::{Expect, SaveOutcome, StoreFuture, Stored};
use sessionkit::{session_config, MemoryStore, Session, SessionLayer, SessionStore};
use sha2::{Digest, Sha256};

use support::{serve, Browser};

session_config! {
    HASHED { cookie_name: "hid", prefix: "hashed:", hash_ids: true }
}

const PREFIX: &str = "hashed:";

/// Every test is bounded: a store call that hangs fails the test instead.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(config = HASHED)]
struct Account {
    user: Option<String>,
}

/// Logs `user` in on a fresh id, as a login should.
async fn login(mut account: Session<Account>, Path(user): Path<String>) -> String {
    account.cycle_id();
    account.user = Some(user);
    account.id().to_string()
}

async fn whoami(account: Session<Account>) -> String {
    account.user.clone().unwrap_or_else(|| "anonymous".into())
}

/// A new id for the same data.
async fn cycle(mut account: Session<Account>) -> String {
    account.cycle_id();
    account.id().to_string()
}

async fn logout(mut account: Session<Account>) -> &'static str {
    account.destroy();
    "bye"
}

fn app<S: SessionStore>(store: S) -> Router {
    Router::new()
        .route("/login/{user}", get(login))
        .route("/whoami", get(whoami))
        .route("/cycle", get(cycle))
        .route("/logout", get(logout))
        .layer(SessionLayer::new(store))
}

/// `prefix + hex(SHA-256(id))`, computed here, apart from the crate.
fn hashed_key(id: &str) -> String {
    let hex: String = Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{PREFIX}{hex}")
}

/// Logs in, then reads the store: the one key is the hashed one; the hash
/// read from the store is no cookie (whole, or its first 32 characters,
/// which make a well-formed id); `cycle_id` and logout delete the hashed
/// key. `keys` lists the keys the store holds under the prefix.
async fn hashed_ids_over_http<S, F, K>(store: S, keys: K)
where
    S: SessionStore + Clone,
    F: Future<Output = BTreeSet<String>>,
    K: Fn(S) -> F,
{
    let addr = serve(app(store.clone())).await;
    let mut browser = Browser::new(addr);
    let reply = browser.get("/login/ann").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let id = reply.cookie_value("hid");
    assert_eq!(reply.body, id, "the handler saw the cookie's id");
    assert_eq!(id.len(), 32);
    let key = hashed_key(&id);
    assert_eq!(key.len(), PREFIX.len() + 64);

    let stored = keys(store.clone()).await;
    assert_eq!(stored, BTreeSet::from([key.clone()]));
    assert!(
        stored.iter().all(|k| !k.contains(&id)),
        "a key holds the raw id: {stored:?}"
    );
    let value = store
        .load(&key, HASHED.expiry())
        .await
        .unwrap()
        .expect("the session under its hashed key");
    assert_eq!(value, br#"{"user":"ann"}"#);
    let raw_key = format!("{PREFIX}{id}");
    assert_eq!(store.load(&raw_key, HASHED.expiry()).await.unwrap(), None);

    // The real cookie loads the session.
    let reply = browser.get("/whoami").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ann"));

    // What the store shows is no cookie: the hash is 64 characters, not an
    // id at all; its first 32 are an id, of no session.
    let hash = &key[PREFIX.len()..];
    for forged in [hash, &hash[..32]] {
        let reply = browser.get_raw("/whoami", &[format!("hid={forged}")]).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, "anonymous"),
            "cookie {forged}"
        );
    }
    assert_eq!(keys(store.clone()).await, BTreeSet::from([key.clone()]));

    // A new id: the data moves to its hashed key, the old one is deleted.
    let reply = browser.get("/cycle").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let new_id = reply.cookie_value("hid");
    assert_ne!(new_id, id);
    let new_key = hashed_key(&new_id);
    assert_eq!(keys(store.clone()).await, BTreeSet::from([new_key.clone()]));
    assert_eq!(store.load(&key, HASHED.expiry()).await.unwrap(), None);
    let reply = browser.get("/whoami").await;
    assert_eq!(reply.body, "ann");
    let reply = browser.get_raw("/whoami", &[format!("hid={id}")]).await;
    assert_eq!(reply.body, "anonymous", "the old id is gone");

    // Logout deletes the hashed key.
    let reply = browser.get("/logout").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "bye"));
    assert_eq!(keys(store.clone()).await, BTreeSet::new());
    assert_eq!(store.load(&new_key, HASHED.expiry()).await.unwrap(), None);
    let reply = browser.get_raw("/whoami", &[format!("hid={new_id}")]).await;
    assert_eq!(reply.body, "anonymous");
}

/// A store that remembers every key the layer wrote under, for the memory
/// store, which lists no keys.
#[derive(Clone)]
struct Written<S> {
    inner: S,
    keys: Arc<Mutex<BTreeSet<String>>>,
}

impl<S> Written<S> {
    fn note(&self, key: &str) {
        self.keys.lock().unwrap().insert(key.to_string());
    }
}

impl<S: SessionStore> SessionStore for Written<S> {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.inner.load(key, ttl)
    }
    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        self.note(key);
        self.inner.save(key, value, ttl)
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.inner.delete(key)
    }
    fn load_versioned<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Option<Stored>> {
        self.inner.load_versioned(key, ttl)
    }
    fn save_if<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
        expect: Expect<'a>,
    ) -> StoreFuture<'a, SaveOutcome> {
        self.note(key);
        self.inner.save_if(key, value, ttl, expect)
    }
    fn compare_and_set(&self) -> bool {
        self.inner.compare_and_set()
    }
}

/// The memory store's keys: those written that it still holds, and it
/// holds no others (its count of sessions says so).
#[tokio::test]
async fn memory_store_keeps_hashed_ids() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let store = Written {
            inner: MemoryStore::new(),
            keys: Arc::default(),
        };
        hashed_ids_over_http(store, |store: Written<MemoryStore>| async move {
            let written = store.keys.lock().unwrap().clone();
            let mut held = BTreeSet::new();
            for key in written {
                if store
                    .inner
                    .load(&key, HASHED.expiry())
                    .await
                    .unwrap()
                    .is_some()
                {
                    held.insert(key);
                }
            }
            assert_eq!(store.inner.len(), held.len(), "keys never written");
            held
        })
        .await
    })
    .await
    .expect("never a hang");
}

#[cfg(feature = "redis")]
mod redis {
    use std::collections::BTreeSet;
    use std::sync::LazyLock;

    use sessionkit::RedisStore;

    use super::support::servers::{redis_cli, RedisCluster, RedisServer};
    use super::{hashed_ids_over_http, PREFIX, TEST_TIMEOUT};

    static SINGLE: LazyLock<RedisServer> = LazyLock::new(RedisServer::start);

    /// `KEYS prefix*` on every node in `ports` (a cluster node lists its own).
    fn keys(ports: &[u16]) -> BTreeSet<String> {
        let pattern = format!("{PREFIX}*");
        ports
            .iter()
            .flat_map(|&port| {
                redis_cli(port, &["KEYS", &pattern])
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter(|key| !key.is_empty())
            .collect()
    }

    #[tokio::test]
    async fn redis_keeps_hashed_ids() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let store = RedisStore::from_url(&SINGLE.url()).await.unwrap();
            let port = SINGLE.port();
            hashed_ids_over_http(store, |_| async move { keys(&[port]) }).await
        })
        .await
        .expect("never a hang");
    }

    /// Hex keys need no hash tag: each session is one key in one slot.
    #[tokio::test]
    async fn redis_cluster_keeps_hashed_ids() {
        let cluster = RedisCluster::start(3);
        tokio::time::timeout(TEST_TIMEOUT, async {
            let store = RedisStore::from_cluster_nodes(cluster.urls())
                .await
                .unwrap();
            let ports = cluster.ports();
            hashed_ids_over_http(store, |_| {
                let ports = ports.clone();
                async move { keys(&ports) }
            })
            .await
        })
        .await
        .expect("never a hang");
    }
}

#[cfg(feature = "memcache")]
mod memcache {
    use std::collections::BTreeSet;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpStream;
    use std::sync::Arc;

    use sessionkit::MemcacheStore;

    use super::support::memcached::{Memcached, Served};
    use super::{hashed_ids_over_http, PREFIX, TEST_TIMEOUT};

    /// Every key memcached holds under the prefix, from `lru_crawler
    /// metadump all` (keys come URL-encoded: `hashed%3A…`).
    fn keys(addr: &str) -> BTreeSet<String> {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(b"lru_crawler metadump all\r\n").unwrap();
        let mut reader = BufReader::new(stream);
        let mut keys = BTreeSet::new();
        loop {
            let mut line = String::new();
            assert!(reader.read_line(&mut line).unwrap() > 0, "metadump cut");
            let line = line.trim_end();
            if line == "END" {
                return keys;
            }
            let encoded = line
                .split(' ')
                .find_map(|field| field.strip_prefix("key="))
                .unwrap_or_else(|| panic!("metadump line {line:?}"));
            let key = decode(encoded);
            if key.starts_with(PREFIX) {
                keys.insert(key);
            }
        }
    }

    /// `%XX` escapes undone.
    fn decode(encoded: &str) -> String {
        let mut out = Vec::new();
        let mut bytes = encoded.bytes();
        while let Some(b) = bytes.next() {
            if b == b'%' {
                let hex: String = bytes.by_ref().take(2).map(char::from).collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap());
            } else {
                out.push(b);
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn memcached_keeps_hashed_ids() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let server = Memcached::start();
            let addr = server.addr();
            let store = Served {
                store: MemcacheStore::new([addr.as_str()]).unwrap(),
                servers: Arc::new(vec![server]),
            };
            hashed_ids_over_http(store, |_| {
                let addr = addr.clone();
                async move {
                    tokio::task::spawn_blocking(move || keys(&addr))
                        .await
                        .unwrap()
                }
            })
            .await
        })
        .await
        .expect("never a hang");
    }
}
