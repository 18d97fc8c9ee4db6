//! The Redis store over TLS (`rediss://`), against real `redis-server`
//! processes that serve only TLS, with certificates the `openssl` command
//! makes when the tests run (`support::redis_tls`): sessions through the
//! layer over HTTP, the store conformance suite, a client that does not
//! trust the server's CA, client certificates (`tls-auth-clients`), and
//! reconnecting after the server restarts.
#![cfg(feature = "redis-tls")]

mod support;

use std::sync::LazyLock;
use std::time::Duration;

use sessionkit::store::redis::client::{RedisError, TlsCertificates};
use sessionkit::RedisStore;

use support::app::app;
use support::redis_tls::{RedisTlsServer, PKI};
use support::{chain, serve, Browser};

/// A TLS-only server that asks clients for no certificate.
static TLS: LazyLock<RedisTlsServer> = LazyLock::new(|| RedisTlsServer::start(false));
/// A TLS-only server that refuses clients without a certificate from the CA.
static MUTUAL: LazyLock<RedisTlsServer> = LazyLock::new(|| RedisTlsServer::start(true));

/// Every test is bounded: a connection that hangs fails the test instead.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A store on [`TLS`] trusting the test CA.
async fn tls_store() -> RedisStore {
    RedisStore::from_url_with_tls(&TLS.url(), PKI.certificates(false))
        .await
        .expect("connect over TLS")
}

/// A store on [`MUTUAL`] with the client certificate.
async fn mutual_store() -> RedisStore {
    RedisStore::from_url_with_tls(&MUTUAL.url(), PKI.certificates(true))
        .await
        .expect("connect over TLS with the client certificate")
}

mod tls {
    use super::*;
    sessionkit_conformance::store_tests!(tls_store());
    crate::conformance_tests!(tls_store);
}

mod mutual {
    use super::*;
    sessionkit_conformance::store_tests!(mutual_store());
    crate::conformance_tests!(mutual_store);
}

/// A counter across requests, through the layer over real HTTP: the
/// session is written and read back over TLS.
async fn counts_across_requests(store: RedisStore) {
    let addr = serve(app(store)).await;
    let mut browser = Browser::new(addr);
    for expected in 1..=3 {
        let reply = browser.get("/incr").await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, expected.to_string().as_str())
        );
    }
    // Another visitor starts from zero.
    let reply = Browser::new(addr).get("/incr").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "1"));
}

#[tokio::test]
async fn sessions_work_over_tls() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        counts_across_requests(tls_store().await).await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn sessions_work_over_tls_with_a_client_certificate() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        counts_across_requests(mutual_store().await).await;
    })
    .await
    .expect("test timed out");
}

/// The server certificate names `localhost` too: a URL by host name is
/// checked against the name.
#[tokio::test]
async fn a_url_by_host_name_is_checked_against_the_certificate() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let store = RedisStore::from_url_with_tls(&TLS.url_by_name(), PKI.certificates(false))
            .await
            .expect("connect to localhost over TLS");
        counts_across_requests(store).await;
    })
    .await
    .expect("test timed out");
}

/// The store's connection manager reconnects over TLS, with the client
/// certificate: with the server down a request gets the 503 policy, and
/// once it is back on the same port requests succeed again without
/// rebuilding the store.
#[tokio::test]
async fn reconnects_over_tls_after_a_restart() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut redis = RedisTlsServer::start(true);
        let store = RedisStore::from_url_with_tls(&redis.url(), PKI.certificates(true))
            .await
            .unwrap();
        let addr = serve(app(store)).await;
        let mut browser = Browser::new(addr);
        assert_eq!(browser.get("/incr").await.body, "1");

        redis.server.kill();
        let reply = browser.get("/incr").await;
        assert_eq!(reply.status, 503, "{reply:?}");

        redis.server.restart();
        loop {
            let reply = browser.get("/incr").await;
            if reply.status == 200 {
                // The restarted server has no data (no persistence).
                assert_eq!(reply.body, "1");
                break;
            }
            assert_eq!(reply.status, 503, "{reply:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(browser.get("/incr").await.body, "2");
    })
    .await
    .expect("never a hang");
}

/// Connects with `connect` and returns its error, which must come (not a
/// hang: the test's bound fails it) and must say why.
async fn refused(
    connect: impl std::future::Future<Output = Result<RedisStore, RedisError>>,
) -> String {
    let error = tokio::time::timeout(TEST_TIMEOUT, connect)
        .await
        .expect("connecting hung instead of failing")
        .expect_err("connected although it must not");
    let text = chain(&error);
    eprintln!("error: {text} ({:?})", error.kind());
    text
}

/// `from_url` trusts the system's CAs, which did not sign the test server's
/// certificate: connecting fails, saying the certificate is not trusted.
#[tokio::test]
async fn from_url_does_not_trust_a_private_ca() {
    let text = refused(RedisStore::from_url(&TLS.url())).await;
    assert!(
        text.contains("invalid peer certificate") && text.contains("UnknownIssuer"),
        "{text}"
    );
}

/// A client that trusts another CA is refused the same way.
#[tokio::test]
async fn a_client_trusting_another_ca_is_refused() {
    let certificates = TlsCertificates {
        root_cert: Some(PKI.other_ca_cert.clone()),
        client_tls: None,
    };
    let text = refused(RedisStore::from_url_with_tls(&TLS.url(), certificates)).await;
    assert!(
        text.contains("invalid peer certificate") && text.contains("UnknownIssuer"),
        "{text}"
    );
}

/// With `tls-auth-clients yes`, a client without a certificate is refused.
#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let text = refused(RedisStore::from_url_with_tls(
        &MUTUAL.url(),
        PKI.certificates(false),
    ))
    .await;
    assert!(text.contains("CertificateRequired"), "{text}");
}

/// A plain `redis://` URL to a TLS port gets no answer it can read: the
/// store fails to connect instead of hanging.
#[tokio::test]
async fn a_plain_url_to_a_tls_port_fails() {
    let url = format!("redis://127.0.0.1:{}", TLS.port());
    refused(RedisStore::from_url(&url)).await;
}

/// Certificates are only for `rediss://` URLs, and must parse.
#[tokio::test]
async fn certificates_need_a_tls_url_and_must_parse() {
    let plain = format!("redis://127.0.0.1:{}", TLS.port());
    let text = refused(RedisStore::from_url_with_tls(
        &plain,
        PKI.certificates(false),
    ))
    .await;
    assert!(text.contains("rediss://"), "{text}");

    let garbage = TlsCertificates {
        root_cert: Some(PKI.ca_cert.clone()),
        client_tls: Some(sessionkit::store::redis::client::ClientTlsConfig {
            client_cert: PKI.client_cert.clone(),
            client_key: b"not a key".to_vec(),
        }),
    };
    let text = refused(RedisStore::from_url_with_tls(&TLS.url(), garbage)).await;
    assert!(text.contains("private key"), "{text}");
}
