//! A `redis-server` that serves only TLS, built on [`Server`], and the
//! certificates it and its clients use: a CA, a server certificate for
//! `127.0.0.1` and `localhost`, and a client certificate, all made when the
//! tests run by the `openssl` command (valid for a day, so nothing kept in
//! the repository expires), plus a second CA that signed nothing here.
//!
//! The PEM files a server needs are written into its scratch directory,
//! which goes with the server.

use std::path::Path;
use std::process::Command;
use std::sync::LazyLock;

use sessionkit::store::redis::client::{ClientTlsConfig, TlsCertificates};

use super::servers::Server;

/// The certificates (PEM) of one test run.
pub struct Pki {
    pub ca_cert: Vec<u8>,
    pub server_cert: Vec<u8>,
    pub server_key: Vec<u8>,
    pub client_cert: Vec<u8>,
    pub client_key: Vec<u8>,
    /// A CA that signed neither certificate.
    pub other_ca_cert: Vec<u8>,
}

/// The certificates every test of the binary shares.
pub static PKI: LazyLock<Pki> = LazyLock::new(Pki::generate);

impl Pki {
    /// Makes the CAs, keys and certificates with `openssl`, in a scratch
    /// directory that is removed before this returns.
    pub fn generate() -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "sessionkit-test-pki-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).expect("create the certificates' scratch directory");
        let pki = generate_in(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        pki
    }

    /// Trusts this run's CA and, when `client_certificate`, presents the
    /// client certificate.
    pub fn certificates(&self, client_certificate: bool) -> TlsCertificates {
        TlsCertificates {
            root_cert: Some(self.ca_cert.clone()),
            client_tls: client_certificate.then(|| ClientTlsConfig {
                client_cert: self.client_cert.clone(),
                client_key: self.client_key.clone(),
            }),
        }
    }
}

/// Runs `openssl args…` in `dir`; panics with its output if it fails, and
/// with a clear message if `openssl` is not installed.
fn openssl(dir: &Path, args: &[&str]) {
    let out = match Command::new("openssl").current_dir(dir).args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "the Redis TLS tests make their certificates with the `openssl` command, \
             which is not installed (Debian: apt-get install openssl)"
        ),
        Err(e) => panic!("cannot run openssl: {e}"),
    };
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn generate_in(dir: &Path) -> Pki {
    // Two self-signed CAs on P-256 keys.
    for ca in ["ca", "other-ca"] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.crt"),
                "-days",
                "1",
                "-subj",
                &format!("/CN=sessionkit test {ca}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }
    // A server and a client certificate, signed by the first CA.
    let leaves = [
        (
            "server",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ];
    for (name, extensions) in leaves {
        let ext_file = format!("{name}.ext");
        std::fs::write(
            dir.join(&ext_file),
            format!(
                "basicConstraints=critical,CA:FALSE\n\
                 keyUsage=critical,digitalSignature\n{extensions}"
            ),
        )
        .unwrap();
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN=sessionkit test {name}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                &ext_file,
                "-out",
                &format!("{name}.crt"),
            ],
        );
    }
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    Pki {
        ca_cert: read("ca.crt"),
        server_cert: read("server.crt"),
        server_key: read("server.key"),
        client_cert: read("client.crt"),
        client_key: read("client.key"),
        other_ca_cert: read("other-ca.crt"),
    }
}

/// Whether something accepts connections on the port (a TLS server does
/// not answer a plain `PING`).
fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A `redis-server` with only a TLS port, using [`PKI`]'s server
/// certificate.
pub struct RedisTlsServer {
    pub server: Server,
}

impl RedisTlsServer {
    /// Starts one on a free loopback port; with `auth_clients`, it refuses
    /// clients that present no certificate signed by the CA
    /// (`--tls-auth-clients yes`), otherwise it asks for none.
    pub fn start(auth_clients: bool) -> RedisTlsServer {
        RedisTlsServer::start_with(auth_clients, &[])
    }

    /// [`start`](Self::start) with more `redis-server` arguments.
    pub fn start_with(auth_clients: bool, extra: &[&str]) -> RedisTlsServer {
        let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        let pki = &*PKI;
        let files = [
            ("ca.crt", pki.ca_cert.clone()),
            ("server.crt", pki.server_cert.clone()),
            ("server.key", pki.server_key.clone()),
        ];
        let server = Server::start(
            "redis-server",
            1,
            move |ports, dir| {
                for (name, pem) in &files {
                    std::fs::write(dir.join(name), pem).expect("write a PEM file");
                }
                let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
                [
                    "--port",
                    "0",
                    "--tls-port",
                    &ports[0].to_string(),
                    "--tls-cert-file",
                    &path("server.crt"),
                    "--tls-key-file",
                    &path("server.key"),
                    "--tls-ca-cert-file",
                    &path("ca.crt"),
                    "--tls-auth-clients",
                    if auth_clients { "yes" } else { "no" },
                    "--bind",
                    "127.0.0.1",
                    "--daemonize",
                    "no",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    dir.to_str().unwrap(),
                ]
                .map(String::from)
                .into_iter()
                .chain(extra.iter().cloned())
                .collect()
            },
            listening,
        );
        RedisTlsServer { server }
    }

    /// `rediss://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.server.port())
    }

    /// `rediss://localhost:<port>`: the server certificate names both.
    pub fn url_by_name(&self) -> String {
        format!("rediss://localhost:{}", self.server.port())
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }
}
