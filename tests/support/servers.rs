//! Real store servers for the tests: `redis-server` processes (one, or a
//! cluster) on free loopback ports, which a test can stop, restart, pause and
//! resume to inject faults. Stores are never mocked.
//!
//! [`Server`] is the generic part (one process, its ports, its scratch
//! directory, its lifetime); [`RedisServer`] and [`RedisCluster`] build on it,
//! and a memcached harness can sit beside them the same way.
//!
//! # No server outlives the tests
//!
//! Each server is started by a small `sh` wrapper whose stdin is a pipe held
//! by this test process. The wrapper blocks reading that pipe; once it ends —
//! [`Server::stop`], dropping the [`Server`], or the test binary exiting in
//! any way (returning, panicking, killed) — the wrapper signals the server
//! (SIGKILL when the test binary exited: nothing in a test server is worth a
//! clean shutdown), waits for it and removes the scratch directory. So a server kept in a
//! `static` for all the tests of a file (statics are never dropped) is still
//! gone when the test binary ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Stops the server when the pipe from the test process ends or a line
/// naming the signal to send arrives on it; at the end of the pipe (the test
/// binary exited) that is SIGKILL: test servers keep nothing worth a clean
/// shutdown, and the server is gone at once.
const WRAPPER: &str = r#"
dir=$1; shift
"$@" </dev/null >"$dir/server.log" 2>&1 &
pid=$!
echo "$pid"
read -r sig || sig=KILL
kill -"${sig:-KILL}" "$pid" 2>/dev/null
kill -CONT "$pid" 2>/dev/null
wait "$pid"
rm -rf "$dir"
"#;

/// How long a server may take to answer after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// `n` distinct loopback ports that were free a moment ago.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Builds a server's command line from its ports and scratch directory.
type Args = Box<dyn Fn(&[u16], &Path) -> Vec<String> + Send + Sync>;

/// One server process on loopback ports of its own.
pub struct Server {
    program: &'static str,
    ports: Vec<u16>,
    dir: PathBuf,
    args: Args,
    ready: fn(u16) -> bool,
    running: Option<Running>,
}

struct Running {
    wrapper: Child,
    stdin: Option<ChildStdin>,
    pid: u32,
}

impl Server {
    /// Starts `program` with the arguments `args` builds from `ports` fresh
    /// free ports and a fresh scratch directory, and waits until `ready`
    /// (given the first port) says it answers. Another set of ports is tried
    /// if the server does not come up (a port taken in the meantime).
    pub fn start(
        program: &'static str,
        ports: usize,
        args: impl Fn(&[u16], &Path) -> Vec<String> + Send + Sync + 'static,
        ready: fn(u16) -> bool,
    ) -> Server {
        let mut server = Server {
            program,
            ports: Vec::new(),
            dir: PathBuf::new(),
            args: Box::new(args),
            ready,
            running: None,
        };
        let mut last_log = String::new();
        for _attempt in 0..3 {
            server.ports = free_ports(ports);
            server.dir = scratch_dir();
            match server.spawn() {
                Ok(()) => return server,
                Err(log) => last_log = log,
            }
        }
        panic!("{program} did not start: {last_log}");
    }

    /// The first port (the one clients use).
    pub fn port(&self) -> u16 {
        self.ports[0]
    }

    /// Every port, in the order the argument builder got them.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.running.as_ref().map(|r| r.pid)
    }

    /// Stops the server (SIGTERM) and waits until it has exited.
    pub fn stop(&mut self) {
        self.stop_with("TERM");
    }

    /// Kills the server (SIGKILL), like a crash, and waits until it is gone.
    pub fn kill(&mut self) {
        self.stop_with("KILL");
    }

    /// Starts the server again on the same ports with the same arguments
    /// (and an empty scratch directory).
    pub fn restart(&mut self) {
        assert!(self.running.is_none(), "{} is still running", self.program);
        if let Err(log) = self.spawn() {
            panic!(
                "{} did not restart on port {}: {log}",
                self.program,
                self.port()
            );
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.pid().expect("server not running");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    fn stop_with(&mut self, signal: &str) {
        let Some(mut running) = self.running.take() else {
            return;
        };
        if let Some(stdin) = running.stdin.as_mut() {
            let _ = writeln!(stdin, "{signal}");
        }
        drop(running.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = running.wrapper.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // The server ignored SIGTERM: make sure it is gone anyway.
        let _ = Command::new("kill")
            .args(["-KILL", &running.pid.to_string()])
            .status();
        let _ = running.wrapper.wait();
    }

    /// Starts the process; on failure returns its log and leaves nothing running.
    fn spawn(&mut self) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).expect("create the scratch directory");
        let args = (self.args)(&self.ports, &self.dir);
        let mut wrapper = Command::new("sh")
            .arg("-c")
            .arg(WRAPPER)
            .arg("sh")
            .arg(&self.dir)
            .arg(self.program)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run sh for {}: {e}", self.program));
        let mut pid_line = String::new();
        BufReader::new(wrapper.stdout.take().unwrap())
            .read_line(&mut pid_line)
            .expect("read the server's pid");
        let pid: u32 = pid_line.trim().parse().expect("the wrapper prints the pid");
        let stdin = wrapper.stdin.take();
        self.running = Some(Running {
            wrapper,
            stdin,
            pid,
        });
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if (self.ready)(self.port()) {
                return Ok(());
            }
            if !alive(pid) || Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                self.stop();
                return Err(format!("{} {args:?}: {log}", self.program));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A new directory name under the system's temporary directory.
fn scratch_dir() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "sessionkit-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ))
}

/// Whether process `pid` runs (exists and is not a zombie).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // pid (comm) STATE ...; comm may contain spaces and parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Sends an HTTP/1.1 `method` request for `path`, without a body, to
/// 127.0.0.1:`port`, and reads the answer until `expected` holds for what
/// came so far (`true`), or the server closes the connection, a read waits
/// longer than `patience` or anything fails (`false`). A server may keep
/// the connection open after its answer, so the answer is not read to its
/// end.
pub fn http_answers(
    port: u16,
    method: &str,
    path: &str,
    patience: Duration,
    expected: impl Fn(&str) -> bool,
) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(patience));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let mut buf = [0; 1024];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        answer.extend_from_slice(&buf[..n]);
        if expected(&String::from_utf8_lossy(&answer)) {
            return true;
        }
    }
    false
}

/// Sends `request` to 127.0.0.1:`port` and returns what comes back first.
fn ask(port: u16, request: &[u8]) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    stream.write_all(request).ok()?;
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

// ---------------------------------------------------------------- Redis

/// Whether a Redis server or Sentinel answers `PING` on `port`.
pub fn redis_ready(port: u16) -> bool {
    ask(port, b"PING\r\n").is_some_and(|r| r.starts_with("+PONG"))
}

/// The arguments every test redis-server gets: loopback only, no
/// persistence, files (if any) in the scratch directory.
pub fn redis_args(port: u16, dir: &Path) -> Vec<String> {
    [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--daemonize",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

/// Runs `redis-cli -p port args…` and returns its standard output.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli");
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One standalone `redis-server`.
pub struct RedisServer {
    pub server: Server,
}

impl RedisServer {
    /// Starts a redis-server on a free loopback port.
    pub fn start() -> RedisServer {
        RedisServer {
            server: Server::start(
                "redis-server",
                1,
                |p, dir| redis_args(p[0], dir),
                redis_ready,
            ),
        }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.server.port())
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `redis-cli` against this server.
    pub fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.port(), args)
    }
}

/// A Redis Cluster of masters without replicas, each a `redis-server`.
pub struct RedisCluster {
    pub nodes: Vec<Server>,
}

impl RedisCluster {
    /// Starts `masters` cluster-enabled servers (each with its own client
    /// and cluster-bus port), joins them with `redis-cli --cluster create`
    /// and waits until every node reports `cluster_state:ok`.
    pub fn start(masters: usize) -> RedisCluster {
        RedisCluster {
            nodes: start_cluster(masters, 0, 5000),
        }
    }

    /// `redis://127.0.0.1:<port>` of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port()))
            .collect()
    }

    /// The client port of every node.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(Server::port).collect()
    }
}

/// Starts `masters × (1 + replicas)` cluster-enabled servers, each with its
/// own client and cluster-bus port and the given `cluster-node-timeout`,
/// joins them with `redis-cli --cluster create … --cluster-replicas
/// <replicas>`, and waits until every node reports `cluster_state:ok` and
/// every replica's link to its master is up.
pub fn start_cluster(masters: usize, replicas: usize, node_timeout_ms: u32) -> Vec<Server> {
    let node_timeout = node_timeout_ms.to_string();
    let nodes: Vec<Server> = (0..masters * (1 + replicas))
        .map(|_| {
            let node_timeout = node_timeout.clone();
            Server::start(
                "redis-server",
                2,
                move |p, dir| {
                    let mut args = redis_args(p[0], dir);
                    args.extend(
                        [
                            "--cluster-enabled",
                            "yes",
                            "--cluster-config-file",
                            dir.join("nodes.conf").to_str().unwrap(),
                            "--cluster-port",
                            &p[1].to_string(),
                            "--cluster-node-timeout",
                            &node_timeout,
                        ]
                        .map(String::from),
                    );
                    args
                },
                redis_ready,
            )
        })
        .collect();
    let addresses: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port()))
        .collect();
    let out = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addresses)
        .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
        .output()
        .expect("run redis-cli --cluster create");
    assert!(out.status.success(), "redis-cli --cluster create: {out:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    for node in &nodes {
        loop {
            let info = redis_cli(node.port(), &["cluster", "info"]);
            let replication = redis_cli(node.port(), &["info", "replication"]);
            if info.contains("cluster_state:ok")
                && (replication.contains("role:master")
                    || replication.contains("master_link_status:up"))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {} not settled: {info} {replication}",
                node.port()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    nodes
}
