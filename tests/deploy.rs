//! A deploy, played over real HTTP: two releases of one app, with the same
//! `session_config!` (cookie and prefix), on one store. Release 1 stores
//! sessions; release 2 changed the struct (a field added without a value in
//! the old data and without a serde default, a field renamed with an alias,
//! a field whose type changed, a field removed) and reads them. Both run at
//! once, as in a rolling deploy. Over the memory store, and over a real
//! `redis-server` with the `redis` feature.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sessionkit::{session_config, MemoryStore, Session, SessionData, SessionLayer, SessionStore};

use support::{capture_logs, serve, Browser, Reply};

session_config! {
    /// The app's session, in every release.
    pub APP { cookie_name: "app", prefix: "app:", session_name: "account" }
}

/// Values that must never reach the log.
const USER: &str = "u-41c2e9";
const NICK: &str = "Ada Lovelace";
const LEGACY: u32 = 424_242;

mod v1 {
    use super::*;

    #[derive(Session, Serialize, Deserialize, Default, Debug)]
    #[session(config = APP)]
    pub struct Account {
        pub user: Option<String>,
        pub nick: String,
        pub visits: String,
        pub legacy: Vec<u32>,
        pub cart: Vec<u64>,
    }
}

mod v2 {
    use super::*;

    /// `theme` added, `nick` renamed, `visits` a number, `legacy` removed.
    #[derive(Session, Serialize, Deserialize, Default, Debug)]
    #[session(config = APP)]
    pub struct Account {
        pub user: Option<String>,
        #[serde(alias = "nick")]
        pub display_name: String,
        pub visits: u64,
        pub theme: String,
        pub cart: Vec<u64>,
    }

    /// The same, whole or nothing.
    #[derive(Session, Serialize, Deserialize, Default, Debug)]
    #[session(config = APP, strict)]
    pub struct Strict {
        pub user: Option<String>,
        #[serde(alias = "nick")]
        pub display_name: String,
        pub visits: u64,
        pub theme: String,
        pub cart: Vec<u64>,
    }

    /// A real migration: `nick` split in two, `visits` parsed.
    #[derive(Session, Serialize, Deserialize, Default, Debug)]
    #[session(config = APP, migrate = split_nick)]
    pub struct Migrated {
        pub user: Option<String>,
        pub first: String,
        pub last: String,
        pub visits: u64,
        pub cart: Vec<u64>,
    }

    pub static MIGRATIONS: AtomicUsize = AtomicUsize::new(0);

    fn split_nick(object: &mut Map<String, Value>) {
        MIGRATIONS.fetch_add(1, Ordering::SeqCst);
        if let Some(Value::String(nick)) = object.remove("nick") {
            let (first, last) = nick.split_once(' ').unwrap_or((&nick, ""));
            object.insert("first".into(), first.into());
            object.insert("last".into(), last.into());
        }
        if let Some(visits) = object.get("visits").and_then(Value::as_str) {
            let visits: u64 = visits.parse().unwrap_or(0);
            object.insert("visits".into(), visits.into());
        }
    }
}

/// The same change, with serde's attributes on the fields.
mod attrs {
    use super::*;

    #[derive(Session, Serialize, Deserialize, Default, Debug)]
    #[session(config = APP)]
    #[serde(rename_all = "camelCase")]
    pub struct Release1 {
        pub user_name: Option<String>,
        pub page_size: String,
        pub limit: String,
        pub tags: Vec<String>,
    }

    #[derive(Session, Serialize, Deserialize, Default, Debug)]
    #[session(config = APP)]
    #[serde(rename_all = "camelCase")]
    pub struct Release2 {
        pub user_name: Option<String>,
        /// No longer fits: serde's default, not `Default`'s 0.
        #[serde(default = "fifty")]
        pub page_size: u32,
        /// Read through its `with` module: the stored text still fits.
        #[serde(with = "as_text")]
        pub limit: u64,
        #[serde(rename = "labels", alias = "tags")]
        pub labels: Vec<String>,
        #[serde(skip)]
        pub cache: u8,
        pub added: bool,
    }

    fn fifty() -> u32 {
        50
    }

    mod as_text {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&n.to_string())
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
            String::deserialize(d)?
                .parse()
                .map_err(serde::de::Error::custom)
        }
    }

    pub fn release1<S: SessionStore>(store: S) -> Router {
        async fn login(mut s: Session<Release1>) -> &'static str {
            s.user_name = Some(USER.into());
            s.page_size = "25".into();
            s.limit = "5".into();
            s.tags = vec!["a".into()];
            "ok"
        }
        Router::new()
            .route("/login", get(login))
            .layer(SessionLayer::new(store))
    }

    pub fn release2<S: SessionStore>(store: S) -> Router {
        async fn show(s: Session<Release2>) -> String {
            assert_eq!(s.cache, 0);
            serde_json::to_string(&*s).unwrap()
        }
        Router::new()
            .route("/show", get(show))
            .layer(SessionLayer::new(store))
    }
}

/// `/login` stores a release-1 session, `/show` only reads one.
fn release1<S: SessionStore>(store: S) -> Router {
    async fn login(mut s: Session<v1::Account>) -> String {
        s.user = Some(USER.into());
        s.nick = NICK.into();
        s.visits = "17".into();
        s.legacy = vec![LEGACY];
        s.cart = vec![3, 5];
        "ok".into()
    }
    Router::new()
        .route("/login", get(login))
        .route("/show", get(show::<v1::Account>))
        .layer(SessionLayer::new(store))
}

/// `/show` reads a session of `T`; `/visit` changes a release-2 one.
fn release2<S: SessionStore, T: SessionData + Serialize + HasCart>(store: S) -> Router {
    async fn visit(mut s: Session<v2::Account>) -> String {
        s.visits += 1;
        s.theme = "dark".into();
        s.visits.to_string()
    }
    Router::new()
        .route("/show", get(show::<T>))
        .route("/visit", get(visit))
        .route("/set/{user}", get(set::<T>))
        .layer(SessionLayer::new(store))
}

async fn show<T: SessionData + Serialize>(s: Session<T>) -> String {
    serde_json::to_string(&*s).unwrap()
}

/// A release-2 session started on release 2.
async fn set<T: SessionData + HasCart>(mut s: Session<T>, Path(user): Path<String>) -> String {
    *s.cart_mut() = vec![user.len() as u64];
    "set".into()
}

trait HasCart {
    fn cart_mut(&mut self) -> &mut Vec<u64>;
}

macro_rules! has_cart {
    ($($t:ty),*) => {$(
        impl HasCart for $t {
            fn cart_mut(&mut self) -> &mut Vec<u64> {
                &mut self.cart
            }
        }
    )*};
}
has_cart!(v2::Account, v2::Strict, v2::Migrated);

/// The session data `/show` answered.
fn shown(reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "{reply:?}");
    serde_json::from_str(&reply.body).unwrap()
}

/// What the store holds for `id`.
async fn stored<S: SessionStore>(store: &S, id: &str) -> Value {
    let bytes = store
        .load(&format!("app:{id}"), std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .expect("stored");
    serde_json::from_slice(&bytes).unwrap()
}

/// The request kept the visitor's session: no cookie of another id.
fn same_id(reply: &Reply, id: &str) {
    if reply.sets("app") {
        assert_eq!(reply.cookie_value("app"), id, "{reply:?}");
    }
}

/// A browser on `addr` with the cookies of `other`.
fn moved(other: &Browser, addr: std::net::SocketAddr) -> Browser {
    let mut browser = Browser::new(addr);
    browser.jar = other.jar.clone();
    browser
}

async fn deploy<S: SessionStore + Clone>(store: S) {
    let one = serve(release1(store.clone())).await;
    let two = serve(release2::<_, v2::Account>(store.clone())).await;
    let mut b1 = Browser::new(one);
    assert_eq!(b1.get("/login").await.body, "ok");
    let id = b1.jar["app"].clone();

    // Release 2 reads it, on a request that only reads.
    let mut b2 = moved(&b1, two);
    let (reply, logs) = capture_logs(b2.get("/show")).await;
    same_id(&reply, &id);
    assert_eq!(
        shown(&reply),
        json!({
            "user": USER,
            "display_name": NICK,
            "visits": 0,
            "theme": "",
            "cart": [3, 5],
        })
    );
    // The warning names the session and the fields, and shows no value, no id.
    assert!(logs.contains("WARN"), "{logs}");
    assert!(
        logs.contains("account") && logs.contains("v2::Account"),
        "{logs}"
    );
    assert!(logs.contains("reset=visits"), "{logs}");
    assert!(logs.contains("missing=theme"), "{logs}");
    for secret in [USER, NICK, "Lovelace", &LEGACY.to_string(), &id] {
        assert!(!logs.contains(secret), "{secret} in {logs}");
    }
    // Written back, even though the request only read: the removed field
    // is still there for release 1, the alias is not kept.
    assert_eq!(
        stored(&store, &id).await,
        json!({
            "user": USER,
            "display_name": NICK,
            "visits": 0,
            "theme": "",
            "cart": [3, 5],
            "legacy": [LEGACY],
        })
    );
    // From then on, the normal path: no warning.
    let (reply, logs) = capture_logs(b2.get("/visit")).await;
    assert_eq!(reply.body, "1");
    same_id(&reply, &id);
    assert!(!logs.contains("WARN"), "{logs}");

    // Release 1, still running, reads what release 2 wrote: logged in,
    // with the fields that still fit its struct.
    let (reply, logs) = capture_logs(b1.get("/show")).await;
    same_id(&reply, &id);
    assert_eq!(
        shown(&reply),
        json!({
            "user": USER,
            "nick": "",
            "visits": "",
            "legacy": [LEGACY],
            "cart": [3, 5],
        })
    );
    assert!(
        logs.contains("reset=visits") && logs.contains("missing=nick"),
        "{logs}"
    );
    // ...and release 2 again: the name wins over the alias release 1 wrote
    // back, and the alias is dropped.
    let reply = b2.get("/show").await;
    same_id(&reply, &id);
    assert_eq!(shown(&reply)["display_name"], NICK);
    assert_eq!(shown(&reply)["theme"], "dark");
    let after = stored(&store, &id).await;
    assert!(after.get("nick").is_none(), "{after}");
    assert_eq!(after["legacy"], json!([LEGACY]));
}

async fn strict<S: SessionStore + Clone>(store: S) {
    let one = serve(release1(store.clone())).await;
    let two = serve(release2::<_, v2::Strict>(store.clone())).await;
    let mut b1 = Browser::new(one);
    b1.get("/login").await;
    let id = b1.jar["app"].clone();
    let mut b2 = moved(&b1, two);
    let (reply, logs) = capture_logs(b2.get("/show")).await;
    // A fresh session (empty, so not stored and no cookie).
    assert_eq!(shown(&reply)["user"], Value::Null);
    assert!(logs.contains("starting a fresh session"), "{logs}");
    let reply = b2.get("/set/ada").await;
    assert_ne!(reply.cookie_value("app"), id);
}

async fn serde_attributes<S: SessionStore + Clone>(store: S) {
    let one = serve(attrs::release1(store.clone())).await;
    let two = serve(attrs::release2(store.clone())).await;
    let mut b1 = Browser::new(one);
    b1.get("/login").await;
    let id = b1.jar["app"].clone();
    let mut b2 = moved(&b1, two);
    let (reply, logs) = capture_logs(b2.get("/show")).await;
    same_id(&reply, &id);
    let want = json!({
        "userName": USER,
        "pageSize": 50,
        "limit": "5",
        "labels": ["a"],
        "added": false,
    });
    assert_eq!(shown(&reply), want);
    assert!(logs.contains("reset=page_size missing=added"), "{logs}");
    // The alias `tags` is not kept next to `labels`.
    assert_eq!(stored(&store, &id).await, want);
}

/// The migrate tests count calls of one function: one at a time.
static COUNTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn migrate<S: SessionStore + Clone>(store: S) {
    let _counting = COUNTING.lock().await;
    let one = serve(release1(store.clone())).await;
    let two = serve(release2::<_, v2::Migrated>(store.clone())).await;
    let calls = || v2::MIGRATIONS.load(Ordering::SeqCst);
    let before = calls();
    let mut b1 = Browser::new(one);
    b1.get("/login").await;
    let id = b1.jar["app"].clone();
    let mut b2 = moved(&b1, two);
    let (reply, logs) = capture_logs(b2.get("/show")).await;
    same_id(&reply, &id);
    assert_eq!(
        shown(&reply),
        json!({"user": USER, "first": "Ada", "last": "Lovelace", "visits": 17, "cart": [3, 5]})
    );
    // Migrated whole: nothing reset, no warning; the removed field kept.
    assert!(!logs.contains("WARN"), "{logs}");
    assert_eq!(stored(&store, &id).await["legacy"], json!([LEGACY]));
    assert_eq!(calls(), before + 1);
    // Saved: the next load decodes whole, without it.
    b2.get("/show").await;
    assert_eq!(calls(), before + 1);
    // Neither does a session release 2 started.
    let mut fresh = Browser::new(two);
    assert_eq!(fresh.get("/set/ada").await.body, "set");
    assert!(fresh.get("/show").await.body.contains("\"cart\":[3]"));
    assert_eq!(calls(), before + 1);
}

#[tokio::test]
async fn memory_deploy_keeps_everyone_logged_in() {
    deploy(MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_serde_attributes_are_honoured() {
    serde_attributes(MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_strict_gives_a_fresh_session() {
    strict(MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_migrate_runs_only_on_a_failed_decode() {
    migrate(MemoryStore::new()).await;
}

#[cfg(feature = "redis")]
mod redis {
    use std::sync::LazyLock;

    use sessionkit::store::redis::client::aio::ConnectionManager;
    use sessionkit::store::redis::client::Client;
    use sessionkit::RedisStore;

    use super::support::servers::RedisServer;

    static SERVER: LazyLock<RedisServer> = LazyLock::new(RedisServer::start);

    async fn store() -> RedisStore {
        let client = Client::open(SERVER.url()).unwrap();
        RedisStore::new(ConnectionManager::new(client).await.unwrap())
    }

    #[tokio::test]
    async fn redis_deploy_keeps_everyone_logged_in() {
        super::deploy(store().await).await;
    }

    #[tokio::test]
    async fn redis_serde_attributes_are_honoured() {
        super::serde_attributes(store().await).await;
    }

    #[tokio::test]
    async fn redis_strict_gives_a_fresh_session() {
        super::strict(store().await).await;
    }

    #[tokio::test]
    async fn redis_migrate_runs_only_on_a_failed_decode() {
        super::migrate(store().await).await;
    }
}
