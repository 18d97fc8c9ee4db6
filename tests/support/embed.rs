//! An app made to be embedded in another site's page: a partitioned
//! session (CHIPS) and, to compare, one that is not, and the page of the
//! other site that embeds it in an iframe.

use axum::extract::{Path, State};
use axum::http::header::COOKIE;
use axum::http::HeaderMap;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use sessionkit::{session_config, MemoryStore, Session, SessionLayer};

session_config! {
    /// Partitioned, and usable in a cross-site iframe: `Secure` (which
    /// `Partitioned` and `SameSite=None` require), `SameSite=None` (or the
    /// browser treats it as `Lax` and keeps it out of the iframe), and
    /// `__Host-`, the recommended pairing.
    pub EMBED {
        cookie_name: "__Host-embed",
        prefix: "embed:",
        secure: true,
        samesite: "none",
        partitioned: true,
        session_name: "embed",
    }
    /// The same without `Partitioned`: a third-party cookie in the iframe.
    pub THIRD_PARTY {
        cookie_name: "__Host-third",
        prefix: "third:",
        secure: true,
        samesite: "none",
        session_name: "third",
    }
}

/// The partitioned session: a counter and who logged in.
#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(config = EMBED)]
pub struct Embedded {
    pub n: i64,
    pub user: Option<String>,
}

/// The session without `Partitioned`.
#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(config = THIRD_PARTY)]
pub struct ThirdParty {
    pub n: i64,
}

/// A page showing a count, for a browser driven from a test to read.
pub fn page(n: i64) -> Html<String> {
    Html(format!(
        "<!doctype html><title>count</title><p id=\"count\">{n}</p>"
    ))
}

async fn count(mut s: Session<Embedded>) -> Html<String> {
    s.n += 1;
    page(s.n)
}

async fn third_party_count(mut s: Session<ThirdParty>) -> Html<String> {
    s.n += 1;
    page(s.n)
}

async fn login(mut s: Session<Embedded>, Path(user): Path<String>) -> String {
    s.cycle_id();
    s.user = Some(user);
    s.id().to_string()
}

async fn logout(mut s: Session<Embedded>) -> &'static str {
    s.destroy();
    "logged out"
}

/// The names of the cookies the request carried, sorted, as a page.
async fn cookies(headers: HeaderMap) -> Html<String> {
    let mut names: Vec<&str> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| Some(pair.split_once('=')?.0.trim()))
        .collect();
    names.sort_unstable();
    Html(format!(
        "<!doctype html><title>cookies</title><p id=\"cookies\">[{}]</p>",
        names.join(" ")
    ))
}

/// The app's routes, without the layer: `/count` (the partitioned session's
/// counter), `/third-party/count` (the other one's), `/login/{user}`,
/// `/logout`, and `/cookies` (the names of the cookies the browser sent).
pub fn router() -> Router {
    Router::new()
        .route("/count", get(count))
        .route("/cookies", get(cookies))
        .route("/third-party/count", get(third_party_count))
        .route("/login/{user}", get(login))
        .route("/logout", get(logout))
}

/// The app over a memory store.
pub fn app() -> Router {
    router().layer(SessionLayer::new(MemoryStore::new()))
}

/// Another site's page: `/{path}` embeds `{app_origin}/{path}` in an
/// iframe.
pub fn embedder(app_origin: String) -> Router {
    Router::new()
        .route(
            "/{*path}",
            get(|State(origin): State<String>, Path(path): Path<String>| async move {
                Html(format!(
                    "<!doctype html><title>embedder</title><iframe src=\"{origin}/{path}\"></iframe>"
                ))
            }),
        )
        .with_state(app_origin)
}
