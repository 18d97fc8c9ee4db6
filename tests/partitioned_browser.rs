//! A partitioned session (`partitioned: true`, CHIPS) in headless Chromium:
//! top-level, and in an iframe of another site with third-party cookies
//! blocked, where only the partitioned cookie is kept.
//!
//! The app is served on a loopback port and reached as
//! `http://localhost:<port>`; the page that embeds it is on
//! `http://127.0.0.1:<other port>`, another site. Chromium takes
//! `http://localhost` for a potentially trustworthy origin and keeps
//! `Secure` (and `__Host-`) cookies it sets over plain HTTP: no TLS is
//! needed.
//!
//! Needs `chromium` and `chromedriver` (Debian's `chromium` and
//! `chromium-driver`, which `scripts/test.sh` installs); without them the
//! test fails and says so.

mod support;

use std::time::Duration;

use serde_json::json;

use support::webdriver::Chromium;
use support::{embed, serve};

/// The most the whole walk through may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_session_works_in_a_cross_site_iframe_and_stays_in_its_partition() {
    tokio::time::timeout(TEST_TIMEOUT, walk_through())
        .await
        .expect("the browser test took too long");
}

async fn walk_through() {
    let app_port = serve(embed::app()).await.port();
    let app = format!("http://localhost:{app_port}");
    let embedder_port = serve(embed::embedder(app.clone())).await.port();
    // 127.0.0.1 and localhost are different sites.
    let embedder = format!("http://127.0.0.1:{embedder_port}");

    // Third-party cookies blocked, whatever the build's default: the
    // unpartitioned session must fail in the iframe for the test to show
    // that the partitioned one works there because it is partitioned.
    let browser = Chromium::start(json!({ "profile.cookie_controls_mode": 1 })).await;

    // Top-level: the first visit sets the cookie, the second sends it back.
    browser.visit(&format!("{app}/count")).await;
    assert_eq!(browser.text().await, "1", "top-level, first visit");
    browser.visit(&format!("{app}/count")).await;
    assert_eq!(browser.text().await, "2", "top-level, the cookie sent back");

    // In an iframe of another site: the top-level cookie belongs to another
    // partition and is not sent; the iframe gets a session of its own,
    // kept across reloads.
    let frame = format!("{embedder}/count");
    assert_eq!(browser.frame_text(&frame).await, "1", "iframe, first load");
    assert_eq!(browser.frame_text(&frame).await, "2", "iframe, reloaded");
    assert_eq!(
        browser.frame_text(&frame).await,
        "3",
        "iframe, reloaded again"
    );

    // The same without `Partitioned` is a third-party cookie: not kept.
    let third_party = format!("{embedder}/third-party/count");
    assert_eq!(browser.frame_text(&third_party).await, "1");
    assert_eq!(
        browser.frame_text(&third_party).await,
        "1",
        "an unpartitioned cookie was kept in a cross-site iframe: third-party cookies are not blocked"
    );

    // Top-level again: the top-level partition's session (2 → 3), not the
    // iframe's (3).
    browser.visit(&format!("{app}/count")).await;
    assert_eq!(browser.text().await, "3", "top-level after the iframe");

    // A logout in the iframe drops the iframe's cookie (the delete-cookie
    // is partitioned too) and leaves the top-level one.
    let cookies = format!("{embedder}/cookies");
    assert_eq!(browser.frame_text(&cookies).await, "[__Host-embed]");
    browser.frame_text(&format!("{embedder}/logout")).await;
    assert_eq!(
        browser.frame_text(&cookies).await,
        "[]",
        "iframe, after the logout"
    );
    browser.visit(&format!("{app}/cookies")).await;
    assert_eq!(browser.text().await, "[__Host-embed]", "top-level");

    // A top-level logout drops the top-level cookie.
    browser.visit(&format!("{app}/logout")).await;
    assert_eq!(browser.text().await, "logged out");
    browser.visit(&format!("{app}/cookies")).await;
    assert_eq!(browser.text().await, "[]", "top-level, after the logout");
}
