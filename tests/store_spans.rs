//! One tracing span per store call, a child of the request's span, with
//! the operation, store, session name, outcome and duration: recorded by a
//! subscriber of this test's thread while real requests go through the
//! layer.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use sessionkit::{session_config, MemoryStore, Session, SessionLayer, SessionStore};
use tracing::field::{self, Field};
use tracing::span::{Attributes, Id, Record};
use tracing::{Instrument, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use support::{serve, Browser};

session_config! { VISIT { cookie_name: "visit", prefix: "visit:", session_name: "visit" } }

#[derive(Session, Serialize, Deserialize, Default)]
#[session(config = VISIT)]
struct Visit {
    n: u64,
}

const TTL: Duration = Duration::from_secs(3600);

async fn incr(mut visit: Session<Visit>) -> String {
    visit.n += 1;
    visit.n.to_string()
}

async fn clear(mut visit: Session<Visit>) -> &'static str {
    visit.destroy();
    "cleared"
}

/// Another writer changes the session while this request holds it.
async fn race(State(store): State<MemoryStore>, mut visit: Session<Visit>) -> String {
    let key = format!("visit:{}", visit.id());
    store.save(&key, br#"{"n":100}"#, TTL).await.unwrap();
    visit.n += 1;
    visit.n.to_string()
}

/// What tower-http's `TraceLayer` does: the rest of the request runs in a
/// span of its own.
async fn request_span(request: Request, next: Next) -> Response {
    let span = tracing::debug_span!("request", path = %request.uri().path());
    next.run(request).instrument(span).await
}

/// A closed span: its name, its parent's name, and its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Closed {
    name: &'static str,
    parent: Option<&'static str>,
    fields: Vec<(&'static str, String)>,
}

#[derive(Default)]
struct Fields(Vec<(&'static str, String)>);

impl field::Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.retain(|(name, _)| *name != field.name());
        self.0.push((field.name(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.retain(|(name, _)| *name != field.name());
        self.0.push((field.name(), value.to_string()));
    }
}

/// Keeps every span's fields and hands them over when it closes.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<Closed>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let fields = span
            .extensions_mut()
            .remove::<Fields>()
            .unwrap_or_default()
            .0;
        self.0.lock().unwrap().push(Closed {
            name: span.name(),
            parent: span.parent().map(|p| p.name()),
            fields,
        });
    }
}

impl Spans {
    /// The store spans closed so far, each as its fields but the duration
    /// (checked to be there, and a number), in the order they closed.
    fn store_calls(&self) -> Vec<Vec<(&'static str, String)>> {
        let closed = std::mem::take(&mut *self.0.lock().unwrap());
        closed
            .into_iter()
            .filter(|span| span.name == "sessionkit.store")
            .map(|span| {
                assert_eq!(span.parent, Some("request"), "{span:?}");
                let mut fields = span.fields;
                let duration = fields
                    .iter()
                    .position(|(name, _)| *name == "duration_us")
                    .map(|i| fields.remove(i).1);
                let duration = duration.unwrap_or_else(|| panic!("no duration: {fields:?}"));
                assert!(duration.parse::<u64>().is_ok(), "{duration}");
                fields.sort();
                fields
            })
            .collect()
    }
}

fn call(operation: &str, outcome: &str) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("operation", operation.to_string()),
        ("outcome", outcome.to_string()),
        ("session", "visit".to_string()),
        ("store", "memory".to_string()),
    ];
    fields.sort();
    fields
}

#[tokio::test]
async fn each_store_call_is_a_span_under_the_request() {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    // A current-thread runtime: the server runs on this thread, under
    // this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = MemoryStore::new();
    let app = Router::new()
        .route("/incr", get(incr))
        .route("/clear", get(clear))
        .route("/race", get(race))
        .with_state(store.clone())
        .layer(SessionLayer::new(store))
        .layer(middleware::from_fn(request_span));
    let addr = serve(app).await;
    let mut browser = Browser::new(addr);

    // A new session: only a save.
    assert_eq!(browser.get("/incr").await.body, "1");
    assert_eq!(spans.store_calls(), [call("save", "saved")]);
    // A load, then a save.
    assert_eq!(browser.get("/incr").await.body, "2");
    assert_eq!(
        spans.store_calls(),
        [call("load", "hit"), call("save", "saved")]
    );
    // A save that finds another writer's value, merges, and saves again.
    assert_eq!(browser.get("/race").await.body, "3");
    assert_eq!(
        spans.store_calls(),
        [
            call("load", "hit"),
            call("save", "changed"),
            call("save", "saved")
        ]
    );
    // An id the store does not know.
    let unknown = vec![format!("visit={}", sessionkit::SessionId::generate())];
    browser.get_raw("/clear", &unknown).await;
    assert_eq!(spans.store_calls(), [call("load", "miss")]);
    // Destroyed: a load and a delete.
    assert_eq!(browser.get("/clear").await.body, "cleared");
    assert_eq!(
        spans.store_calls(),
        [call("load", "hit"), call("delete", "deleted")]
    );
}

/// A store call that fails: its span says `error`.
#[cfg(feature = "memcache")]
#[tokio::test]
async fn a_failed_store_call_is_a_span_with_outcome_error() {
    use sessionkit::MemcacheStore;
    use support::memcached::Memcached;

    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut memcached = Memcached::start();
    let store = MemcacheStore::new([memcached.addr()])
        .unwrap()
        .with_timeout(Duration::from_millis(500));
    let app = Router::new()
        .route("/incr", get(incr))
        .layer(SessionLayer::new(store))
        .layer(middleware::from_fn(request_span));
    let addr = serve(app).await;
    let mut browser = Browser::new(addr);
    assert_eq!(browser.get("/incr").await.status, 200);
    let mut want = call("save", "saved");
    want.retain(|(name, _)| *name != "store");
    want.push(("store", "memcache".to_string()));
    want.sort();
    assert_eq!(spans.store_calls(), [want]);

    memcached.stop();
    assert_eq!(browser.get("/incr").await.status, 503);
    let mut want = call("load", "error");
    want.retain(|(name, _)| *name != "store");
    want.push(("store", "memcache".to_string()));
    want.sort();
    assert_eq!(spans.store_calls(), [want]);
}
