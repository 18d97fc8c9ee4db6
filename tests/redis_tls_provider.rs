//! A rustls crypto provider the program installed before building a TLS
//! store is the one its connections use: the store installs ring's only
//! when none is installed. A binary of its own, as the provider is
//! process-wide.
#![cfg(feature = "redis-tls")]

mod support;

use std::time::Duration;

use rustls::crypto::ring::{cipher_suite, default_provider};
use rustls::crypto::CryptoProvider;
use sessionkit::RedisStore;

use support::chain;
use support::redis_tls::{RedisTlsServer, PKI};

#[tokio::test]
async fn a_provider_installed_before_is_kept() {
    // ring with one TLS 1.3 cipher suite only.
    CryptoProvider {
        cipher_suites: vec![cipher_suite::TLS13_CHACHA20_POLY1305_SHA256],
        ..default_provider()
    }
    .install_default()
    .expect("no provider installed yet");
    let server = |suite: &str| {
        RedisTlsServer::start_with(
            false,
            &["--tls-protocols", "TLSv1.3", "--tls-ciphersuites", suite],
        )
    };
    let connect = |server: &RedisTlsServer| {
        let url = server.url();
        async move {
            tokio::time::timeout(
                Duration::from_secs(60),
                RedisStore::from_url_with_tls(&url, PKI.certificates(false)),
            )
            .await
            .expect("connecting hung")
        }
    };

    // A server offering that suite: the store connects.
    let chacha = server("TLS_CHACHA20_POLY1305_SHA256");
    connect(&chacha)
        .await
        .expect("connect with ChaCha20-Poly1305");

    // A server offering only another one, which ring's default provider
    // has: the handshake fails, so the installed provider was used.
    let aes = server("TLS_AES_256_GCM_SHA384");
    let error = connect(&aes)
        .await
        .expect_err("connected with a suite the installed provider lacks");
    let text = chain(&error);
    assert!(text.contains("HandshakeFailure"), "{text}");
}
