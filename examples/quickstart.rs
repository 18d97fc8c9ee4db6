//! A counter, a login and a cart in typed sessions kept in memory.
//!
//! Run with: `cargo run --example quickstart` (env `PORT`, default 3000).

use axum::{extract::Path, routing::get, Router};
use serde::{Deserialize, Serialize};
use sessionkit::{session_config, MemoryStore, Session, SessionLayer};

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

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Session warnings (undecodable data) and errors (store down) are logged here.
    tracing_subscriber::fmt().init();
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p.parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("PORT={p:?} is not a port number"),
            )
        })?,
        Err(_) => 3000,
    };
    let app = Router::new()
        .route("/incr", get(incr))
        .route("/get", get(get_n))
        .route("/clear", get(clear))
        .route("/login/{user}", get(login))
        .route("/cart/add/{item}", get(add))
        .layer(SessionLayer::new(MemoryStore::new()));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("sessionkit quickstart listening on {base}");
    println!("try it (the cookie jar keeps your session):");
    println!("  curl -b jar -c jar {base}/incr        # 1, then 2, 3, ...");
    println!("  curl -b jar -c jar {base}/get         # the count, unchanged");
    println!("  curl -b jar -c jar {base}/login/ada   # new session id, data kept");
    println!("  curl -b jar -c jar {base}/cart/add/7  # a second session, cookie `cart`");
    println!("  curl -b jar -c jar {base}/clear       # session deleted, cookie expired");
    println!("  curl -i {base}/incr                   # see the Set-Cookie header");
    axum::serve(listener, app).await
}
