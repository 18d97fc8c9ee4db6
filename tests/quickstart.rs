//! `cargo run --example quickstart` really serves: the example binary (built
//! by `cargo test` with the other targets) is started on a free port and
//! driven over HTTP; with the `sqlite` feature, also on a SQLite file,
//! stopped and started again.

mod support;

use std::net::SocketAddr;

use support::example::Example;
use support::Browser;

#[tokio::test]
async fn quickstart_serves_incr_get_and_clear() {
    let mut example = Example::start("quickstart", &["SESSIONKIT_SQLITE"], &[]);
    let port = example.port;
    let printed = example.printed(4).await;
    assert!(
        printed.contains(&format!("http://127.0.0.1:{port}")),
        "{printed}"
    );
    assert!(printed.contains("curl"), "prints how to try it: {printed}");

    let mut browser = Browser::new(SocketAddr::from(([127, 0, 0, 1], port)));
    assert_eq!(browser.get("/get").await.body, "0\n");
    assert_eq!(browser.get("/incr").await.body, "1\n");
    assert_eq!(browser.get("/incr").await.body, "2\n");
    assert_eq!(browser.get("/get").await.body, "2\n");
    assert_eq!(browser.get("/clear").await.body, "cleared\n");
    assert!(browser.jar.is_empty(), "cookie expired");
    assert_eq!(browser.get("/get").await.body, "0\n");
    drop(example);
}

#[tokio::test]
async fn quickstart_page_shows_the_sessions_and_links_to_the_routes() {
    let mut example = Example::start("quickstart", &["SESSIONKIT_SQLITE"], &[]);
    let port = example.port;
    let base = format!("http://127.0.0.1:{port}");
    let printed = example.printed(9).await;
    assert!(
        printed.contains(&format!("open {base}/ in a browser")),
        "{printed}"
    );
    // The paths of the printed `curl -b jar -c jar <url>` commands.
    let paths: Vec<&str> = printed
        .lines()
        .filter(|line| line.trim_start().starts_with("curl -b jar -c jar"))
        .filter_map(|line| line.split_whitespace().find_map(|w| w.strip_prefix(&*base)))
        .collect();
    assert_eq!(
        paths,
        ["/incr", "/get", "/login/ada", "/cart/add/7", "/", "/clear"]
    );

    let mut browser = Browser::new(SocketAddr::from(([127, 0, 0, 1], port)));
    let page = browser.get("/").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert!(page.body.starts_with("<!doctype html>"), "{}", page.body);
    assert!(page.set_cookies.is_empty(), "looking stores nothing");
    for cookie in ["session", "cart"] {
        assert!(
            page.body.contains(&format!(
                "<h2>Cookie <code>{cookie}</code></h2>\n<p>No session stored yet.</p>"
            )),
            "{}",
            page.body
        );
    }
    // Every route the example tells curl users about is a link on the page.
    for path in paths.iter().filter(|p| **p != "/") {
        assert!(
            page.body.contains(&format!("<a href=\"{path}\">")),
            "no link to {path}: {}",
            page.body
        );
    }

    // What the printed commands say they do, and the page showing it.
    assert_eq!(browser.get("/incr").await.body, "1\n");
    assert_eq!(browser.get("/incr").await.body, "2\n");
    assert_eq!(browser.get("/get").await.body, "2\n");
    let page = browser.get("/").await;
    assert!(
        page.body
            .contains("<tr><th>n</th><td><code>2</code></td></tr>"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<tr><th>user</th><td><code>null</code></td></tr>"),
        "{}",
        page.body
    );
    assert_eq!(browser.get("/cart/add/7").await.body, "[7]\n");
    let page = browser.get("/").await;
    assert!(
        page.body
            .contains("<tr><th>items</th><td><code>[7]</code></td></tr>"),
        "{}",
        page.body
    );

    // A login name is the visitor's own text: the page shows it escaped.
    let login = browser.get("/login/%3Cb%3E%26%22ada").await;
    assert_eq!(login.body, "logged in as <b>&\"ada\n");
    let page = browser.get("/").await;
    assert!(
        page.body.contains(
            "<tr><th>user</th><td><code>&quot;&lt;b&gt;&amp;\\&quot;ada&quot;</code></td></tr>"
        ),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<b>"), "{}", page.body);
    assert!(
        page.body
            .contains("<tr><th>n</th><td><code>2</code></td></tr>"),
        "the count survives the login's new id: {}",
        page.body
    );

    assert_eq!(browser.get("/clear").await.body, "cleared\n");
    let page = browser.get("/").await;
    assert!(
        page.body
            .contains("<h2>Cookie <code>session</code></h2>\n<p>No session stored yet.</p>"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<tr><th>items</th><td><code>[7]</code></td></tr>"),
        "/clear leaves the cart: {}",
        page.body
    );
    drop(example);
}

/// With `SESSIONKIT_SQLITE` naming a file, the quickstart keeps its sessions
/// there: stopped (killed) and started again on the same file, it still
/// has the visitor's session.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn quickstart_keeps_sessions_in_a_sqlite_file_across_a_restart() {
    let dir = support::temp::TempDir::new();
    let file = dir.path().join("quickstart.db");
    let env = [("SESSIONKIT_SQLITE", file.to_str().unwrap())];

    let mut example = Example::start("quickstart", &[], &env);
    let printed = example.printed(2).await;
    assert!(
        printed.contains(&format!("in the SQLite file {}", file.display())),
        "{printed}"
    );
    let mut browser = Browser::new(SocketAddr::from(([127, 0, 0, 1], example.port)));
    assert_eq!(browser.get("/login/ada").await.body, "logged in as ada\n");
    assert_eq!(browser.get("/incr").await.body, "1\n");
    assert_eq!(browser.get("/incr").await.body, "2\n");
    assert_eq!(browser.get("/cart/add/7").await.body, "[7]\n");
    drop(example);

    let mut example = Example::start("quickstart", &[], &env);
    example.printed(2).await;
    let jar = browser.jar.clone();
    let mut browser = Browser::new(SocketAddr::from(([127, 0, 0, 1], example.port)));
    browser.jar = jar;
    assert_eq!(browser.get("/get").await.body, "2\n", "the count survived");
    let page = browser.get("/").await;
    assert!(
        page.body
            .contains("<tr><th>user</th><td><code>&quot;ada&quot;</code></td></tr>"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<tr><th>items</th><td><code>[7]</code></td></tr>"),
        "{}",
        page.body
    );
    assert_eq!(browser.get("/incr").await.body, "3\n");
    drop(example);
}

/// Two quickstart processes on one SQLite file serve the same sessions: a
/// session started on one is found, and changed, on the other.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn two_quickstart_processes_share_a_sqlite_file() {
    let dir = support::temp::TempDir::new();
    let file = dir.path().join("shared.db");
    let env = [("SESSIONKIT_SQLITE", file.to_str().unwrap())];
    let mut one = Example::start("quickstart", &[], &env);
    one.printed(2).await;
    let mut two = Example::start("quickstart", &[], &env);
    two.printed(2).await;

    let mut first = Browser::new(SocketAddr::from(([127, 0, 0, 1], one.port)));
    assert_eq!(first.get("/incr").await.body, "1\n");
    let mut second = Browser::new(SocketAddr::from(([127, 0, 0, 1], two.port)));
    second.jar = first.jar.clone();
    assert_eq!(second.get("/incr").await.body, "2\n");
    assert_eq!(first.get("/get").await.body, "2\n");
    drop((one, two));
}
