//! A counter, a login and a cart in typed sessions kept in memory, or in a
//! SQLite file that keeps them across restarts.
//!
//! Run with: `cargo run --example quickstart` (env `PORT`, default 3000),
//! then open the address it prints in a browser, or use the `curl` commands
//! it prints.
//!
//! To keep the sessions in a SQLite file instead of memory, name the file
//! in `SESSIONKIT_SQLITE` and build with the `sqlite` feature:
//! `SESSIONKIT_SQLITE=sessions.db cargo run --example quickstart --features sqlite`.

use axum::{extract::Path, response::Html, routing::get, Router};
use serde::{Deserialize, Serialize};
use sessionkit::{session_config, MemoryStore, Session, SessionLayer};

/// The variable that names the SQLite file to keep the sessions in.
const SQLITE_VAR: &str = "SESSIONKIT_SQLITE";

session_config! {
    /// The cart's cookie: a week, same-site requests only.
    CART {
        cookie_name: "cart",
        expiry: 7 days,
        samesite: "lax",
        prefix: "cart:",
        session_name: "cart",
    }
}

/// The visitor's session, with sanic-session's default cookie (`session`).
#[derive(Session, Serialize, Deserialize, Default)]
struct Visit {
    n: u64,
    user: Option<String>,
}

/// A second, independent session with its own cookie.
#[derive(Session, Serialize, Deserialize, Default)]
#[session(config = CART)]
struct Cart {
    items: Vec<u64>,
}

async fn incr(mut visit: Session<Visit>) -> String {
    visit.n += 1;
    format!("{}\n", visit.n)
}

async fn get_n(visit: Session<Visit>) -> String {
    format!("{}\n", visit.n)
}

async fn clear(mut visit: Session<Visit>) -> &'static str {
    visit.destroy();
    "cleared\n"
}

async fn login(mut visit: Session<Visit>, Path(user): Path<String>) -> String {
    visit.cycle_id(); // a new id on login, against session fixation
    visit.user = Some(user);
    format!(
        "logged in as {}\n",
        visit.user.as_deref().unwrap_or_default()
    )
}

async fn add(mut cart: Session<Cart>, Path(item): Path<u64>) -> String {
    cart.items.push(item);
    format!("{:?}\n", cart.items)
}

/// The routes the page links to, with what each does.
const ROUTES: [(&str, &str); 5] = [
    ("/incr", "count one more visit"),
    ("/get", "the count, unchanged"),
    (
        "/login/ada",
        "log in as ada: a new session id, the data kept",
    ),
    (
        "/cart/add/7",
        "put item 7 in the cart, a second session with its own cookie",
    ),
    (
        "/clear",
        "delete the session (not the cart) and expire its cookie",
    ),
];

/// `GET /`: the values of both sessions, and links to the routes. Looking
/// stores nothing: a fresh session is stored once a route puts data in it.
async fn home(visit: Session<Visit>, cart: Session<Cart>) -> Html<String> {
    let mut page = String::from(concat!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">",
        "<title>sessionkit quickstart</title></head>\n<body>\n",
        "<h1>sessionkit quickstart</h1>\n",
    ));
    show(&mut page, "session", visit.is_loaded(), &*visit);
    show(&mut page, "cart", cart.is_loaded(), &*cart);
    page.push_str("<h2>Try</h2>\n<ul>\n");
    for (path, what) in ROUTES {
        page.push_str(&format!(
            "<li><a href=\"{path}\"><code>{path}</code></a>: {}</li>\n",
            escape(what)
        ));
    }
    page.push_str(concat!(
        "</ul>\n<p>Each answers in plain text; come back here to see the sessions.</p>\n",
        "</body>\n</html>\n",
    ));
    Html(page)
}

/// A session's values as a table, each as JSON, escaped.
fn show(page: &mut String, cookie: &str, stored: bool, data: &impl Serialize) {
    page.push_str(&format!("<h2>Cookie <code>{cookie}</code></h2>\n"));
    if !stored {
        page.push_str("<p>No session stored yet.</p>\n");
        return;
    }
    page.push_str("<table>\n");
    if let Ok(serde_json::Value::Object(values)) = serde_json::to_value(data) {
        for (key, value) in values {
            page.push_str(&format!(
                "<tr><th>{}</th><td><code>{}</code></td></tr>\n",
                escape(&key),
                escape(&value.to_string())
            ));
        }
    }
    page.push_str("</table>\n");
}

/// Text made safe to put in HTML: a visitor chooses their login name.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The session layer over the store the environment asks for, and what to
/// say about it.
struct Sessions {
    layer: SessionLayer,
    kept: String,
    /// The SQLite store's removal of expired sessions, which runs for as
    /// long as this is kept.
    #[cfg(feature = "sqlite")]
    _cleanup: Option<sessionkit::store::CleanupTask>,
}

/// Sessions in memory, or in the SQLite file `SESSIONKIT_SQLITE` names.
async fn sessions() -> Sessions {
    match std::env::var_os(SQLITE_VAR).filter(|file| !file.is_empty()) {
        None => Sessions {
            layer: SessionLayer::new(MemoryStore::new()),
            kept: format!(
                "sessions are kept in memory (set {SQLITE_VAR}=<file> to keep them in SQLite)"
            ),
            #[cfg(feature = "sqlite")]
            _cleanup: None,
        },
        Some(file) => sqlite(std::path::Path::new(&file)).await,
    }
}

/// Sessions in the SQLite file `file`: the table is created if missing,
/// and expired sessions are removed every minute.
#[cfg(feature = "sqlite")]
async fn sqlite(file: &std::path::Path) -> Sessions {
    use sessionkit::store::Cleanup;
    use sessionkit::SqliteStore;

    let fail = |what: &str, error: &dyn std::fmt::Display| -> ! {
        eprintln!("{what} {}: {error}", file.display());
        std::process::exit(1)
    };
    let store = SqliteStore::open(file).unwrap_or_else(|e| fail("cannot open", &e));
    if let Err(e) = store.migrate().await {
        fail("cannot create the session table in", &e);
    }
    let cleanup = Cleanup::default();
    Sessions {
        kept: format!(
            "sessions are kept in the SQLite file {} (they outlive a restart; expired ones are removed every {} s)",
            file.display(),
            cleanup.interval().as_secs()
        ),
        _cleanup: Some(store.spawn_cleanup(cleanup)),
        layer: SessionLayer::new(store),
    }
}

/// Without the `sqlite` feature there is no SQLite store: says how to get
/// one, and stops.
#[cfg(not(feature = "sqlite"))]
async fn sqlite(file: &std::path::Path) -> Sessions {
    eprintln!(
        "{SQLITE_VAR}={} asks for a SQLite file, but this quickstart was built without SQLite; \
         run it with `cargo run --example quickstart --features sqlite`, or unset {SQLITE_VAR}",
        file.display()
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Session warnings (undecodable data) and errors (store down) are logged here.
    tracing_subscriber::fmt().init();
    let sessions = sessions().await;
    let (listener, base) = sessionkit_tests::listen().await?;
    let app = Router::new()
        .route("/", get(home))
        .route("/incr", get(incr))
        .route("/get", get(get_n))
        .route("/clear", get(clear))
        .route("/login/{user}", get(login))
        .route("/cart/add/{item}", get(add))
        .layer(sessions.layer);
    println!("sessionkit quickstart listening on {base}");
    println!("{}", sessions.kept);
    println!("open {base}/ in a browser to see your sessions, or try it with curl (the cookie jar keeps your session):");
    println!("  curl -b jar -c jar {base}/incr        # 1, then 2, 3, ...");
    println!("  curl -b jar -c jar {base}/get         # the count, unchanged");
    println!("  curl -b jar -c jar {base}/login/ada   # new session id, data kept");
    println!("  curl -b jar -c jar {base}/cart/add/7  # a second session, cookie `cart`");
    println!("  curl -b jar -c jar {base}/            # the page, with both sessions");
    println!("  curl -b jar -c jar {base}/clear       # session deleted, cookie expired");
    println!("  curl -i {base}/incr                   # see the Set-Cookie header");
    axum::serve(listener, app).await
}
