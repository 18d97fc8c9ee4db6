//! `hash_ids: true` over real HTTP, on the memory store, a Redis server, a
//! Redis Cluster and memcached: the store key is the prefix and the
//! SHA-256 of the cookie's id, no key holds the id itself, what can be read
//! from the store does not work as a cookie, and logout and `cycle_id`
//! delete the hashed key.
//!
//! The keys are read from the store itself: `KEYS` on every Redis node,
//! memcached's `lru_crawler metadump` (with the candidates below, since a
//! dump can miss an item being moved), and for the memory store (which lists
//! no keys) its count of sessions and loads of the plain and hashed key of
//! every id seen.

mod support;

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
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
/// key. `keys` lists the keys the store holds under the prefix; a store
/// that cannot list them gets the candidates: the plain and the hashed key
/// of every id seen.
async fn hashed_ids_over_http<S, F, K>(store: S, keys: K)
where
    S: SessionStore + Clone,
    F: Future<Output = BTreeSet<String>>,
    K: Fn(S, Vec<String>) -> F,
{
    let mut ids: Vec<String> = Vec::new();
    let candidates = |ids: &[String]| -> Vec<String> {
        ids.iter()
            .flat_map(|id| [hashed_key(id), format!("{PREFIX}{id}")])
            .collect()
    };
    let addr = serve(app(store.clone())).await;
    let mut browser = Browser::new(addr);
    let reply = browser.get("/login/ann").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let id = reply.cookie_value("hid");
    assert_eq!(reply.body, id, "the handler saw the cookie's id");
    assert_eq!(id.len(), 32);
    let key = hashed_key(&id);
    ids.push(id.clone());
    assert_eq!(key.len(), PREFIX.len() + 64);

    let stored = keys(store.clone(), candidates(&ids)).await;
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
    assert_eq!(
        keys(store.clone(), candidates(&ids)).await,
        BTreeSet::from([key.clone()])
    );

    // A new id: the data moves to its hashed key, the old one is deleted.
    let reply = browser.get("/cycle").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let new_id = reply.cookie_value("hid");
    assert_ne!(new_id, id);
    let new_key = hashed_key(&new_id);
    ids.push(new_id.clone());
    assert_eq!(
        keys(store.clone(), candidates(&ids)).await,
        BTreeSet::from([new_key.clone()])
    );
    assert_eq!(store.load(&key, HASHED.expiry()).await.unwrap(), None);
    let reply = browser.get("/whoami").await;
    assert_eq!(reply.body, "ann");
    let reply = browser.get_raw("/whoami", &[format!("hid={id}")]).await;
    assert_eq!(reply.body, "anonymous", "the old id is gone");

    // Logout deletes the hashed key.
    let reply = browser.get("/logout").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "bye"));
    assert_eq!(keys(store.clone(), candidates(&ids)).await, BTreeSet::new());
    assert_eq!(store.load(&new_key, HASHED.expiry()).await.unwrap(), None);
    let reply = browser.get_raw("/whoami", &[format!("hid={new_id}")]).await;
    assert_eq!(reply.body, "anonymous");
}

/// The memory store lists no keys: those it holds are the candidates it
/// finds, and it holds no others (its count of sessions says so).
#[tokio::test]
async fn memory_store_keeps_hashed_ids() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        hashed_ids_over_http(
            MemoryStore::new(),
            |store: MemoryStore, candidates| async move {
                let mut held = BTreeSet::new();
                for key in candidates {
                    if store.load(&key, HASHED.expiry()).await.unwrap().is_some() {
                        held.insert(key);
                    }
                }
                assert_eq!(store.len(), held.len(), "keys of no id seen");
                held
            },
        )
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
            hashed_ids_over_http(store, |_, _| async move { keys(&[port]) }).await
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
            hashed_ids_over_http(store, |_, _| {
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

    use sessionkit::SessionStore;

    use super::support::memcached::{Memcached, Served};
    use super::{hashed_ids_over_http, HASHED, PREFIX, TEST_TIMEOUT};

    /// The keys memcached holds under the prefix, from `lru_crawler
    /// metadump all` (keys come URL-encoded: `hashed%3A…`). The crawler
    /// walks one LRU queue after another, and an item the LRU maintainer
    /// moves meanwhile into a queue already walked is not listed: the test
    /// adds every candidate key a load finds, so the dump only has to show
    /// keys beyond those.
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
                kept: Arc::new(vec![server]),
            };
            hashed_ids_over_http(store, |store, candidates| {
                let addr = addr.clone();
                async move {
                    let mut held = tokio::task::spawn_blocking(move || keys(&addr))
                        .await
                        .unwrap();
                    for key in candidates {
                        if store.load(&key, HASHED.expiry()).await.unwrap().is_some() {
                            held.insert(key);
                        }
                    }
                    held
                }
            })
            .await
        })
        .await
        .expect("never a hang");
    }
}
