//! Network faults between the app and its store, over real HTTP: a real
//! `redis-server` or `memcached` behind `support::proxy::Proxy`, which adds
//! latency, stalls, resets connections or cuts a reply in half while the
//! test app serves requests through the layer.
//!
//! For each fault: a request that needs the store gets the transient error
//! policy (`503` with `Retry-After`) within the store's timeout plus a
//! margin (a hang fails the test; nothing here asserts speed); once the
//! fault is gone, requests succeed again; no connection or task is left
//! behind; every write answered `200` is still there at the end; and a
//! write whose acknowledgement was cut off is answered `503`, never `200`.
//!
//! Then memcached server loss under load: one of three servers stopped
//! while 60 logged-in visitors make requests.
#![cfg(any(feature = "redis", feature = "memcache"))]

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use sessionkit::SessionStore;

use support::app::gated;
use support::proxy::{Fault, Proxy};
use support::{serve, Browser, Reply};

/// The store's timeout in these tests.
const TIMEOUT: Duration = Duration::from_millis(300);

/// How much longer than [`TIMEOUT`] a failing request may take before it
/// counts as a hang: generous, as the machine may be busy.
const MARGIN: Duration = Duration::from_secs(3);

/// How long a store may take to serve again once the fault is gone.
const RECOVERY: Duration = Duration::from_secs(20);

/// How long open connections and tasks may take to settle.
const SETTLE: Duration = Duration::from_secs(10);

/// `path` for `browser`, which must answer within the timeout plus the margin.
async fn request(browser: &mut Browser, path: &str) -> Reply {
    tokio::time::timeout(TIMEOUT + MARGIN, browser.get(path))
        .await
        .unwrap_or_else(|_| panic!("{path} hung: no answer within {:?}", TIMEOUT + MARGIN))
}

/// The transient store error policy, with nothing stored in the browser.
fn assert_unavailable(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 503, "{what}: {reply:?}");
    assert_eq!(reply.header("retry-after"), "2", "{what}: {reply:?}");
    assert!(reply.set_cookies.is_empty(), "{what}: {reply:?}");
}

/// Tasks alive in this test's runtime.
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Waits (up to [`SETTLE`]) until at most `n` tasks are alive; returns how many are.
async fn settle_tasks(n: usize) -> usize {
    let deadline = tokio::time::Instant::now() + SETTLE;
    while alive_tasks() > n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    alive_tasks()
}

/// One visitor writing a new key of its untyped session per write,
/// remembering which writes were answered `200` and which were not.
struct Visitor {
    browser: Browser,
    writes: usize,
    acknowledged: BTreeSet<String>,
    unacknowledged: BTreeSet<String>,
}

impl Visitor {
    fn new(addr: SocketAddr) -> Visitor {
        Visitor {
            browser: Browser::new(addr),
            writes: 0,
            acknowledged: BTreeSet::new(),
            unacknowledged: BTreeSet::new(),
        }
    }

    /// Sets a new key; returns the answer.
    async fn write(&mut self) -> Reply {
        self.writes += 1;
        let key = format!("k{}", self.writes);
        let reply = request(&mut self.browser, &format!("/untyped/set/{key}/1")).await;
        match reply.status {
            200 => self.acknowledged.insert(key),
            _ => self.unacknowledged.insert(key),
        };
        reply
    }

    /// The keys of the session, read through the app.
    async fn read(&mut self) -> Reply {
        request(&mut self.browser, "/untyped").await
    }

    /// Writes until a write is answered `200` (each other answer must be
    /// the `503` policy); gives up after [`RECOVERY`]. Returns the failed
    /// writes.
    async fn recover(&mut self, fault: &str) -> usize {
        let deadline = tokio::time::Instant::now() + RECOVERY;
        let mut failed = 0;
        loop {
            let reply = self.write().await;
            if reply.status == 200 {
                return failed;
            }
            assert_unavailable(&reply, &format!("recovering from {fault}"));
            failed += 1;
            assert!(
                tokio::time::Instant::now() < deadline,
                "no recovery from {fault} within {RECOVERY:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every acknowledged write is in the session; says which of the
    /// others are too.
    async fn check_writes(&mut self) {
        let reply = self.read().await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let session: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&reply.body).unwrap();
        for key in &self.acknowledged {
            assert!(
                session.contains_key(key),
                "the write of {key} was answered 200 and is lost: {session:?}"
            );
        }
        let applied: Vec<&String> = self
            .unacknowledged
            .iter()
            .filter(|k| session.contains_key(*k))
            .collect();
        eprintln!(
            "{} writes answered 200, all kept; {} answered 503, of which applied anyway: {applied:?}",
            self.acknowledged.len(),
            self.unacknowledged.len()
        );
    }
}

/// Connections and tasks before a fault, to compare with after.
struct Baseline {
    connections: usize,
    tasks: usize,
}

/// Checks that the proxy's open connections and the runtime's tasks are
/// back to (at most) the baseline.
async fn assert_nothing_left(proxy: &Proxy, baseline: &Baseline, fault: &str) {
    let connections = proxy.settle(baseline.connections, SETTLE).await;
    assert!(
        connections <= baseline.connections,
        "after {fault}: {connections} connections open, {} before",
        baseline.connections
    );
    let tasks = settle_tasks(baseline.tasks).await;
    assert!(
        tasks <= baseline.tasks,
        "after {fault}: {tasks} tasks alive, {} before",
        baseline.tasks
    );
}

/// Every fault in turn against `store`, which reaches its server through
/// `proxy` and has the timeout [`TIMEOUT`].
async fn every_fault<S: SessionStore>(store: S, proxy: &Proxy) {
    let (router, gate) = gated(store);
    let addr = serve(router).await;
    let mut visitor = Visitor::new(addr);
    // A new session, then a change to a loaded one: both kinds of write.
    for _ in 0..2 {
        let reply = visitor.write().await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    let baseline = Baseline {
        connections: proxy.open(),
        tasks: alive_tasks(),
    };
    eprintln!(
        "baseline: {} connections through the proxy, {} tasks",
        baseline.connections, baseline.tasks
    );

    let faults = [
        ("latency over the timeout", Fault::Latency(TIMEOUT * 4)),
        ("a stall", Fault::Stall),
        ("connection resets", Fault::Reset),
    ];
    for (name, fault) in faults {
        proxy.set(fault);
        let reply = visitor.read().await;
        assert_unavailable(&reply, &format!("a read under {name}"));
        let reply = visitor.write().await;
        assert_unavailable(&reply, &format!("a write under {name}"));
        {
            let mut newcomer = Browser::new(addr);
            let reply = request(&mut newcomer, "/untyped/set/a/1").await;
            assert_unavailable(&reply, &format!("a new visitor's write under {name}"));
        }
        proxy.heal();
        let failed = visitor.recover(name).await;
        eprintln!("{name}: 503 within the timeout; served again after {failed} more 503s");
        assert_nothing_left(proxy, &baseline, name).await;
    }

    // A load's answer cut in half.
    proxy.cut_next_reply();
    let reply = visitor.read().await;
    assert!(
        proxy.cut_done(),
        "the read got its answer through the proxy"
    );
    assert_unavailable(&reply, "a read whose answer was cut");
    visitor.recover("a cut load answer").await;
    assert_nothing_left(proxy, &baseline, "a cut load answer").await;

    // A save's acknowledgement cut in half: the handler holds the loaded
    // session at the gate while the cut is armed, so the next answer is
    // the save's.
    let mut holder = Browser::new(addr);
    holder.jar = visitor.browser.jar.clone();
    let held = tokio::spawn(async move { request(&mut holder, "/hold/cut/1").await });
    let pass = || async {
        tokio::time::timeout(TIMEOUT + MARGIN, gate.pass())
            .await
            .expect("the handler reaches the gate")
    };
    pass().await;
    proxy.cut_next_reply();
    pass().await;
    let reply = held.await.unwrap();
    assert!(
        proxy.cut_done(),
        "the save got its answer through the proxy"
    );
    assert_unavailable(&reply, "a save whose acknowledgement was cut");
    visitor.unacknowledged.insert("cut".into());
    visitor.recover("a cut save acknowledgement").await;
    assert_nothing_left(proxy, &baseline, "a cut save acknowledgement").await;

    // A new visitor's first save (its only store call) with its
    // acknowledgement cut: no cookie, so no session it could think it has.
    {
        let mut newcomer = Browser::new(addr);
        proxy.cut_next_reply();
        let reply = request(&mut newcomer, "/untyped/set/a/1").await;
        assert!(
            proxy.cut_done(),
            "the save got its answer through the proxy"
        );
        assert_unavailable(&reply, "a new session's save whose acknowledgement was cut");
    }
    visitor.recover("a cut new session's save").await;
    assert_nothing_left(proxy, &baseline, "a cut new session's save").await;

    // Latency under the timeout is no fault.
    proxy.set(Fault::Latency(TIMEOUT / 10));
    let reply = visitor.write().await;
    assert_eq!(reply.status, 200, "{reply:?}");
    proxy.heal();

    visitor.check_writes().await;
    assert_nothing_left(proxy, &baseline, "everything").await;
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;
    use sessionkit::RedisStore;
    use support::servers::RedisServer;

    #[tokio::test]
    async fn redis_store_under_every_fault() {
        let redis = RedisServer::start();
        let proxy = Proxy::start(SocketAddr::from(([127, 0, 0, 1], redis.port()))).await;
        let store = RedisStore::from_url(&format!("redis://{}", proxy.addr()))
            .await
            .unwrap()
            .with_timeout(TIMEOUT);
        every_fault(store, &proxy).await;
    }
}

#[cfg(feature = "memcache")]
mod memcache {
    use super::*;
    use sessionkit::MemcacheStore;
    use support::memcached::Memcached;

    #[tokio::test]
    async fn memcache_store_under_every_fault() {
        let memcached = Memcached::start();
        let proxy = Proxy::start(memcached.addr().parse().unwrap()).await;
        let store = MemcacheStore::new([proxy.addr()])
            .unwrap()
            .with_timeout(TIMEOUT);
        every_fault(store, &proxy).await;
    }

    /// How the server is lost.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Loss {
        /// Stopped, then started again, empty: its visitors start over.
        Crash,
        /// Frozen (SIGSTOP), then resumed with its data: its visitors
        /// continue where they were.
        Freeze,
    }

    /// A logged-in visitor and the server that holds its session.
    struct Member {
        browser: Browser,
        key: String,
        server: String,
        /// Whether any of its requests failed while the server was lost.
        affected: bool,
    }

    const VISITORS: usize = 60;
    const ROUNDS_DOWN: i64 = 3;

    /// `path` for every member at once; the answers in the members' order.
    async fn round(members: Vec<Member>, path: &str) -> Vec<(Member, Reply)> {
        let mut requests = tokio::task::JoinSet::new();
        for (i, mut member) in members.into_iter().enumerate() {
            let path = path.to_string();
            requests.spawn(async move {
                let reply = request(&mut member.browser, &path).await;
                (i, member, reply)
            });
        }
        let mut done = requests.join_all().await;
        done.sort_by_key(|(i, _, _)| *i);
        done.into_iter().map(|(_, m, r)| (m, r)).collect()
    }

    /// 60 logged-in visitors on three servers; one server is lost for
    /// three rounds of requests from all of them, then comes back.
    async fn lose_one_of_three(loss: Loss) -> f64 {
        let mut servers: Vec<Memcached> = (0..3).map(|_| Memcached::start()).collect();
        let store = MemcacheStore::new(servers.iter().map(Memcached::addr))
            .unwrap()
            .with_timeout(TIMEOUT);
        let addr = serve(support::app::app(store.clone())).await;

        let mut members = Vec::new();
        for i in 0..VISITORS {
            let mut browser = Browser::new(addr);
            let reply = request(&mut browser, &format!("/login/user{i}")).await;
            assert_eq!(reply.status, 200, "{reply:?}");
            let key = format!("session:{}", browser.jar["session"]);
            let server = store.server_for(&key).to_string();
            members.push(Member {
                browser,
                key,
                server,
                affected: false,
            });
        }
        for (member, reply) in round(std::mem::take(&mut members), "/incr").await {
            assert_eq!((reply.status, reply.body.as_str()), (200, "1"));
            members.push(member);
        }

        let lost = servers[1].addr();
        match loss {
            Loss::Crash => servers[1].stop(),
            Loss::Freeze => servers[1].pause(),
        }
        let mut requests = 0;
        for n in 2..2 + ROUNDS_DOWN {
            for (mut member, reply) in round(std::mem::take(&mut members), "/incr").await {
                requests += 1;
                if reply.status != 200 {
                    member.affected = true;
                    assert_unavailable(&reply, "a session on the lost server");
                } else {
                    assert_eq!(reply.body, n.to_string(), "{reply:?}");
                }
                members.push(member);
            }
        }
        let affected = members.iter().filter(|m| m.affected).count();
        let fraction = affected as f64 / VISITORS as f64;
        // The lost server's share of the ring, over many keys.
        let share = (0..10_000)
            .filter(|i| store.server_for(&format!("session:{i:032x}")) == lost)
            .count() as f64
            / 10_000.0;
        eprintln!(
            "{loss:?}: 1 of 3 servers lost for {requests} requests from {VISITORS} visitors: \
             {affected} sessions affected ({:.1} %; the server's share of the ring: {:.1} %)",
            fraction * 100.0,
            share * 100.0
        );
        for member in &members {
            // Exactly the sessions the lost server holds fail, every time;
            // the others keep working.
            assert_eq!(member.affected, member.server == lost, "{}", member.key);
            if member.affected {
                // Not moved to a survivor: neither holds it, not even a
                // fresh one.
                for (i, server) in servers.iter().enumerate() {
                    if i != 1 {
                        assert_eq!(server.get(&member.key), None, "{}", member.key);
                    }
                }
            }
        }

        match loss {
            Loss::Crash => servers[1].restart(),
            Loss::Freeze => servers[1].resume(),
        }
        for (member, reply) in round(std::mem::take(&mut members), "/incr").await {
            let want = match (member.affected, loss) {
                (false, _) => 2 + ROUNDS_DOWN,
                // Started again empty: a fresh session.
                (true, Loss::Crash) => 1,
                // Back with its data: where the visitor left off.
                (true, Loss::Freeze) => 2,
            };
            assert_eq!(
                (reply.status, reply.body.as_str()),
                (200, want.to_string().as_str()),
                "{}",
                member.key
            );
            members.push(member);
        }
        fraction
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crashed_server_fails_its_third_of_sessions_and_only_those() {
        let fraction = lose_one_of_three(Loss::Crash).await;
        // About a third: the share of the ring the lost server holds.
        assert!((0.05..=0.7).contains(&fraction), "{fraction}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_frozen_server_fails_its_sessions_then_serves_them_as_they_were() {
        let fraction = lose_one_of_three(Loss::Freeze).await;
        assert!((0.05..=0.7).contains(&fraction), "{fraction}");
    }
}
