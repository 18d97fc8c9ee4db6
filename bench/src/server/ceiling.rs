//! `--ceiling`: how many "one read + one write" a store does per second
//! through sessionkit's own client, without the web server in the way.
//!
//! Each of `--concurrency` tasks loops `load` then `save` of its own key
//! (the session a request would touch) for `--seconds`. Pinned like the
//! server, it is the bound a reused-session read + write workload can reach.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sessionkit::SessionStore;

use super::ServerArgs;

/// The store whose ceiling is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeilingStore {
    /// sessionkit's `RedisStore` (feature `redis`).
    Redis,
    /// sessionkit's memcached store (feature `memcache`).
    Memcache,
}

impl CeilingStore {
    /// Its name in `ceiling NAME VALUE` and in the tables.
    pub fn name(self) -> &'static str {
        match self {
            CeilingStore::Redis => "redis-sessionkit",
            CeilingStore::Memcache => "memcache",
        }
    }

    /// Whether this build of the bench can measure it.
    pub fn available(self) -> Result<(), String> {
        match self {
            CeilingStore::Redis if !cfg!(feature = "redis") => {
                Err("`--ceiling redis` needs the bench built with `--features redis`".into())
            }
            CeilingStore::Memcache if !cfg!(feature = "memcache") => {
                Err("`--ceiling memcache` needs the bench built with `--features memcache`".into())
            }
            _ => Ok(()),
        }
    }
}

impl FromStr for CeilingStore {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "redis" => Ok(CeilingStore::Redis),
            "memcache" | "memcached" => Ok(CeilingStore::Memcache),
            _ => Err("expected `redis` or `memcache`".into()),
        }
    }
}

async fn open(
    args: &ServerArgs,
    which: CeilingStore,
) -> Result<Arc<dyn SessionStore>, Box<dyn std::error::Error>> {
    match which {
        #[cfg(feature = "redis")]
        CeilingStore::Redis => Ok(Arc::new(
            sessionkit::RedisStore::from_url(&args.redis_url)
                .await
                .map_err(|e| format!("cannot connect to Redis at {}: {e}", args.redis_url))?,
        )),
        #[cfg(not(feature = "redis"))]
        CeilingStore::Redis => {
            let _ = &args.redis_url;
            Err("`--ceiling redis` needs the bench built with `--features redis`".into())
        }
        #[cfg(feature = "memcache")]
        CeilingStore::Memcache => Ok(Arc::new(sessionkit::MemcacheStore::new(
            args.memcached.split(','),
        )?)),
        #[cfg(not(feature = "memcache"))]
        CeilingStore::Memcache => {
            let _ = &args.memcached;
            Err("`--ceiling memcache` needs the bench built with `--features memcache`".into())
        }
    }
}

/// Runs the loop and returns load + save pairs per second.
pub async fn run_ceiling(
    args: &ServerArgs,
    which: CeilingStore,
) -> Result<f64, Box<dyn std::error::Error>> {
    let store = open(args, which).await?;
    let ttl = Duration::from_secs(args.expiry);
    let value: &'static [u8] = br#"{"n":1}"#;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.ceiling_seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..args.ceiling_concurrency {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let key = format!("session:{t:032x}");
            let mut pairs = 0u64;
            while Instant::now() < deadline {
                store.load(&key, ttl).await?;
                store.save(&key, value, ttl).await?;
                pairs += 1;
            }
            Ok::<u64, sessionkit::StoreError>(pairs)
        });
    }
    let mut total = 0;
    while let Some(done) = tasks.join_next().await {
        total += done??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}
