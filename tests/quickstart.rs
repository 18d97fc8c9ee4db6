//! `cargo run --example quickstart` really serves: the example binary (built
//! by `cargo test` with the other targets) is started on a free port and
//! driven over HTTP.

mod support;

use std::net::SocketAddr;

use support::example::Example;
use support::Browser;

#[tokio::test]
async fn quickstart_serves_incr_get_and_clear() {
    let mut example = Example::start("quickstart", &[], &[]);
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
