//! Real PostgreSQL servers for the tests, each in a temporary data
//! directory on a free loopback port, which a test can stop, start again
//! on the same directory and port, and drop.
//!
//! `initdb` runs once per test binary (about 2 s) into a template data
//! directory; each server starts from a copy of it (about 0.3 s, then
//! 0.2 s to accept connections). The binaries are those next to `initdb`
//! on `PATH`, or in the newest `/usr/lib/postgresql/*/bin` (Debian's
//! `postgresql` package). Authentication is `trust` for the superuser
//! [`USER`]; `fsync` is off; unix sockets go into the server's own
//! directory, TCP listens on 127.0.0.1 only; `pg_stat_statements` is loaded,
//! for the tests that count statements.
//!
//! PostgreSQL refuses to run as root: as root, `initdb` and `postgres` run
//! as the user `postgres` (which the Debian package creates) through
//! `setpriv`, which executes the program in its own process. (`runuser`
//! would stay as its parent, so the signals that stop the server would
//! reach `runuser`, not PostgreSQL.) Their directories are given to that
//! user.
//!
//! No server outlives the test binary: each runs under a small `sh`
//! wrapper that reads a pipe from this process; a line names the signal to
//! stop the server with (`INT`, PostgreSQL's fast shutdown) and keeps the
//! directory for a later [`Postgres::start`]; the end of the pipe (the
//! [`Postgres`] dropped, or the test binary gone in any way) stops it at
//! once (`QUIT`) and removes the directory. The template directory is
//! removed the same way when the binary exits.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The superuser the servers are initialized with.
pub const USER: &str = "sessionkit";

/// Runs the server, prints its pid, and stops it as the pipe says.
const WRAPPER: &str = r#"
dir=$1; shift
"$@" </dev/null >>"$dir/server.log" 2>&1 &
pid=$!
echo "$pid"
if read -r sig; then
  kill -"$sig" "$pid" 2>/dev/null
  wait "$pid"
else
  kill -QUIT "$pid" 2>/dev/null
  wait "$pid"
  rm -rf "$dir"
fi
"#;

/// Removes a directory when its pipe ends.
const REMOVER: &str = r#"read -r _; rm -rf "$1""#;

/// A PostgreSQL server on a loopback port (running or stopped).
pub struct Postgres {
    port: u16,
    dir: PathBuf,
    running: Option<Running>,
}

struct Running {
    wrapper: Child,
    stdin: Option<ChildStdin>,
    pid: u32,
}

impl Postgres {
    /// A new server with an empty `postgres` database, started.
    pub fn start_new() -> Postgres {
        let template = template();
        let mut last = String::new();
        for _ in 0..3 {
            let dir = scratch_dir("pg");
            std::fs::create_dir_all(&dir).unwrap();
            let copied = Command::new("cp")
                .arg("-a")
                .arg(template.join("data"))
                .arg(dir.join("data"))
                .status()
                .unwrap();
            assert!(copied.success(), "copy the template data directory");
            give_to_postgres(&dir);
            let mut server = Postgres {
                port: free_port(),
                dir,
                running: None,
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(log) => {
                    last = log;
                    let _ = std::fs::remove_dir_all(&server.dir);
                }
            }
        }
        panic!("postgres did not start: {last}");
    }

    /// `postgres://sessionkit@127.0.0.1:port/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server with a fast shutdown (SIGINT: sessions are
    /// disconnected, the data is kept) and waits until it is gone.
    pub fn stop(&mut self) {
        let Some(mut running) = self.running.take() else {
            return;
        };
        if let Some(stdin) = running.stdin.as_mut() {
            let _ = writeln!(stdin, "INT");
        }
        let _ = running.wrapper.wait();
        drop(running.stdin.take());
    }

    /// Starts the stopped server again, on the same directory and port.
    pub fn start(&mut self) {
        assert!(self.running.is_none(), "postgres is running");
        if let Err(log) = self.spawn() {
            panic!("postgres did not start again on port {}: {log}", self.port);
        }
    }

    /// [`stop`](Self::stop), then [`start`](Self::start).
    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }

    /// Freezes the server (SIGSTOP to the postmaster and every process it
    /// started): connections are still accepted by the kernel, nothing
    /// answers.
    pub fn pause(&self) {
        for pid in self.processes() {
            signal("STOP", pid);
        }
    }

    /// Undoes [`pause`](Self::pause) (SIGCONT).
    pub fn resume(&self) {
        for pid in self.processes() {
            signal("CONT", pid);
        }
    }

    /// The postmaster's pid, then its children's.
    fn processes(&self) -> Vec<u32> {
        let pid = self.running.as_ref().expect("postgres is running").pid;
        let mut pids = vec![pid];
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(child) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let parent = std::fs::read_to_string(entry.path().join("stat"))
                .ok()
                .and_then(|stat| {
                    let (_, rest) = stat.rsplit_once(')')?;
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                });
            if parent == Some(pid) {
                pids.push(child);
            }
        }
        pids
    }

    /// Runs the server; on failure returns its log and leaves nothing
    /// running.
    fn spawn(&mut self) -> Result<(), String> {
        let port = self.port.to_string();
        let mut wrapper = Command::new("sh");
        wrapper
            .arg("-c")
            .arg(WRAPPER)
            .arg("sh")
            .arg(&self.dir)
            .current_dir(&self.dir);
        wrapper.args(as_postgres());
        wrapper
            .arg(bin_dir().join("postgres"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-k")
            .arg(&self.dir)
            .args(["-p", &port, "-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
            .args(["-c", "shared_preload_libraries=pg_stat_statements"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut wrapper = wrapper.spawn().expect("run sh");
        let mut line = String::new();
        BufReader::new(wrapper.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let pid: u32 = line.trim().parse().expect("the wrapper prints the pid");
        let stdin = wrapper.stdin.take();
        self.running = Some(Running {
            wrapper,
            stdin,
            pid,
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.ready(pid) {
                return Ok(());
            }
            if !alive(pid) || Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                self.stop();
                return Err(log);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the postmaster `pid` says it is ready for connections
    /// (the status line of `postmaster.pid`, PostgreSQL 10 and later).
    fn ready(&self, pid: u32) -> bool {
        let Ok(text) = std::fs::read_to_string(self.dir.join("data/postmaster.pid")) else {
            return false;
        };
        let lines: Vec<&str> = text.lines().collect();
        lines.first() == Some(&pid.to_string().as_str())
            && lines.get(7).is_some_and(|status| status.trim() == "ready")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        match self.running.take() {
            // The wrapper stops the server and removes the directory.
            Some(mut running) => {
                drop(running.stdin.take());
                let _ = running.wrapper.wait();
            }
            None => {
                let _ = std::fs::remove_dir_all(&self.dir);
            }
        }
    }
}

/// The directory holding the binaries: next to `initdb` on `PATH`, or the
/// newest `/usr/lib/postgresql/*/bin`.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let on_path = std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("initdb"))
                .find(|initdb| initdb.is_file())
        });
        if let Some(initdb) = on_path {
            let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
            let dir = real.parent().unwrap().to_path_buf();
            if dir.join("postgres").is_file() {
                return dir;
            }
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse().ok()?;
                let bin = entry.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .collect();
        versions.sort();
        versions
            .pop()
            .map(|(_, bin)| bin)
            .expect("PostgreSQL is not installed (scripts/test.sh installs Debian's `postgresql`)")
    })
}

/// The template data directory's parent, made by `initdb` once per test
/// binary and removed when the binary exits.
fn template() -> &'static Path {
    /// The directory, and the remover with the pipe that keeps it waiting.
    type Template = (PathBuf, Mutex<(Child, ChildStdin)>);
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    let (dir, _remover) = TEMPLATE.get_or_init(|| {
        let dir = scratch_dir("pg-template");
        std::fs::create_dir_all(&dir).unwrap();
        let mut remover = Command::new("sh")
            .arg("-c")
            .arg(REMOVER)
            .arg("sh")
            .arg(&dir)
            .stdin(Stdio::piped())
            .spawn()
            .expect("run sh");
        let pipe = remover.stdin.take().unwrap();
        give_to_postgres(&dir);
        let started = Instant::now();
        let mut initdb = Command::new("env");
        initdb
            .args(as_postgres())
            .arg(bin_dir().join("initdb"))
            .current_dir(&dir);
        let output = initdb
            .arg("-D")
            .arg(dir.join("data"))
            .args(["--auth=trust", "-U", USER, "--no-sync", "-E", "UTF8"])
            .args(["--locale=C", "--no-instructions"])
            .output()
            .expect("run initdb");
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!("initdb took {:?}", started.elapsed());
        (dir, Mutex::new((remover, pipe)))
    });
    dir
}

/// The command prefix that runs a program as the user `postgres` when this
/// process is root; empty otherwise.
fn as_postgres() -> &'static [&'static str] {
    static PREFIX: OnceLock<Vec<&'static str>> = OnceLock::new();
    PREFIX.get_or_init(|| {
        if is_root() {
            vec![
                "setpriv",
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ]
        } else {
            Vec::new()
        }
    })
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            // Real, effective, saved, file system.
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

/// Makes `dir` (not its contents) the user `postgres`'s when running as root.
fn give_to_postgres(dir: &Path) {
    if is_root() {
        let status = Command::new("chown")
            .arg("postgres:postgres")
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success(), "chown postgres {}", dir.display());
    }
}

/// A new directory name under the system's temporary directory.
fn scratch_dir(what: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "sessionkit-{what}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn signal(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Whether process `pid` runs (exists and is not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}
