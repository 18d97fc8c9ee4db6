//! Requests sent in-process (`tower::ServiceExt::oneshot`) with a cookie
//! jar, and a store wrapper that counts the layer's calls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::Request;
use axum::Router;
use sessionkit::store::{Expect, SaveOutcome, SessionStore, StoreFuture, Stored};
use tower::ServiceExt;

use super::app::{app, Gate};
use crate::check::{Cx, Failure};

/// How long one request may take, the handler's waits at the gate included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    cx: Cx,
    path: String,
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) set_cookies: Vec<String>,
}

impl Reply {
    /// The `Set-Cookie` for cookie `name`; a failure unless exactly one.
    pub(crate) fn set_cookie(&self, name: &str) -> Result<&str, Failure> {
        let prefix = format!("{name}=");
        let found: Vec<&String> = self
            .set_cookies
            .iter()
            .filter(|c| c.starts_with(&prefix))
            .collect();
        match found[..] {
            [one] => Ok(one),
            _ => Err(self.cx.fail(format!(
                "GET {} must answer exactly one Set-Cookie for cookie `{name}`; it answered {} \
                 (status {}, Set-Cookie {:?}, body {:?})",
                self.path,
                found.len(),
                self.status,
                self.set_cookies,
                self.body
            ))),
        }
    }

    /// The value of attribute `attr` (lower-case) of the `Set-Cookie` for `name`.
    pub(crate) fn cookie_attribute(
        &self,
        name: &str,
        attr: &str,
    ) -> Result<Option<String>, Failure> {
        Ok(attributes(self.set_cookie(name)?).remove(attr))
    }

    /// Whether any `Set-Cookie` is for `name`.
    pub(crate) fn sets(&self, name: &str) -> bool {
        let prefix = format!("{name}=");
        self.set_cookies.iter().any(|c| c.starts_with(&prefix))
    }

    /// The value the `Set-Cookie` for `name` gives it.
    pub(crate) fn cookie_value(&self, name: &str) -> Result<String, Failure> {
        let cookie = self.set_cookie(name)?;
        Ok(cookie[name.len() + 1..]
            .split(';')
            .next()
            .unwrap_or_default()
            .to_owned())
    }
}

/// The attributes of a `Set-Cookie` value, lower-cased names → values.
pub(crate) fn attributes(set_cookie: &str) -> BTreeMap<String, String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| {
            let (k, v) = a.trim().split_once('=').unwrap_or((a.trim(), ""));
            (k.to_ascii_lowercase(), v.to_owned())
        })
        .collect()
}

/// Sends requests to the app and keeps the cookies it sets (or expires),
/// as a browser would.
pub(crate) struct Client {
    cx: Cx,
    app: Router,
    pub(crate) jar: BTreeMap<String, String>,
}

impl Client {
    /// GET `path` with the jar's cookies, then updates the jar.
    pub(crate) async fn get(&mut self, path: &str) -> Result<Reply, Failure> {
        let cookie = self
            .jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let headers: Vec<String> = Some(cookie).filter(|c| !c.is_empty()).into_iter().collect();
        let reply = self.get_raw(path, &headers).await?;
        for c in &reply.set_cookies {
            let Some((name, rest)) = c.split_once('=') else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or_default();
            if attributes(c).get("max-age").map(String::as_str) == Some("0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        Ok(reply)
    }

    /// GET `path` with exactly these `Cookie` headers, jar untouched.
    pub(crate) async fn get_raw(
        &self,
        path: &str,
        cookie_headers: &[String],
    ) -> Result<Reply, Failure> {
        let cx = self.cx;
        let mut request = Request::get(path);
        for h in cookie_headers {
            request = request.header(COOKIE, h.as_str());
        }
        let request = request
            .body(Body::empty())
            .map_err(|e| cx.fail(format!("could not build the request GET {path}: {e}")))?;
        let exchange = async {
            let response = match self.app.clone().oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let status = response.status().as_u16();
            let set_cookies = response
                .headers()
                .get_all(SET_COOKIE)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .map_err(|e| cx.fail(format!("could not read the body of GET {path}: {e}")))?;
            Ok(Reply {
                cx,
                path: path.to_owned(),
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
                set_cookies,
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(cx.fail(format!(
                    "GET {path} got no response within {REQUEST_TIMEOUT:?}"
                )))
            })
    }
}

/// Counts of the calls a [`Counting`] store saw.
#[derive(Default, Debug)]
pub(crate) struct Counts {
    loads: AtomicUsize,
    saves: AtomicUsize,
    deletes: AtomicUsize,
}

impl Counts {
    /// (loads, saves, deletes) so far.
    pub(crate) fn get(&self) -> (usize, usize, usize) {
        (
            self.loads.load(Ordering::SeqCst),
            self.saves.load(Ordering::SeqCst),
            self.deletes.load(Ordering::SeqCst),
        )
    }
}

/// The store under check, counting the calls the layer makes to it: loads
/// (`load`, `load_versioned`), saves (`save`, `save_if`) and deletes.
struct Counting<S> {
    inner: Arc<S>,
    counts: Arc<Counts>,
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
}

/// What a lifecycle check works with: a client of the app, the store
/// itself (to look at what the layer stored), the counts of the layer's
/// calls, and the gate.
pub(crate) struct Harness<S> {
    pub(crate) client: Client,
    pub(crate) store: Arc<S>,
    counts: Option<Arc<Counts>>,
    pub(crate) gate: Gate,
}

impl<S: SessionStore> Harness<S> {
    /// The app over `store` itself.
    pub(crate) fn new(cx: Cx, store: S) -> Self {
        let store = Arc::new(store);
        let (app, gate) = app(Arc::clone(&store));
        Harness {
            client: Client {
                cx,
                app,
                jar: BTreeMap::new(),
            },
            store,
            counts: None,
            gate,
        }
    }

    /// The app over `store` behind a wrapper that counts the layer's calls.
    pub(crate) fn counting(cx: Cx, store: S) -> Self {
        let store = Arc::new(store);
        let counts = Arc::new(Counts::default());
        let (app, gate) = app(Counting {
            inner: Arc::clone(&store),
            counts: Arc::clone(&counts),
        });
        Harness {
            client: Client {
                cx,
                app,
                jar: BTreeMap::new(),
            },
            store,
            counts: Some(counts),
            gate,
        }
    }

    /// (loads, saves, deletes) the layer made so far; all 0 for a harness
    /// made with [`new`](Self::new).
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        self.counts.as_ref().map_or((0, 0, 0), |c| c.get())
    }
}
