//! Real `memcached` servers for the tests, each on a free loopback port,
//! that the tests can stop, restart and pause, and a raw text-protocol
//! client to look at what they hold.
//!
//! No server outlives the test binary: each runs under a small `sh`
//! watchdog that reads its stdin, a pipe whose only writer is this process,
//! and kills memcached when the pipe closes: when the [`Memcached`] is
//! dropped or stopped, and also when the test binary exits without running
//! destructors (a panic that aborts, a `static`, SIGKILL), since the kernel
//! closes the pipe then. Servers are per test (memcached starts in ~10 ms).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sessionkit::store::{Expect, IndexEntry, SaveOutcome, StoreFuture, Stored};
use sessionkit::SessionStore;

/// Runs memcached with the script's arguments, prints its pid, and kills it
/// when stdin closes.
const WATCHDOG: &str = r#"
memcached "$@" </dev/null >/dev/null &
pid=$!
echo "$pid"
read -r _ || true
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
exit 0
"#;

/// A running (or stopped) memcached on a loopback port.
pub struct Memcached {
    port: u16,
    args: Vec<String>,
    process: Option<Process>,
}

struct Process {
    watchdog: Child,
    /// Held only to be closed: closing it kills memcached.
    stdin: Option<ChildStdin>,
    pid: u32,
}

impl Memcached {
    /// A memcached with default settings (64 MB, 1 MB items).
    pub fn start() -> Memcached {
        Memcached::start_with(&[])
    }

    /// A memcached with extra command-line options, e.g.
    /// `["-I", "1k", "-o", "slab_chunk_max=512"]`.
    pub fn start_with(args: &[&str]) -> Memcached {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        for _ in 0..5 {
            let port = free_port();
            let mut server = Memcached {
                port,
                args: args.clone(),
                process: None,
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("could not start memcached on a free port (is /usr/bin/memcached installed?)");
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// memcached's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.pid)
    }

    /// Kills memcached and waits until it is gone (its port refuses).
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            drop(process.stdin.take());
            let _ = process.watchdog.wait();
        }
    }

    /// Starts memcached again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        assert!(
            self.spawn(),
            "memcached could not start again on port {}",
            self.port
        );
    }

    /// Freezes memcached (SIGSTOP): connections are still accepted by the
    /// kernel, but nothing is answered.
    pub fn pause(&self) {
        self.signal("-STOP");
        // `kill` returns once the signal is sent; each thread stops when the
        // kernel next gets to it. Wait for all of them, so that a request
        // sent next cannot be answered by a thread about to stop.
        let pid = self.pid().expect("memcached is running");
        for _ in 0..500 {
            if all_threads_stopped(pid) {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("memcached {pid} did not stop after SIGSTOP");
    }

    /// Undoes [`pause`](Self::pause) (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.pid().expect("memcached is stopped").to_string();
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Starts memcached on `self.port`; false when it did not come up
    /// there (the port was taken).
    fn spawn(&mut self) -> bool {
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("memcached-watchdog")
            .args(["-u", "root"]) // ignored unless run as root, required then
            .args(["-l", "127.0.0.1", "-p", &self.port.to_string(), "-U", "0"])
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh");
        let mut line = String::new();
        BufReader::new(watchdog.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let pid: u32 = line.trim().parse().expect("memcached's pid");
        self.process = Some(Process {
            stdin: watchdog.stdin.take(),
            watchdog,
            pid,
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !alive(pid) {
                break;
            }
            if TcpStream::connect(self.addr()).is_ok() {
                // Ours, not another test's server that took the port.
                if self.stats().get("pid").map(String::as_str) == Some(line.trim()) {
                    return true;
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.stop();
        false
    }

    /// Sends `request` on a new connection and returns the reader.
    fn request(&self, request: &[u8]) -> BufReader<TcpStream> {
        let stream = TcpStream::connect(self.addr()).expect("connect to memcached");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (&stream).write_all(request).unwrap();
        BufReader::new(stream)
    }

    /// `stats`: every statistic, by name.
    pub fn stats(&self) -> HashMap<String, String> {
        let mut reader = self.request(b"stats\r\n");
        let mut stats = HashMap::new();
        loop {
            let line = read_line(&mut reader);
            if line == "END" {
                return stats;
            }
            let mut parts = line.splitn(3, ' ');
            assert_eq!(parts.next(), Some("STAT"), "{line:?}");
            let name = parts.next().unwrap().to_string();
            stats.insert(name, parts.next().unwrap_or("").to_string());
        }
    }

    /// The client addresses of the connections open now (`stats conns`),
    /// the one asking included.
    pub fn client_addresses(&self) -> std::collections::BTreeSet<String> {
        let mut reader = self.request(b"stats conns\r\n");
        let mut listening = std::collections::BTreeSet::new();
        let mut addresses = std::collections::BTreeMap::new();
        loop {
            let line = read_line(&mut reader);
            if line == "END" {
                break;
            }
            // `STAT <fd>:<field> <value>`
            let mut parts = line.splitn(3, ' ');
            assert_eq!(parts.next(), Some("STAT"), "{line:?}");
            let (fd, field) = parts.next().unwrap().split_once(':').unwrap();
            let value = parts.next().unwrap_or("").to_string();
            match field {
                "addr" => {
                    addresses.insert(fd.to_string(), value);
                }
                "state" if value == "conn_listening" => {
                    listening.insert(fd.to_string());
                }
                _ => {}
            }
        }
        addresses
            .into_iter()
            .filter(|(fd, _)| !listening.contains(fd))
            .map(|(_, address)| address)
            .collect()
    }

    /// One numeric statistic, e.g. `cmd_get`.
    pub fn stat(&self, name: &str) -> u64 {
        self.stats()[name].parse().unwrap()
    }

    /// `get key`: the flags and value, `None` when missing.
    pub fn get(&self, key: &str) -> Option<(u32, Vec<u8>)> {
        let mut reader = self.request(format!("get {key}\r\n").as_bytes());
        let header = read_line(&mut reader);
        if header == "END" {
            return None;
        }
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            (parts.len(), parts[0], parts[1]),
            (4, "VALUE", key),
            "{header:?}"
        );
        let flags = parts[2].parse().unwrap();
        let mut value = vec![0; parts[3].parse::<usize>().unwrap() + 2];
        reader.read_exact(&mut value).unwrap();
        assert!(value.ends_with(b"\r\n"));
        value.truncate(value.len() - 2);
        assert_eq!(read_line(&mut reader), "END");
        Some((flags, value))
    }

    /// `set key flags exptime`, as any other client (sanic-session) would.
    pub fn set(&self, key: &str, flags: u32, exptime: u32, value: &[u8]) {
        let mut request = format!("set {key} {flags} {exptime} {}\r\n", value.len()).into_bytes();
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
        let mut reader = self.request(&request);
        assert_eq!(read_line(&mut reader), "STORED");
    }

    /// The seconds `key` has left (meta get `mg key t`): `None` when
    /// missing, `Some(-1)` when it never expires.
    pub fn ttl(&self, key: &str) -> Option<i64> {
        let mut reader = self.request(format!("mg {key} t\r\n").as_bytes());
        let line = read_line(&mut reader);
        if line == "EN" {
            return None;
        }
        let ttl = line
            .strip_prefix("HD t")
            .unwrap_or_else(|| panic!("mg answered {line:?}"));
        Some(ttl.parse().unwrap())
    }

    /// `version`: proves the server answers normally.
    pub fn version(&self) -> String {
        read_line(&mut self.request(b"version\r\n"))
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A line of a memcached answer, without `\r\n`.
fn read_line(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).expect("memcached answered");
    assert!(line.ends_with("\r\n"), "{line:?}");
    line.truncate(line.len() - 2);
    line
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether process `pid` runs (a zombie does not).
/// Whether every thread of process `pid` is stopped (state `T`).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|task| {
        std::fs::read_to_string(task.path().join("stat"))
            .is_ok_and(|stat| stat.rsplit(") ").next().is_some_and(|s| s.starts_with('T')))
    })
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(") ")
            .next()
            .is_some_and(|s| !s.starts_with('Z'))
    })
}

/// A store together with what it uses (its servers, by default; a
/// temporary directory): that is stopped or removed when the last clone is
/// dropped, at the end of the test. For the conformance suites
/// (`sessionkit_conformance::store_tests!`, `conformance_tests!`), whose
/// closures can only return the store.
pub struct Served<S, K = Vec<Memcached>> {
    pub store: S,
    pub kept: Arc<K>,
}

// By hand: a derive would ask `K: Clone`, and only the `Arc` is cloned.
impl<S: Clone, K> Clone for Served<S, K> {
    fn clone(&self) -> Self {
        Served {
            store: self.store.clone(),
            kept: Arc::clone(&self.kept),
        }
    }
}

impl<S: SessionStore, K: Send + Sync + 'static> SessionStore for Served<S, K> {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.store.load(key, ttl)
    }
    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        self.store.save(key, value, ttl)
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.store.delete(key)
    }
    fn load_versioned<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Option<Stored>> {
        self.store.load_versioned(key, ttl)
    }
    fn save_if<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
        expect: Expect<'a>,
    ) -> StoreFuture<'a, SaveOutcome> {
        self.store.save_if(key, value, ttl, expect)
    }
    fn compare_and_set(&self) -> bool {
        self.store.compare_and_set()
    }
    fn max_value_size(&self) -> Option<usize> {
        self.store.max_value_size()
    }
    fn owner_index(&self) -> bool {
        self.store.owner_index()
    }
    fn index_add<'a>(
        &'a self,
        index: &'a str,
        key: &'a str,
        value: &'a [u8],
        until: u64,
        max: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        self.store.index_add(index, key, value, until, max)
    }
    fn index_remove<'a>(&'a self, index: &'a str, keys: &'a [String]) -> StoreFuture<'a, ()> {
        self.store.index_remove(index, keys)
    }
    fn index_list<'a>(&'a self, index: &'a str) -> StoreFuture<'a, Vec<IndexEntry>> {
        self.store.index_list(index)
    }
    fn ping(&self) -> StoreFuture<'_, ()> {
        self.store.ping()
    }
    fn name(&self) -> &'static str {
        self.store.name()
    }
}
