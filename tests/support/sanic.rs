//! The Python peer of the interop tests: `tests/peers/sanic/app.py`
//! (sanic-session 0.8.0 on Sanic 23.12.2), run as a child process on a free
//! loopback port against a test's own Redis or memcached, and a browser that
//! visits it and a sessionkit app with one cookie jar.
//!
//! # The Python interpreter
//!
//! [`python`] is the interpreter of a virtualenv holding the pinned
//! `tests/peers/sanic/requirements.txt`:
//!
//! - `SESSIONKIT_SANIC_PYTHON` set (as `scripts/test.sh` does): that
//!   interpreter; a path that does not run, or lacks the packages, fails
//!   the test with a message saying so.
//! - unset (a developer's `cargo test`): `tests/peers/sanic/setup-venv.sh`
//!   is run once per test binary; it creates `target/sanic-venv` if missing
//!   (python3 -m venv, then pip from PyPI) and prints its interpreter. If that
//!   fails (no python3, no venv module, no PyPI), the tests fail with the
//!   script's output: they are never skipped.
//!
//! # No peer outlives the tests
//!
//! The peer runs under the `sh` wrapper of [`servers::Server`]: it is
//! killed when the [`SanicPeer`] is dropped and when the test binary exits,
//! even from a `static`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::servers::{http_answers, Server};
use super::{Browser, Reply};

/// The variable naming the peer's Python interpreter.
pub const PYTHON_VAR: &str = "SESSIONKIT_SANIC_PYTHON";

/// `tests/peers/sanic`.
pub fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/sanic")
}

/// The interpreter of the peer's virtualenv (see the module docs); panics
/// with the reason when there is none.
pub fn python() -> &'static str {
    static PYTHON: OnceLock<Result<String, String>> = OnceLock::new();
    match PYTHON.get_or_init(find_python) {
        Ok(python) => python,
        Err(why) => panic!("no Python for the sanic-session peer: {why}"),
    }
}

fn find_python() -> Result<String, String> {
    let python = match std::env::var(PYTHON_VAR) {
        Ok(python) if !python.is_empty() => python,
        _ => {
            let script = peer_dir().join("setup-venv.sh");
            eprintln!(
                "{PYTHON_VAR} is unset: running {} (scripts/test.sh sets it)",
                script.display()
            );
            let out = Command::new("bash")
                .arg(&script)
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() {
                return Err(format!(
                    "{PYTHON_VAR} is unset and {} failed ({}):\n{}{}",
                    script.display(),
                    out.status,
                    stdout,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            stdout.lines().last().unwrap_or_default().trim().to_string()
        }
    };
    let check = Command::new(&python)
        .args([
            "-c",
            "import sanic, sanic_session, asyncio_redis, aiomcache",
        ])
        .output()
        .map_err(|e| format!("{PYTHON_VAR}={python:?} does not run: {e}"))?;
    if !check.status.success() {
        return Err(format!(
            "{PYTHON_VAR}={python:?} lacks the peer's packages (run tests/peers/sanic/setup-venv.sh): {}",
            String::from_utf8_lossy(&check.stderr)
        ));
    }
    Ok(python)
}

/// The store the peer's sessions live in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `RedisSessionInterface` over `asyncio_redis`.
    Redis,
    /// `MemcacheSessionInterface` over `aiomcache`.
    Memcache,
}

/// `tests/peers/sanic/app.py` running on a loopback port.
pub struct SanicPeer {
    pub server: Server,
}

impl SanicPeer {
    /// Starts the peer on a free port against the store at `store`
    /// (`host:port`), with `TZ=UTC`.
    pub fn start(backend: Backend, store: &str) -> SanicPeer {
        SanicPeer::start_with_tz(backend, store, "UTC")
    }

    /// Starts the peer with the time zone `tz` (sanic-session writes its
    /// local time into `expires`).
    pub fn start_with_tz(backend: Backend, store: &str, tz: &str) -> SanicPeer {
        let env = vec![
            format!("TZ={tz}"),
            "PYTHONUNBUFFERED=1".to_string(),
            "PYTHONDONTWRITEBYTECODE=1".to_string(),
            format!(
                "SANIC_SESSION_BACKEND={}",
                match backend {
                    Backend::Redis => "redis",
                    Backend::Memcache => "memcache",
                }
            ),
            format!("SANIC_SESSION_STORE={store}"),
        ];
        let python = python().to_string();
        let app = peer_dir().join("app.py").to_str().unwrap().to_string();
        let server = Server::start(
            "env",
            1,
            move |ports, _dir| {
                let mut args = env.clone();
                args.extend([python.clone(), app.clone(), ports[0].to_string()]);
                args
            },
            peer_ready,
        );
        SanicPeer { server }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.server.port()))
    }
}

/// Whether the peer answers `GET /health` with 200 (its store client is up).
fn peer_ready(port: u16) -> bool {
    http_answers(port, "GET", "/health", Duration::from_secs(2), |answer| {
        answer.starts_with("HTTP/1.1 200")
    })
}

/// Which app a [`Visitor`] request goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The sanic-session peer.
    Sanic,
    /// The sessionkit app.
    Rust,
}

/// One browser visiting both apps: both are on 127.0.0.1, and browsers do
/// not separate cookies by port, so one jar serves both.
pub struct Visitor {
    sanic: Browser,
    rust: Browser,
    pub jar: BTreeMap<String, String>,
}

impl Visitor {
    pub fn new(sanic: SocketAddr, rust: SocketAddr) -> Visitor {
        Visitor {
            sanic: Browser::new(sanic),
            rust: Browser::new(rust),
            jar: BTreeMap::new(),
        }
    }

    /// GET `path` on `side` with the jar's cookies; updates the jar from
    /// the `Set-Cookie`s (`Max-Age=0` removes).
    pub async fn get(&mut self, side: Side, path: &str) -> Reply {
        let browser = match side {
            Side::Sanic => &mut self.sanic,
            Side::Rust => &mut self.rust,
        };
        browser.jar = std::mem::take(&mut self.jar);
        let reply = browser.get(path).await;
        self.jar = std::mem::take(&mut browser.jar);
        reply
    }

    /// GET `path` on `side` with exactly these `Cookie` headers; the jar is
    /// neither sent nor updated (a stale tab, a replayed cookie).
    pub async fn get_raw(&self, side: Side, path: &str, cookies: &[String]) -> Reply {
        match side {
            Side::Sanic => self.sanic.get_raw(path, cookies).await,
            Side::Rust => self.rust.get_raw(path, cookies).await,
        }
    }
}

/// `s` percent-encoded for a query string (everything but unreserved bytes).
pub fn query_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
