//! Redis Sentinel for the tests: one master, one replica of it and three
//! Sentinels watching it, each a real `redis-server` on free loopback ports
//! (a [`Server`], so none outlives the tests). The Sentinels declare the
//! master down after a second without an answer, and need two of them to
//! agree, so killing the master promotes the replica within seconds.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::servers::{redis_args, redis_cli, redis_ready, RedisServer, Server};

/// The name the Sentinels know the master by.
pub const MASTER_NAME: &str = "m";

/// How long the Sentinels wait for an answer from the master before they
/// call it down (`down-after-milliseconds`).
pub const DOWN_AFTER: Duration = Duration::from_millis(1000);

/// How long the Sentinels may take to set up and discover each other.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A master, its replica and three Sentinels.
pub struct SentinelSetup {
    pub master: RedisServer,
    pub replica: Server,
    pub sentinels: Vec<Server>,
}

impl SentinelSetup {
    /// Starts the servers and waits until the replica is in sync and every
    /// Sentinel knows the replica and the two other Sentinels, so that a
    /// failover can be agreed on.
    pub fn start() -> SentinelSetup {
        let master = RedisServer::start();
        let master_port = master.port();
        let replica = Server::start(
            "redis-server",
            1,
            move |ports, dir| {
                let mut args = redis_args(ports[0], dir);
                args.extend([
                    "--replicaof".into(),
                    "127.0.0.1".into(),
                    master_port.to_string(),
                ]);
                args
            },
            redis_ready,
        );
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let info = redis_cli(replica.port(), &["info", "replication"]);
            if info.contains("master_link_status:up") {
                break;
            }
            assert!(Instant::now() < deadline, "replica not in sync: {info}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let sentinels: Vec<Server> = (0..3)
            .map(|_| {
                Server::start(
                    "redis-server",
                    1,
                    move |ports, dir| sentinel_args(ports[0], dir, master_port),
                    redis_ready,
                )
            })
            .collect();
        for sentinel in &sentinels {
            loop {
                let master = sentinel_master(sentinel.port());
                let field = |name: &str| master.get(name).map(String::as_str).unwrap_or("");
                if field("num-slaves") == "1" && field("num-other-sentinels") == "2" {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "Sentinel on {} not ready: {master:?}",
                    sentinel.port()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        SentinelSetup {
            master,
            replica,
            sentinels,
        }
    }

    /// `redis://127.0.0.1:<port>` of every Sentinel.
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|s| format!("redis://127.0.0.1:{}", s.port()))
            .collect()
    }

    /// The port of the master every Sentinel names, once they all name the
    /// same one.
    pub fn master_port(&self) -> u16 {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let named: Vec<String> = self
                .sentinels
                .iter()
                .map(|s| {
                    redis_cli(
                        s.port(),
                        &["sentinel", "get-master-addr-by-name", MASTER_NAME],
                    )
                })
                .collect();
            if named.iter().all(|n| *n == named[0]) {
                let port = named[0].lines().nth(1).and_then(|p| p.trim().parse().ok());
                return port.unwrap_or_else(|| panic!("no master address: {named:?}"));
            }
            assert!(
                Instant::now() < deadline,
                "the Sentinels disagree: {named:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the replica has acknowledged every write the master took
    /// so far (`WAIT 1`).
    pub fn wait_replicated(&self) {
        let acked = redis_cli(self.master.port(), &["wait", "1", "5000"]);
        assert_eq!(acked.trim(), "1", "the replica did not acknowledge");
    }
}

/// `SENTINEL MASTER m` on the Sentinel at `port`, as field → value.
fn sentinel_master(port: u16) -> BTreeMap<String, String> {
    let out = redis_cli(port, &["sentinel", "master", MASTER_NAME]);
    let lines: Vec<&str> = out.lines().collect();
    lines
        .chunks(2)
        .filter_map(|pair| match pair {
            [k, v] => Some((k.to_string(), v.to_string())),
            _ => None,
        })
        .collect()
}

/// Writes the Sentinel's configuration file in its scratch directory
/// (Sentinel rewrites the file it runs from) and returns its arguments.
fn sentinel_args(port: u16, dir: &Path, master_port: u16) -> Vec<String> {
    let conf = dir.join("sentinel.conf");
    let down_after = DOWN_AFTER.as_millis();
    std::fs::write(
        &conf,
        format!(
            "port {port}\n\
             bind 127.0.0.1\n\
             daemonize no\n\
             dir {dir}\n\
             sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds {MASTER_NAME} {down_after}\n\
             sentinel failover-timeout {MASTER_NAME} 2000\n\
             sentinel parallel-syncs {MASTER_NAME} 1\n",
            dir = dir.display(),
        ),
    )
    .expect("write sentinel.conf");
    vec![conf.to_str().unwrap().to_string(), "--sentinel".to_string()]
}
