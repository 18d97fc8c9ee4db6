//! Shared test support: a real HTTP server on a loopback port, a real HTTP
//! client with a cookie jar, a store wrapper that counts calls, and log capture.
#![allow(dead_code)]

pub mod app;
pub mod cluster;
pub mod conformance;
pub mod embed;
pub mod example;
pub mod load;
pub mod memcached;
pub mod postgres;
pub mod proxy;
#[cfg(feature = "redis-tls")]
pub mod redis_tls;
pub mod sanic;
pub mod sentinel;
pub mod servers;
pub mod temp;
pub mod webdriver;

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use sessionkit::store::{Expect, IndexEntry, SaveOutcome, StoreFuture, Stored};
use sessionkit::SessionStore;

/// Serves `app` on a free loopback port until the test's runtime ends.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub set_cookies: Vec<String>,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// Every value of header `name`, joined with `, `.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The `Set-Cookie` for cookie `name`; panics unless exactly one.
    pub fn set_cookie(&self, name: &str) -> &str {
        let found: Vec<&String> = self
            .set_cookies
            .iter()
            .filter(|c| c.starts_with(&format!("{name}=")))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one Set-Cookie for {name}: {self:?}"
        );
        found[0]
    }

    /// The value of attribute `attr` (lower-case) of the `Set-Cookie` for `name`.
    pub fn cookie_attribute(&self, name: &str, attr: &str) -> Option<String> {
        attributes(self.set_cookie(name)).remove(attr)
    }

    /// Whether any `Set-Cookie` is for `name`.
    pub fn sets(&self, name: &str) -> bool {
        self.set_cookies
            .iter()
            .any(|c| c.starts_with(&format!("{name}=")))
    }

    /// The value a `Set-Cookie` gives cookie `name`.
    pub fn cookie_value(&self, name: &str) -> String {
        let c = self.set_cookie(name);
        c[name.len() + 1..].split(';').next().unwrap().to_string()
    }
}

/// The attributes of a `Set-Cookie` value, lower-cased names → values.
pub fn attributes(set_cookie: &str) -> BTreeMap<String, String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| {
            let (k, v) = a.trim().split_once('=').unwrap_or((a.trim(), ""));
            (k.to_ascii_lowercase(), v.to_string())
        })
        .collect()
}

/// A browser-like client: keeps the cookies the server sets (or removes).
pub struct Browser {
    base: String,
    client: reqwest::Client,
    pub jar: BTreeMap<String, String>,
}

impl Browser {
    pub fn new(addr: SocketAddr) -> Self {
        Browser {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            jar: BTreeMap::new(),
        }
    }

    /// GET `path` with only the jar's `name` cookie, from a client that
    /// hangs up after `patience`; `Ok` if the answer came in time.
    pub async fn get_impatiently(
        &self,
        path: &str,
        name: &str,
        patience: Duration,
    ) -> reqwest::Result<reqwest::Response> {
        let client = reqwest::Client::builder().timeout(patience).build()?;
        client
            .get(format!("{}{path}", self.base))
            .header(
                reqwest::header::COOKIE,
                format!("{name}={}", self.jar[name]),
            )
            .send()
            .await
    }

    /// GET `path` with the jar's cookies, then updates the jar.
    pub async fn get(&mut self, path: &str) -> Reply {
        let cookie = self
            .jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut headers = Vec::new();
        if !cookie.is_empty() {
            headers.push(cookie);
        }
        let reply = self.get_raw(path, &headers).await;
        for c in &reply.set_cookies {
            let (name, rest) = c.split_once('=').unwrap();
            let value = rest.split(';').next().unwrap();
            let attrs = attributes(c);
            if attrs.get("max-age").map(String::as_str) == Some("0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_string(), value.to_string());
            }
        }
        reply
    }

    /// GET `path` with exactly these `Cookie` headers (raw), jar untouched.
    pub async fn get_raw(&self, path: &str, cookie_headers: &[String]) -> Reply {
        let mut request = self.client.get(format!("{}{path}", self.base));
        for h in cookie_headers {
            request = request.header(reqwest::header::COOKIE, h.as_str());
        }
        let response = request.send().await.expect("request failed");
        let status = response.status().as_u16();
        let set_cookies = response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        Reply {
            status,
            body,
            set_cookies,
            headers,
        }
    }
}

/// Counts of calls a [`Counting`] store saw.
#[derive(Default, Debug)]
pub struct Counts {
    pub loads: AtomicUsize,
    pub saves: AtomicUsize,
    pub deletes: AtomicUsize,
    /// Owner index writes (adds and removes).
    pub index_writes: AtomicUsize,
}

impl Counts {
    /// (loads, saves, deletes) so far.
    pub fn get(&self) -> (usize, usize, usize) {
        (
            self.loads.load(Ordering::SeqCst),
            self.saves.load(Ordering::SeqCst),
            self.deletes.load(Ordering::SeqCst),
        )
    }
}

/// Wraps a real store and counts the calls the layer makes to it.
#[derive(Clone)]
pub struct Counting<S> {
    pub inner: S,
    pub counts: Arc<Counts>,
}

impl<S> Counting<S> {
    pub fn new(inner: S) -> Self {
        Counting {
            inner,
            counts: Arc::default(),
        }
    }
}

impl<S: SessionStore> SessionStore for Counting<S> {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.counts.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load(key, ttl)
    }
    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        self.counts.saves.fetch_add(1, Ordering::SeqCst);
        self.inner.save(key, value, ttl)
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.counts.deletes.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(key)
    }
    fn load_versioned<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Option<Stored>> {
        self.counts.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load_versioned(key, ttl)
    }
    fn save_if<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
        expect: Expect<'a>,
    ) -> StoreFuture<'a, SaveOutcome> {
        self.counts.saves.fetch_add(1, Ordering::SeqCst);
        self.inner.save_if(key, value, ttl, expect)
    }
    fn compare_and_set(&self) -> bool {
        self.inner.compare_and_set()
    }
    fn max_value_size(&self) -> Option<usize> {
        self.inner.max_value_size()
    }
    fn owner_index(&self) -> bool {
        self.inner.owner_index()
    }
    fn index_add<'a>(
        &'a self,
        index: &'a str,
        key: &'a str,
        value: &'a [u8],
        until: u64,
        max: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        self.counts.index_writes.fetch_add(1, Ordering::SeqCst);
        self.inner.index_add(index, key, value, until, max)
    }
    fn index_remove<'a>(&'a self, index: &'a str, keys: &'a [String]) -> StoreFuture<'a, ()> {
        self.counts.index_writes.fetch_add(1, Ordering::SeqCst);
        self.inner.index_remove(index, keys)
    }
    fn index_list<'a>(&'a self, index: &'a str) -> StoreFuture<'a, Vec<IndexEntry>> {
        self.inner.index_list(index)
    }
}

/// Log lines captured from `tracing` while a future runs on this thread.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with every `tracing` event of this thread captured. Use it in a
/// current-thread runtime (`#[tokio::test]`) so the server's tasks log here too.
pub async fn capture_logs<F: Future>(f: F) -> (F::Output, String) {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let out = f.await;
    (out, logs.text())
}

/// An error and its sources, joined by `": "`, as the layer logs them: each
/// error's `Display` says only its own level. A source whose text the error
/// before it already ends with (the `redis` crate's errors repeat their
/// source) is left out.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut shown = text.clone();
    let mut source = error.source();
    while let Some(error) = source {
        let next = error.to_string();
        if !shown.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        shown = next;
        source = error.source();
    }
    text
}
