//! Headless Chromium, driven through the WebDriver protocol (chromedriver),
//! to see what a real browser does with the cookies the layer sets.
//!
//! chromedriver runs as a [`Server`] on a free loopback port; each
//! [`Chromium`] is one WebDriver session, a browser with a fresh profile of
//! its own. Every request has a timeout, and dropping a [`Chromium`] ends
//! its browser: the session is deleted, whatever still runs with its
//! profile is killed, and chromedriver is stopped.
//!
//! Chromium and chromedriver come from Debian's `chromium` and
//! `chromium-driver` packages, which `scripts/test.sh` installs; a test that
//! needs them fails, with that advice, where they are missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use super::servers::{http_answers, Server};

/// How long one WebDriver command may take (starting the browser, loading
/// a page).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The Chromium switches of a headless browser on a machine without a
/// network: the background services that would go out are off, or
/// Chromium stalls on them.
const SWITCHES: [&str; 8] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Where `program` is on the `PATH`; panics, saying how to install it, if
/// it is not.
fn installed(program: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{program}` (Debian package `{package}`) is not installed: this test drives \
                 a real browser; install it with `apt-get install -y chromium chromium-driver` \
                 (scripts/test.sh does)"
            )
        })
}

/// Whether chromedriver on `port` says it is ready for sessions.
fn driver_ready(port: u16) -> bool {
    http_answers(port, "GET", "/status", Duration::from_secs(2), |answer| {
        answer.contains("\"ready\":true")
    })
}

/// A headless Chromium with a fresh profile, ended when dropped.
pub struct Chromium {
    client: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`
    session: String,
    id: String,
    // Dropped in this order, after `drop` has deleted the session.
    profile: Profile,
    driver: Server,
}

/// A browser profile directory; dropping it kills what still runs with it
/// and removes it, also when starting the browser failed half-way.
struct Profile(PathBuf);

impl Profile {
    fn new() -> Profile {
        static PROFILES: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sessionkit-chromium-{}-{}",
            std::process::id(),
            PROFILES.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("create the browser profile directory");
        Profile(dir)
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        kill_processes_of(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Chromium {
    /// Starts chromedriver and a browser through it; `prefs` are Chromium
    /// preferences of the new profile (`{}` for none).
    pub async fn start(prefs: Value) -> Chromium {
        let chromium = installed("chromium", "chromium");
        installed("chromedriver", "chromium-driver");
        let driver = Server::start(
            "chromedriver",
            1,
            |ports, _dir| vec![format!("--port={}", ports[0])],
            driver_ready,
        );
        let profile = Profile::new();
        let mut args: Vec<String> = SWITCHES.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.0.display()));
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "timeouts": { "pageLoad": 20_000, "script": 10_000, "implicit": 0 },
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": args,
                        "prefs": prefs,
                    },
                },
            },
        });
        let client = reqwest::Client::builder()
            .timeout(COMMAND_TIMEOUT)
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{}/session", driver.port());
        let created = request(&client, reqwest::Method::POST, &base, capabilities).await;
        let id = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {created}"))
            .to_string();
        Chromium {
            client,
            session: format!("{base}/{id}"),
            id,
            profile,
            driver,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.session);
        request(&self.client, method, &url, body).await
    }

    /// Loads `url` as the top-level page and waits until it has loaded,
    /// its iframes included.
    pub async fn visit(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    /// The text of the page in view (the top-level page, or the iframe
    /// [`enter_frame`](Self::enter_frame) switched to).
    pub async fn text(&self) -> String {
        let script = json!({ "script": "return document.body.innerText", "args": [] });
        let text = self
            .command(reqwest::Method::POST, "/execute/sync", script)
            .await;
        text.as_str()
            .unwrap_or_else(|| panic!("the page's text is {text}"))
            .trim()
            .to_string()
    }

    /// Switches to the top-level page's first iframe.
    pub async fn enter_frame(&self) {
        self.command(reqwest::Method::POST, "/frame", json!({ "id": 0 }))
            .await;
    }

    /// Switches back to the top-level page.
    pub async fn leave_frame(&self) {
        self.command(reqwest::Method::POST, "/frame", json!({ "id": null }))
            .await;
    }

    /// Loads `url` as the top-level page and reads the text of its first
    /// iframe.
    pub async fn frame_text(&self, url: &str) -> String {
        self.visit(url).await;
        self.enter_frame().await;
        let text = self.text().await;
        self.leave_frame().await;
        text
    }
}

/// Sends a WebDriver command; panics unless it succeeds. The answer's
/// `value`.
async fn request(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Value,
) -> Value {
    let response = client
        .request(method, url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("WebDriver {url}: {e}"));
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("WebDriver {url}: {e}"));
    let mut answer: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "WebDriver {url}: {e} in {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert!(status.is_success(), "WebDriver {url}: {status} {answer}");
    answer["value"].take()
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // Ask chromedriver to close the browser (a blocking request: drop
        // cannot wait on the test's runtime); the profile then kills
        // whatever of it is left, and chromedriver is stopped.
        delete_session(self.driver.port(), &self.id);
    }
}

/// `DELETE /session/<id>`: chromedriver answers once the browser is
/// closed; waits at most 10 seconds for that.
fn delete_session(port: u16, id: &str) {
    let path = format!("/session/{id}");
    http_answers(port, "DELETE", &path, Duration::from_secs(10), |answer| {
        answer.starts_with("HTTP/1.1")
    });
}

/// Kills (SIGKILL) every process whose command line names `profile`: the
/// browser processes of one [`Chromium`], and nothing else.
fn kill_processes_of(profile: &Path) {
    let needle = format!("--user-data-dir={}", profile.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == needle.as_bytes())
        {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }
}
