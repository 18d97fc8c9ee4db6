//! Unit tests that need no server: keys, exptimes, server lists, the ring;
//! then compare-and-set (`load_versioned`, `save_if`) against a real
//! memcached started per test. The other commands are tested against real
//! memcached servers in the repository's `tests/memcache_store.rs`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::error::redacted;
use super::ring::Ring;
use super::{check_key, exptime, MemcacheStore, MemcacheStoreError};
use crate::error::Report;
use crate::store::{Expect, SaveOutcome, SessionStore, Stored};
use crate::{ErrorClass, StoreError};

const DAY: u64 = 86_400;

#[test]
fn exptime_is_relative_up_to_30_days_and_absolute_beyond() {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    // One second more than asked: memcached's clock ticks once a second.
    assert_eq!(exptime(Duration::from_secs(3), now), 4);
    assert_eq!(exptime(Duration::from_millis(2500), now), 4);
    assert_eq!(exptime(Duration::ZERO, now), 1, "never 0 (never expires)");
    assert_eq!(exptime(Duration::from_secs(30 * DAY - 1), now), 2_592_000);
    // 30 days exactly (sanic-session's default) is one second too many to
    // stay relative.
    assert_eq!(
        exptime(Duration::from_secs(30 * DAY), now),
        1_800_000_000 + 2_592_001
    );
    assert_eq!(
        exptime(Duration::from_secs(31 * DAY), now),
        1_800_000_000 + 31 * DAY as u32 + 1
    );
    let late = UNIX_EPOCH + Duration::from_secs(i32::MAX as u64);
    assert_eq!(
        exptime(Duration::from_secs(400 * DAY), late),
        i32::MAX as u32
    );
    assert!(exptime(Duration::from_secs(31 * DAY), SystemTime::now()) > 1_700_000_000);
}

#[test]
fn keys_are_printable_ascii_without_spaces_up_to_250_bytes() {
    check_key("session:9ca69ea696434e99beff2880eb95116a").unwrap();
    check_key(&"k".repeat(250)).unwrap();
    for bad in [
        String::new(),
        "k".repeat(251),
        "session:a b".into(),
        "session:a\tb".into(),
        "a\r\nflush_all".into(),
        "a\0".into(),
        "a\x7f".into(),
        "sessión:1".into(),
    ] {
        match check_key(&bad) {
            Err(MemcacheStoreError::InvalidKey { key, .. }) => {
                assert!(
                    !key.contains('\r') && !key.contains('\n') && key.len() < 100,
                    "{key}"
                )
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    // An invalid key shows no more of an id than `redact_key` does.
    let id = "9ca69ea696434e99beff2880eb95116a";
    for bad in [
        format!("session:{id} noreply"),
        format!("session:{id}\r\nflush_all"),
        format!("{id}{id}{id}{id}{id}{id}{id}{id}"),
    ] {
        let error = check_key(&bad).unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains(&id[..5]), "{shown}");
        assert!(shown.contains("9ca6…"), "{shown}");
        assert_eq!(error.class(), ErrorClass::Permanent);
    }
}

#[test]
fn redacted_cuts_hex_runs_and_keeps_words_and_numbers() {
    let id = "9ca69ea696434e99beff2880eb95116a";
    for (text, want) in [
        (
            format!("VALUE session:{id} 0 1099511627776 18446744073709551615"),
            "VALUE session:9ca6… 0 1099511627776 18446744073709551615".to_string(),
        ),
        (
            "SERVER_ERROR object too large for cache".into(),
            "SERVER_ERROR object too large for cache".into(),
        ),
        (
            "CLIENT_ERROR bad data chunk".into(),
            "CLIENT_ERROR bad data chunk".into(),
        ),
        (format!("x{id}y"), "x9ca6…y".into()),
        (id.to_uppercase(), "9CA6…".into()),
        // 21 digits: more than any number memcached sends.
        ("123456789012345678901".into(), "1234…".into()),
        (
            "dead beef café 1.6.18".into(),
            "dead beef café 1.6.18".into(),
        ),
        ("\\x00\\x0a".into(), "\\x00\\x0a".into()),
        (String::new(), String::new()),
    ] {
        assert_eq!(redacted(&text), want, "{text}");
    }
}

#[test]
fn errors_are_classed() {
    let refused = |reply: &str| MemcacheStoreError::Refused {
        server: "s:1".into(),
        command: "add",
        reply: reply.into(),
    };
    let io = |kind| MemcacheStoreError::Io {
        server: "s:1".into(),
        command: "gat",
        source: std::io::Error::from(kind),
    };
    let transient = [
        MemcacheStoreError::Connect {
            server: "s:1".into(),
            source: std::io::ErrorKind::ConnectionRefused.into(),
        },
        io(std::io::ErrorKind::ConnectionReset),
        io(std::io::ErrorKind::UnexpectedEof),
        MemcacheStoreError::Timeout {
            server: "s:1".into(),
            command: "gat",
            timeout: Duration::from_secs(1),
        },
        refused("SERVER_ERROR out of memory storing object"),
        refused("SERVER_ERROR temporary failure"),
        refused("SERVER_ERROR backend failure"),
    ];
    let permanent = [
        refused("SERVER_ERROR object too large for cache"),
        refused("CLIENT_ERROR bad data chunk"),
        refused("ERROR"),
        MemcacheStoreError::Protocol {
            server: "s:1".into(),
            command: "gat",
            detail: "unexpected answer".into(),
        },
        MemcacheStoreError::ValueTooLarge { size: 2, max: 1 },
        MemcacheStoreError::InvalidKey {
            key: "\"a b\"".into(),
            reason: "it holds a space",
        },
    ];
    let classed = (transient.into_iter().map(|e| (e, ErrorClass::Transient)))
        .chain(permanent.into_iter().map(|e| (e, ErrorClass::Permanent)));
    for (error, class) in classed {
        assert_eq!(error.class(), class, "{error}");
        let shown = error.to_string();
        assert_eq!(StoreError::from(error).class(), class, "{shown}");
    }
}

#[test]
fn an_io_failure_is_the_source_not_repeated_in_the_message() {
    let cause = || std::io::Error::other("the cause");
    for (error, message) in [
        (
            MemcacheStoreError::Connect {
                server: "s:1".into(),
                source: cause(),
            },
            "could not connect to s:1",
        ),
        (
            MemcacheStoreError::Io {
                server: "s:1".into(),
                command: "gat",
                source: cause(),
            },
            "`gat` on s:1 failed",
        ),
    ] {
        assert_eq!(error.to_string(), message);
        let source = std::error::Error::source(&error).expect("the io::Error");
        assert_eq!(source.to_string(), "the cause");
        let chain = Report(&StoreError::from(error)).to_string();
        assert_eq!(chain, format!("memcached: {message}: the cause"));
    }
}

#[test]
fn server_lists_are_checked() {
    let store =
        MemcacheStore::new([" 127.0.0.1:11211", "cache.internal:11212", "[::1]:11211"]).unwrap();
    assert_eq!(
        store.servers().collect::<Vec<_>>(),
        ["127.0.0.1:11211", "cache.internal:11212", "[::1]:11211"]
    );
    let addr: std::net::SocketAddr = "[::1]:11211".parse().unwrap();
    assert_eq!(
        MemcacheStore::new([addr]).unwrap().servers().next(),
        Some("[::1]:11211")
    );
    for bad in [
        &[][..],
        &["127.0.0.1"],
        &["127.0.0.1:0"],
        &["127.0.0.1:99999"],
        &[":11211"],
        &["::1:11211"],
        &["a b:1"],
        &["h:1", "h:1"],
    ] {
        let error = MemcacheStore::new(bad.iter()).unwrap_err();
        assert!(
            matches!(error, MemcacheStoreError::InvalidServer { .. }),
            "{bad:?}: {error}"
        );
    }
}

#[test]
fn builder_settings() {
    let store = MemcacheStore::new(["127.0.0.1:11211"]).unwrap();
    assert_eq!(store.timeout(), MemcacheStore::DEFAULT_TIMEOUT);
    assert!(MemcacheStore::DEFAULT_TIMEOUT <= Duration::from_secs(2));
    assert_eq!(store.pool_size(), MemcacheStore::DEFAULT_POOL_SIZE);
    assert_eq!(store.max_value_size(), 1024 * 1024 - 1024);
    assert_eq!(
        SessionStore::max_value_size(&store),
        Some(MemcacheStore::DEFAULT_MAX_VALUE_SIZE)
    );
    let limited = store.clone().with_max_value_size(4096);
    assert_eq!(SessionStore::max_value_size(&limited), Some(4096));
    let huge = store.clone().with_max_value_size(usize::MAX);
    assert_eq!(huge.max_value_size(), MemcacheStore::MAX_VALUE_SIZE_LIMIT);
    let store = store
        .with_timeout(Duration::from_millis(10))
        .with_pool_size(0);
    assert_eq!(
        (store.timeout(), store.pool_size()),
        (Duration::from_millis(10), 1)
    );
    let shown = format!("{store:?}");
    assert!(shown.contains("127.0.0.1:11211"), "{shown}");
}

#[test]
fn ring_is_deterministic_and_balanced() {
    let servers = ["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"];
    let ring = Ring::new(&servers);
    let again = Ring::new(&servers);
    let mut counts = [0usize; 3];
    for i in 0..30_000 {
        let key = format!("session:{i:032x}");
        let at = ring.server_for(key.as_bytes());
        assert_eq!(at, again.server_for(key.as_bytes()));
        counts[at] += 1;
    }
    for count in counts {
        assert!((7_000..13_000).contains(&count), "{counts:?}");
    }
    assert_eq!(Ring::new(&["only:1"]).server_for(b"x"), 0);
}

// ---------------------------------------------------------------------------
// Compare-and-set against a real memcached

const TTL: Duration = Duration::from_secs(3600);

/// A memcached child process on a free loopback port, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start() -> Server {
        Server::start_with(&[])
    }

    fn start_with(args: &[&str]) -> Server {
        for _ in 0..5 {
            // Free now, but another process may take it before memcached
            // binds it: hence the retries, and the pid check in `ready`.
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new("memcached")
                // `-u` is required when run as root, ignored otherwise.
                .args(["-u", "root", "-l", "127.0.0.1", "-U", "0"])
                .args(["-p", &port.to_string()])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("memcached (is /usr/bin/memcached installed?)");
            let mut server = Server {
                child,
                addr: format!("127.0.0.1:{port}"),
            };
            if server.ready() {
                return server;
            }
        }
        panic!("could not start memcached on a free port");
    }

    /// Waits until this memcached accepts connections; false when it
    /// exited (the port was taken) or another server answers there.
    fn ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            // Whoever answers must be this memcached: until it has bound
            // the port, another test's port probe may hold it for a moment
            // (and reset the connection when it lets go).
            if let Some(pid) = self.try_pid() {
                return pid == u64::from(self.child.id());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// The `pid` statistic of whatever answers on the port, if anything
    /// answers it in full.
    fn try_pid(&self) -> Option<u64> {
        let mut stream = TcpStream::connect(&self.addr).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
        stream.write_all(b"stats\r\n").ok()?;
        let mut lines = BufReader::new(stream).lines();
        loop {
            let line = lines.next()?.ok()?;
            if line.starts_with("END") {
                return None;
            }
            if let Some(pid) = line.trim_end().strip_prefix("STAT pid ") {
                return pid.parse().ok();
            }
        }
    }

    fn store(&self) -> MemcacheStore {
        MemcacheStore::new([self.addr.as_str()]).unwrap()
    }

    /// Sends `request` on a new connection, to read the answer from.
    fn request(&self, request: &str) -> BufReader<TcpStream> {
        let stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (&stream).write_all(request.as_bytes()).unwrap();
        BufReader::new(stream)
    }

    /// One numeric statistic, e.g. `cas_hits`.
    fn stat(&self, name: &str) -> u64 {
        let mut answer = self.request("stats\r\n");
        loop {
            let line = read_line(&mut answer);
            assert_ne!(line, "END", "no statistic {name}");
            if let Some(value) = line
                .strip_prefix("STAT ")
                .and_then(|stat| stat.strip_prefix(name))
                .and_then(|rest| rest.strip_prefix(' '))
            {
                return value.parse().unwrap();
            }
        }
    }

    /// Plain `get key`, as sanic-session reads: the flags and the value.
    fn get(&self, key: &str) -> Option<(u32, Vec<u8>)> {
        let mut answer = self.request(&format!("get {key}\r\n"));
        let header = read_line(&mut answer);
        if header == "END" {
            return None;
        }
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!((parts.len(), parts[0], parts[1]), (4, "VALUE", key));
        let mut value = vec![0; parts[3].parse::<usize>().unwrap() + 2];
        answer.read_exact(&mut value).unwrap();
        assert!(value.ends_with(b"\r\n"));
        value.truncate(value.len() - 2);
        assert_eq!(read_line(&mut answer), "END");
        Some((parts[2].parse().unwrap(), value))
    }

    /// The seconds `key` has left (meta get `mg key t`).
    fn ttl(&self, key: &str) -> u64 {
        let line = read_line(&mut self.request(&format!("mg {key} t\r\n")));
        let ttl = line.strip_prefix("HD t");
        ttl.unwrap_or_else(|| panic!("mg answered {line:?}"))
            .parse()
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A line of an answer, without `\r\n`.
fn read_line(answer: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    answer.read_line(&mut line).expect("memcached answered");
    assert!(line.ends_with("\r\n"), "{line:?}");
    line.truncate(line.len() - 2);
    line
}

fn key(n: u8) -> String {
    format!("session:{n:032x}")
}

/// What `key` holds, with the version a `save_if` can expect.
async fn loaded(store: &MemcacheStore, key: &str) -> Stored {
    let stored = store.load_versioned(key, TTL).await.unwrap();
    stored.unwrap_or_else(|| panic!("{key} is missing"))
}

fn expect(stored: &Stored) -> Expect<'_> {
    Expect::Loaded {
        value: &stored.value,
        version: stored.version,
    }
}

/// The [`MemcacheStoreError`] a store call failed with.
fn cause(error: &StoreError) -> &MemcacheStoreError {
    std::error::Error::source(error)
        .and_then(|e| e.downcast_ref::<MemcacheStoreError>())
        .unwrap_or_else(|| panic!("not a memcached error: {error}"))
}

const SAVED: SaveOutcome = SaveOutcome::Saved { version: None };

#[tokio::test]
async fn load_versioned_gives_a_version_that_save_if_writes_with() {
    let server = Server::start();
    let store = server.store();
    assert!(store.compare_and_set());
    let key = key(1);
    assert_eq!(store.load_versioned(&key, TTL).await.unwrap(), None);
    store.save(&key, br#"{"n":1}"#, TTL).await.unwrap();
    let first = loaded(&store, &key).await;
    assert_eq!(first.value, br#"{"n":1}"#);
    assert!(first.version.is_some());
    let gets = server.stat("cmd_get");
    let outcome = store.save_if(&key, br#"{"n":2}"#, TTL, expect(&first));
    assert_eq!(outcome.await.unwrap(), SAVED);
    // One `cas`, nothing read first: one round trip.
    assert_eq!(server.stat("cas_hits"), 1);
    assert_eq!(server.stat("cmd_get"), gets);
    assert_eq!(store.load(&key, TTL).await.unwrap().unwrap(), br#"{"n":2}"#);
}

#[tokio::test]
async fn a_stale_version_gets_changed_with_the_current_value_and_a_version_that_works() {
    let server = Server::start();
    let store = server.store();
    let key = key(2);
    store.save(&key, br#"{"a":0}"#, TTL).await.unwrap();
    let mine = loaded(&store, &key).await;
    let theirs = loaded(&store, &key).await;
    assert_eq!(mine.version, theirs.version, "reading changes no unique");
    let outcome = store.save_if(&key, br#"{"a":1}"#, TTL, expect(&theirs));
    assert_eq!(outcome.await.unwrap(), SAVED);

    let gets = server.stat("cmd_get");
    let outcome = store.save_if(&key, br#"{"a":0,"b":1}"#, TTL, expect(&mine));
    let SaveOutcome::Changed(current) = outcome.await.unwrap() else {
        panic!("a stale version wrote");
    };
    assert_eq!(current.value, br#"{"a":1}"#);
    assert!(current.version.is_some() && current.version != mine.version);
    // The conflict cost one `gets` more.
    assert_eq!(server.stat("cas_badval"), 1);
    assert_eq!(server.stat("cmd_get"), gets + 1);
    assert_eq!(store.load(&key, TTL).await.unwrap().unwrap(), br#"{"a":1}"#);

    let merged = br#"{"a":1,"b":1}"#;
    let outcome = store.save_if(&key, merged, TTL, expect(&current));
    assert_eq!(outcome.await.unwrap(), SAVED);
    assert_eq!(store.load(&key, TTL).await.unwrap().unwrap(), merged);
}

#[tokio::test]
async fn save_if_on_a_deleted_key_is_gone() {
    let server = Server::start();
    let store = server.store();
    let key = key(3);
    store.save(&key, br#"{"user":7}"#, TTL).await.unwrap();
    let stored = loaded(&store, &key).await;
    store.delete(&key).await.unwrap();
    let outcome = store.save_if(&key, br#"{"user":7,"x":1}"#, TTL, expect(&stored));
    assert_eq!(outcome.await.unwrap(), SaveOutcome::Gone);
    assert_eq!(store.load(&key, TTL).await.unwrap(), None, "not recreated");
}

#[tokio::test]
async fn save_if_absent_writes_a_free_key_and_not_a_taken_one() {
    let server = Server::start();
    let store = server.store();
    let key = key(4);
    let outcome = store.save_if(&key, br#"{"new":1}"#, TTL, Expect::Absent);
    assert_eq!(outcome.await.unwrap(), SAVED);
    assert_eq!(
        store.load(&key, TTL).await.unwrap().unwrap(),
        br#"{"new":1}"#
    );
    let outcome = store.save_if(&key, br#"{"new":2}"#, TTL, Expect::Absent);
    assert_eq!(outcome.await.unwrap(), SaveOutcome::Exists);
    assert_eq!(
        store.load(&key, TTL).await.unwrap().unwrap(),
        br#"{"new":1}"#
    );
}

#[tokio::test]
async fn save_if_without_a_version_compares_the_bytes() {
    let server = Server::start();
    let store = server.store();
    let key = key(5);
    let (one, two, three) = (br#"{"v":1}"#, br#"{"v":2}"#, br#"{"v":3}"#);
    let unversioned = |value: &'static [u8]| Expect::Loaded {
        value,
        version: None,
    };
    store.save(&key, one, TTL).await.unwrap();

    // Same bytes: `gets`, then `cas` with the unique it gave.
    let outcome = store.save_if(&key, two, TTL, unversioned(one));
    assert_eq!(outcome.await.unwrap(), SAVED);
    assert_eq!(server.stat("cas_hits"), 1);
    assert_eq!(store.load(&key, TTL).await.unwrap().unwrap(), two);

    // Other bytes: nothing written, and a version to retry with.
    let outcome = store.save_if(&key, three, TTL, unversioned(one));
    let SaveOutcome::Changed(current) = outcome.await.unwrap() else {
        panic!("stale bytes wrote");
    };
    assert_eq!(current.value, two);
    assert!(current.version.is_some());
    assert_eq!(server.stat("cas_hits"), 1, "no `cas` was sent");
    assert_eq!(store.load(&key, TTL).await.unwrap().unwrap(), two);
    let outcome = store.save_if(&key, three, TTL, expect(&current));
    assert_eq!(outcome.await.unwrap(), SAVED);
    assert_eq!(store.load(&key, TTL).await.unwrap().unwrap(), three);

    store.delete(&key).await.unwrap();
    let outcome = store.save_if(&key, one, TTL, unversioned(three));
    assert_eq!(outcome.await.unwrap(), SaveOutcome::Gone);
    assert_eq!(store.load(&key, TTL).await.unwrap(), None);
}

#[tokio::test]
async fn add_and_cas_store_what_set_does() {
    let server = Server::start();
    let store = server.store();
    let key = key(6);
    // Every byte value, and what would end a line or an answer.
    let mut added = br#"{"a":""#.to_vec();
    added.extend(0..=255u8);
    added.extend_from_slice(b"\r\nEND\r\n\"}");
    let outcome = store.save_if(&key, &added, TTL, Expect::Absent);
    assert_eq!(outcome.await.unwrap(), SAVED);
    assert_eq!(server.get(&key), Some((0, added.clone())), "flags 0");
    assert!((3599..=3601).contains(&server.ttl(&key)));
    assert_eq!(store.load(&key, TTL).await.unwrap().unwrap(), added);

    let swapped: Vec<u8> = added.iter().rev().copied().collect();
    let long = Duration::from_secs(31 * 86_400);
    let stored = loaded(&store, &key).await;
    let outcome = store.save_if(&key, &swapped, long, expect(&stored));
    assert_eq!(outcome.await.unwrap(), SAVED);
    assert_eq!(server.get(&key), Some((0, swapped.clone())), "flags 0");
    // Over 30 days: sent as a Unix time, as `set` does. memcached turns it
    // back into a time to live with its own clock, which ticks once a
    // second and can lag the real one by a second: up to 2 s over (the
    // same bound tests/memcache_store.rs uses).
    assert!((long.as_secs() - 2..=long.as_secs() + 2).contains(&server.ttl(&key)));
    assert_eq!(store.load(&key, TTL).await.unwrap().unwrap(), swapped);
}

#[tokio::test]
async fn a_cas_over_the_item_size_limit_is_an_error_and_leaves_the_old_value() {
    let server = Server::start_with(&["-I", "1k", "-o", "slab_chunk_max=512"]);
    let store = server.store();
    let key = key(7);
    store.save(&key, br#"{"small":1}"#, TTL).await.unwrap();
    let stored = loaded(&store, &key).await;
    let big = format!(r#"{{"big":"{}"}}"#, "x".repeat(3000));
    let error = store
        .save_if(&key, big.as_bytes(), TTL, expect(&stored))
        .await
        .unwrap_err();
    match cause(&error) {
        MemcacheStoreError::Refused { command, reply, .. } => {
            assert_eq!(*command, "cas");
            assert!(reply.contains("too large"), "{reply}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(error.class(), ErrorClass::Permanent);
    assert_eq!(
        store.load(&key, TTL).await.unwrap().unwrap(),
        br#"{"small":1}"#
    );
    // Untouched: the version still matches.
    let outcome = store.save_if(&key, br#"{"small":2}"#, TTL, expect(&stored));
    assert_eq!(outcome.await.unwrap(), SAVED);

    let free = self::key(8);
    let error = store
        .save_if(&free, big.as_bytes(), TTL, Expect::Absent)
        .await
        .unwrap_err();
    assert!(
        matches!(
            cause(&error),
            MemcacheStoreError::Refused { command: "add", .. }
        ),
        "{error}"
    );
    assert_eq!(store.load(&free, TTL).await.unwrap(), None);
}
