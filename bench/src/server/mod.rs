//! The bench server: one router per contender, all doing the same work.

mod bare;
mod ceiling;
mod contention;
mod sessionkit_modes;
mod tower;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use axum::{routing::get, Router};
use sessionkit_alloc_count::Counts;

use crate::args::{ArgError, Args};

pub use ceiling::{run_ceiling, CeilingStore};

/// A contender. Every mode answers `GET /incr` and `GET /get` with the
/// counter as plain text (`bare-const`: with a constant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No session at all: `/incr` adds one to a process-wide atomic counter
    /// and returns it, `/get` returns it. The cost of axum, hyper and tokio.
    Bare,
    /// `bare` behind `Router::layer` with a layer that does nothing: what
    /// any layer applied that way costs before it does any work.
    BareLayer,
    /// No session and no counter: every route returns the constant body
    /// `1`, a `&'static str` (no formatting into a `String` of its own).
    BareConst,
    /// sessionkit's `MemoryStore`, a `#[derive(Session)]` struct `{ n: u64 }`.
    SessionkitMemory,
    /// `sessionkit-memory` with the layer applied around the whole router
    /// (`SessionLayer::new(store).layer(router)`, served through
    /// `into_make_service`) instead of with `Router::layer`, which wraps
    /// every route in a service of its own that is cloned and boxed anew on
    /// each request.
    SessionkitMemoryAround,
    /// sessionkit's `RedisStore` (feature `redis`).
    SessionkitRedis,
    /// sessionkit's memcached store (feature `memcache`).
    SessionkitMemcache,
    /// sessionkit's PostgreSQL store (feature `postgres`).
    SessionkitPostgres,
    /// sessionkit's SQLite store on a fresh file (feature `sqlite`).
    SessionkitSqlite,
    /// tower-sessions 0.15 with its `MemoryStore`, `n` under key `"n"`.
    TowerSessionsMemory,
    /// tower-sessions 0.14 with tower-sessions-redis-store 0.16 (fred).
    TowerSessionsRedis,
}

impl Mode {
    /// Every mode, in the order the benchmark runs them.
    pub const ALL: [Mode; 11] = [
        Mode::Bare,
        Mode::BareLayer,
        Mode::BareConst,
        Mode::SessionkitMemory,
        Mode::SessionkitMemoryAround,
        Mode::SessionkitRedis,
        Mode::SessionkitMemcache,
        Mode::SessionkitPostgres,
        Mode::SessionkitSqlite,
        Mode::TowerSessionsMemory,
        Mode::TowerSessionsRedis,
    ];

    /// The mode's name on the command line and in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Bare => "bare",
            Mode::BareLayer => "bare-layer",
            Mode::BareConst => "bare-const",
            Mode::SessionkitMemory => "sessionkit-memory",
            Mode::SessionkitMemoryAround => "sessionkit-memory-around",
            Mode::SessionkitRedis => "sessionkit-redis",
            Mode::SessionkitMemcache => "sessionkit-memcache",
            Mode::SessionkitPostgres => "sessionkit-postgres",
            Mode::SessionkitSqlite => "sessionkit-sqlite",
            Mode::TowerSessionsMemory => "tower-sessions-memory",
            Mode::TowerSessionsRedis => "tower-sessions-redis",
        }
    }

    /// Whether this build of the bench can serve the mode (some need a cargo feature).
    pub fn available(self) -> Result<(), String> {
        match self {
            Mode::SessionkitRedis if !cfg!(feature = "redis") => {
                Err("mode `sessionkit-redis` needs the bench built with `--features redis`".into())
            }
            Mode::SessionkitMemcache if !cfg!(feature = "memcache") => Err(
                "mode `sessionkit-memcache` needs the bench built with `--features memcache`"
                    .into(),
            ),
            Mode::SessionkitPostgres if !cfg!(feature = "postgres") => Err(
                "mode `sessionkit-postgres` needs the bench built with `--features postgres`"
                    .into(),
            ),
            Mode::SessionkitSqlite if !cfg!(feature = "sqlite") => Err(
                "mode `sessionkit-sqlite` needs the bench built with `--features sqlite`".into(),
            ),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).collect();
                format!("unknown mode, expected one of {}", names.join(", "))
            })
    }
}

/// What `bench-server` was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerArgs {
    /// The contender (absent with `--ceiling`).
    pub mode: Option<Mode>,
    /// Port on 127.0.0.1; 0 picks a free one (printed on stdout).
    pub port: u16,
    /// Tokio worker threads.
    pub workers: usize,
    /// Redis for the Redis modes.
    pub redis_url: String,
    /// Connections in tower-sessions-redis-store's fred pool.
    pub redis_pool: usize,
    /// memcached `host:port` (several: comma-separated) for the memcache mode.
    pub memcached: String,
    /// PostgreSQL connection string for the postgres mode.
    pub postgres_url: String,
    /// The SQLite file of the sqlite mode (removed and created afresh).
    pub sqlite_file: String,
    /// Session expiry, seconds (store TTL and cookie Max-Age).
    pub expiry: u64,
    /// Instead of serving: measure a store's get + set loop.
    pub ceiling: Option<CeilingStore>,
    /// Duration of the ceiling loop.
    pub ceiling_seconds: f64,
    /// Concurrent tasks of the ceiling loop.
    pub ceiling_concurrency: usize,
    /// Only say whether this build can run the mode or ceiling, then exit.
    pub check: bool,
    /// Also serve the contention workload's routes (sessionkit modes only).
    pub contention: bool,
}

/// Usage text of `bench-server`.
pub const USAGE: &str = "\
usage: bench-server --mode MODE [--port P] [--workers N] [--expiry SECS]
                    [--redis-url URL] [--redis-pool N] [--memcached HOST:PORT]
                    [--postgres-url URL] [--sqlite-file PATH] [--contention]
       bench-server --ceiling redis|memcache [--seconds S] [--concurrency C] [--workers N]
                    [--redis-url URL] [--memcached HOST:PORT]
       bench-server --memcache-ceiling ...      (same as --ceiling memcache)
       bench-server (--mode MODE | --ceiling STORE) --check
                    (exit 0 if this build can run it, else say why and exit 1)

modes: bare, bare-layer, bare-const, sessionkit-memory, sessionkit-memory-around,
       sessionkit-redis, sessionkit-memcache, sessionkit-postgres,
       sessionkit-sqlite, tower-sessions-memory, tower-sessions-redis
bare-layer is bare behind Router::layer(Identity): the floor any layer pays.
sessionkit-memory-around applies the session layer around the whole router
(SessionLayer::new(store).layer(router)) instead of with Router::layer; its
GET /allocs and GET /len pass through the layer (they use no session).
bare-const answers every route with the constant body `1` (no counter).
Every mode serves GET /incr (n += 1 in the session, saved; returns n) and
GET /get (returns n) on 127.0.0.1:P (P = 0: a free port, printed), and,
outside any layer, GET /allocs: `allocs=<n> bytes=<n>`, the allocations
(alloc and realloc calls) and bytes the process asked for so far.
sessionkit-postgres creates its table (migrate) unless it exists;
sessionkit-sqlite removes --sqlite-file (and its -wal, -shm) and creates it
afresh.
--expiry: session expiry in seconds (default 2592000, sanic-session's 30 days).
--contention (sessionkit modes): also GET /put/K (adds one to key K of the
  untyped session on the same cookie) inside the layer, and GET /conflicts
  (what the layer's conditional saves ran into) outside it.
--ceiling: no server; loops load + save of one key per task through
  sessionkit's store for S seconds (default 5) with C tasks (default 32) and
  prints `ceiling <name> <per second>`.";

impl ServerArgs {
    /// Parses `bench-server`'s arguments.
    pub fn parse(mut a: Args) -> Result<Self, ArgError> {
        let memcache_ceiling = a.flag("memcache-ceiling");
        let mut ceiling: Option<CeilingStore> = a.value("ceiling")?;
        if memcache_ceiling {
            ceiling = Some(CeilingStore::Memcache);
        }
        let mode: Option<Mode> = a.value("mode")?;
        let args = ServerArgs {
            mode,
            port: a.value_or("port", 0)?,
            workers: a.value_or("workers", 1)?,
            redis_url: a.value_or("redis-url", "redis://127.0.0.1:6379".to_string())?,
            redis_pool: a.value_or("redis-pool", 6)?,
            memcached: a.value_or("memcached", "127.0.0.1:11211".to_string())?,
            postgres_url: a.value_or(
                "postgres-url",
                "postgres://postgres@127.0.0.1:5432/postgres".to_string(),
            )?,
            sqlite_file: a.value_or("sqlite-file", "bench-sessions.db".to_string())?,
            expiry: a.value_or("expiry", 2_592_000)?,
            ceiling,
            ceiling_seconds: a.value_or("seconds", 5.0)?,
            ceiling_concurrency: a.value_or("concurrency", 32)?,
            check: a.flag("check"),
            contention: a.flag("contention"),
        };
        a.finish()?;
        match (args.mode, args.ceiling) {
            (None, None) => return Err(ArgError("`--mode` is required".into())),
            (Some(_), Some(_)) => {
                return Err(ArgError(
                    "`--mode` and `--ceiling` exclude each other".into(),
                ))
            }
            _ => {}
        }
        if args.workers == 0 || args.redis_pool == 0 || args.ceiling_concurrency == 0 {
            return Err(ArgError(
                "`--workers`, `--redis-pool` and `--concurrency` must be at least 1".into(),
            ));
        }
        let sessionkit = matches!(
            args.mode,
            Some(
                Mode::SessionkitMemory
                    | Mode::SessionkitRedis
                    | Mode::SessionkitMemcache
                    | Mode::SessionkitPostgres
                    | Mode::SessionkitSqlite
            )
        );
        if args.contention && !sessionkit {
            return Err(ArgError("`--contention` needs a sessionkit mode".into()));
        }
        if args.expiry == 0 {
            return Err(ArgError("`--expiry` must be at least 1 second".into()));
        }
        Ok(args)
    }
}

/// What a mode serves.
pub enum App {
    /// A router (its layers, if any, applied with `Router::layer`).
    Router(Router),
    /// A router inside sessionkit's layer as a whole.
    Around(sessionkit::SessionService<Router>),
}

impl App {
    /// Serves the app on `listener` until the future is dropped.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        match self {
            App::Router(router) => axum::serve(listener, router).await,
            App::Around(service) => {
                let make = axum::ServiceExt::<axum::extract::Request>::into_make_service(service);
                axum::serve(listener, make).await
            }
        }
    }
}

/// Builds the app of `mode`, connecting to its backend, plus
/// `GET /allocs` (outside any layer applied with `Router::layer`).
pub async fn router(args: &ServerArgs, mode: Mode) -> Result<App, Box<dyn std::error::Error>> {
    if mode == Mode::SessionkitMemoryAround {
        use tower_layer::Layer;
        let (routes, layer) = sessionkit_modes::memory_around(args.expiry)?;
        return Ok(App::Around(
            layer.layer(routes.route("/allocs", get(allocs))),
        ));
    }
    Ok(App::Router(
        mode_router(args, mode).await?.route("/allocs", get(allocs)),
    ))
}

/// What the counting global allocator of `bench-server` counted so far:
/// `allocs=<n> bytes=<n>` (zeros in a program without that allocator).
async fn allocs() -> String {
    crate::allocs::format(Counts::now())
}

async fn mode_router(args: &ServerArgs, mode: Mode) -> Result<Router, Box<dyn std::error::Error>> {
    mode.available()?;
    let expiry = Duration::from_secs(args.expiry);
    Ok(match mode {
        Mode::Bare => bare::router(),
        Mode::BareLayer => bare::router_with_layer(),
        Mode::BareConst => bare::router_const(),
        Mode::SessionkitMemory => sessionkit_modes::memory(args.expiry, args.contention)?,
        Mode::SessionkitMemoryAround => unreachable!("built by `router`"),
        Mode::SessionkitRedis => {
            sessionkit_modes::redis(args.expiry, &args.redis_url, args.contention).await?
        }
        Mode::SessionkitMemcache => {
            sessionkit_modes::memcache(args.expiry, &args.memcached, args.contention)?
        }
        Mode::SessionkitPostgres => {
            sessionkit_modes::postgres(args.expiry, &args.postgres_url, args.contention).await?
        }
        Mode::SessionkitSqlite => {
            sessionkit_modes::sqlite(args.expiry, &args.sqlite_file, args.contention).await?
        }
        Mode::TowerSessionsMemory => tower::memory(expiry),
        Mode::TowerSessionsRedis => tower::redis(expiry, &args.redis_url, args.redis_pool).await?,
    })
}

/// Serves `mode` until SIGINT or SIGTERM, then returns (so that tools such
/// as callgrind see a normal exit).
pub async fn serve(args: &ServerArgs, mode: Mode) -> Result<(), Box<dyn std::error::Error>> {
    let app = router(args, mode).await?;
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port))).await?;
    let addr = listener.local_addr()?;
    println!(
        "bench-server mode {mode} listening on {addr} (workers {}, expiry {} s, pid {})",
        args.workers,
        args.expiry,
        std::process::id()
    );
    tokio::select! {
        served = app.serve(listener) => served?,
        () = shutdown_signal() => {}
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ServerArgs, ArgError> {
        ServerArgs::parse(Args::new(s.split_whitespace().map(String::from)))
    }

    #[test]
    fn parses_modes_and_defaults() {
        let a = parse("--mode tower-sessions-memory --port 8080").unwrap();
        assert_eq!(a.mode, Some(Mode::TowerSessionsMemory));
        assert_eq!((a.port, a.workers, a.expiry), (8080, 1, 2_592_000));
        for m in Mode::ALL {
            assert_eq!(m.name().parse::<Mode>(), Ok(m));
        }
        let a = parse("--mode bare-const").unwrap();
        assert_eq!(a.mode, Some(Mode::BareConst));
        assert!(USAGE.contains("bare-const"));
        assert!(parse("--mode bare-const --contention").is_err());
        let a = parse("--memcache-ceiling --memcached 127.0.0.1:1").unwrap();
        assert_eq!(a.ceiling, Some(CeilingStore::Memcache));
    }

    #[test]
    fn rejects_what_it_cannot_run() {
        assert!(parse("").is_err());
        assert!(parse("--mode nope")
            .unwrap_err()
            .0
            .contains("expected one of bare"));
        assert!(parse("--mode bare --workers 0").is_err());
        assert!(parse("--mode bare --ceiling redis").is_err());
        assert!(parse("--mode bare --frobnicate").is_err());
        assert!(parse("--mode bare --contention").is_err());
        assert!(
            parse("--mode sessionkit-memory --contention")
                .unwrap()
                .contention
        );
    }

    #[tokio::test]
    async fn bare_const_answers_a_constant_and_allocs_is_outside_the_modes() {
        let args = parse("--mode bare-const").unwrap();
        let app = router(&args, Mode::BareConst).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(app.serve(listener));
        let bodies = tokio::task::spawn_blocking(move || {
            let mut c = crate::client::Connection::open(addr).unwrap();
            ["/incr", "/incr", "/get", "/plain", "/allocs"].map(|path| {
                let r = c.get(path, Some("session=0123")).unwrap();
                assert_eq!((r.status, r.set_cookie), (200, None), "{path}");
                String::from_utf8_lossy(c.body()).into_owned()
            })
        })
        .await
        .unwrap();
        assert_eq!(bodies[..4], ["1", "1", "1", "1"]);
        // This test program has no counting allocator: the counts read zero.
        assert_eq!(crate::allocs::parse(&bodies[4]), Ok(Counts::default()));
    }

    #[tokio::test]
    async fn the_layer_around_the_router_keeps_the_counter_in_the_session() {
        let args = parse("--mode sessionkit-memory-around").unwrap();
        let app = router(&args, Mode::SessionkitMemoryAround).await.unwrap();
        assert!(matches!(app, App::Around(_)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(app.serve(listener));
        let (bodies, cookies) = tokio::task::spawn_blocking(move || {
            let mut c = crate::client::Connection::open(addr).unwrap();
            let first = c.get("/incr", None).unwrap();
            let set = first.set_cookie.clone().expect("a session cookie");
            let cookie = set.split(';').next().unwrap().to_owned();
            let mut bodies = vec![String::from_utf8_lossy(c.body()).into_owned()];
            let mut cookies = vec![Some(cookie.clone())];
            for path in ["/incr", "/get", "/plain", "/len"] {
                let r = c.get(path, Some(&cookie)).unwrap();
                assert_eq!(r.status, 200, "{path}");
                cookies.push(
                    r.set_cookie
                        .map(|s| s.split(';').next().unwrap().to_owned()),
                );
                bodies.push(String::from_utf8_lossy(c.body()).into_owned());
            }
            (bodies, cookies)
        })
        .await
        .unwrap();
        assert_eq!(bodies[..3], ["1", "2", "2"]);
        assert_eq!(bodies[4], "1", "one session stored");
        assert_eq!(
            cookies[1], cookies[0],
            "the same session, its cookie re-sent"
        );
        assert_eq!(
            (&cookies[3], &cookies[4]),
            (&None, &None),
            "no session, no cookie"
        );
    }

    #[tokio::test]
    async fn every_available_mode_without_a_server_builds() {
        let args = parse("--mode bare --expiry 5").unwrap();
        for mode in [
            Mode::Bare,
            Mode::BareConst,
            Mode::SessionkitMemory,
            Mode::SessionkitMemoryAround,
            Mode::TowerSessionsMemory,
        ] {
            let _router = router(&args, mode).await.unwrap();
        }
        let bad = parse("--mode sessionkit-memory --expiry 7").unwrap();
        let Err(err) = router(&bad, Mode::SessionkitMemory).await else {
            panic!("an expiry no counter type has builds");
        };
        let err = err.to_string();
        assert!(err.contains("--expiry"), "{err}");
    }
}
