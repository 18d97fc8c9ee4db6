//! The PostgreSQL store against real PostgreSQL servers (started by
//! `support::postgres` in temporary directories on free loopback ports):
//! the store conformance suite, then what PostgreSQL adds: explicit
//! migrations, table names, sessions that outlive a server restart, an
//! outage and the recovery after it, the cleanup of expired rows while
//! requests are served, the statements each kind of request costs, and
//! error messages without session ids.
//!
//! The conformance checks share one server per test binary, each in a
//! table of its own; the tests that stop or count a server start their own.
#![cfg(feature = "postgres")]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sessionkit::store::postgres::tokio_postgres::{self, NoTls};
use sessionkit::store::postgres::PostgresStoreError;
use sessionkit::store::{Cleanup, Expect, SaveOutcome};
use sessionkit::{ErrorClass, PostgresStore, SessionId, SessionStore, StoreError};

use support::postgres::Postgres;
use support::{capture_logs, serve, Browser};

const TTL: Duration = Duration::from_secs(3600);

/// The server the conformance checks share.
fn shared() -> &'static Postgres {
    static SERVER: OnceLock<Postgres> = OnceLock::new();
    SERVER.get_or_init(Postgres::start_new)
}

/// A table name no other test uses.
fn unique_table() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!("t{}", COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// A migrated store in a table of its own on the shared server. Its
/// timeout is generous: the checks share two cores with other builds.
async fn fresh() -> PostgresStore {
    let store = PostgresStore::new(&shared().url())
        .unwrap()
        .with_table(&unique_table())
        .unwrap()
        .with_timeout(Duration::from_secs(10));
    store.migrate().await.unwrap();
    store
}

mod conformance {
    sessionkit_conformance::store_tests!(crate::fresh());
    crate::conformance_tests!(crate::fresh);
}

/// A plain client of `server`, for what the tests check behind the store.
async fn psql(server: &Postgres) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&server.url(), NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

fn new_id() -> String {
    SessionId::generate().to_string()
}

/// Every message of `error`'s source chain, `Display` and `Debug`.
fn chain_text(error: &StoreError) -> String {
    let mut text = format!("{error} {error:?}");
    let mut source = std::error::Error::source(error);
    while let Some(error) = source {
        text.push_str(&format!(" | {error} {error:?}"));
        source = error.source();
    }
    text
}

/// The [`PostgresStoreError`] a store call failed with.
fn cause(error: &StoreError) -> &PostgresStoreError {
    std::error::Error::source(error)
        .and_then(|e| e.downcast_ref::<PostgresStoreError>())
        .unwrap_or_else(|| panic!("not a PostgreSQL error: {error}"))
}

// ---------------------------------------------------------------------------
// Migrations and tables

#[tokio::test]
async fn migrate_is_idempotent_and_safe_to_run_at_once() {
    let server = shared();
    let table = unique_table();
    // Eight processes' worth: each store has a pool of its own.
    let stores: Vec<PostgresStore> = (0..8)
        .map(|_| {
            PostgresStore::new(&server.url())
                .unwrap()
                .with_table(&table)
                .unwrap()
                .with_timeout(Duration::from_secs(10))
        })
        .collect();
    let mut migrations = tokio::task::JoinSet::new();
    for store in stores.clone() {
        migrations.spawn(async move { store.migrate().await });
    }
    while let Some(result) = migrations.join_next().await {
        result.unwrap().unwrap();
    }
    // Again, over an existing table: nothing changes.
    stores[0].migrate().await.unwrap();
    let key = format!("session:{}", new_id());
    stores[0].save(&key, b"{\"n\":1}", TTL).await.unwrap();
    stores[1].migrate().await.unwrap();
    assert_eq!(
        stores[2].load(&key, TTL).await.unwrap().as_deref(),
        Some(&b"{\"n\":1}"[..])
    );
    let client = psql(server).await;
    let indexes: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE tablename = $1",
            &[&table],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(indexes, 2, "the primary key and the expiry index");
}

/// `migrate` racing a migration run by other means (without its lock):
/// the other's `CREATE TABLE` is not committed yet when `migrate` looks, so
/// `migrate` creates the table too, waits for the other's row in the
/// catalog, and fails with a unique violation once the other commits.
/// `migrate` then runs again and finds the table.
#[tokio::test]
async fn migrate_survives_a_concurrent_create_table_by_other_means() {
    let server = shared();
    let table = unique_table();
    let store = PostgresStore::new(&server.url())
        .unwrap()
        .with_table(&table)
        .unwrap()
        .with_timeout(Duration::from_secs(20));
    let other = psql(server).await;
    other.batch_execute("BEGIN").await.unwrap();
    other.batch_execute(&store.migration_sql()).await.unwrap();
    let migrating = tokio::spawn({
        let store = store.clone();
        async move { store.migrate().await }
    });
    // Until `migrate` waits for the other transaction.
    let watcher = psql(server).await;
    let mut waited = 0;
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE wait_event_type = 'Lock' AND query LIKE '%CREATE TABLE IF NOT EXISTS%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        waited += 1;
        assert!(
            waited < 2000,
            "migrate never waited for the other transaction"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    other.batch_execute("COMMIT").await.unwrap();
    migrating.await.unwrap().unwrap();
    let key = format!("session:{}", new_id());
    store.save(&key, b"{}", TTL).await.unwrap();
}

#[tokio::test]
async fn the_migration_sql_is_what_migrate_runs() {
    let server = shared();
    let table = unique_table();
    let store = PostgresStore::new(&server.url())
        .unwrap()
        .with_table(&table)
        .unwrap();
    let sql = store.migration_sql();
    assert!(sql.contains(&format!("CREATE TABLE IF NOT EXISTS \"{table}\"")));
    assert!(sql.contains("CREATE INDEX IF NOT EXISTS"));
    // Run by hand, twice (idempotent): the store works over it.
    let client = psql(server).await;
    client.batch_execute(&sql).await.unwrap();
    client.batch_execute(&sql).await.unwrap();
    let key = format!("session:{}", new_id());
    store.save(&key, b"{}", TTL).await.unwrap();
    assert!(store.load(&key, TTL).await.unwrap().is_some());
}

#[tokio::test]
async fn a_missing_table_is_a_permanent_error_that_says_to_migrate() {
    let store = PostgresStore::new(&shared().url())
        .unwrap()
        .with_table(&unique_table())
        .unwrap();
    let key = format!("session:{}", new_id());
    let errors = [
        store.load(&key, TTL).await.unwrap_err(),
        store.load_versioned(&key, TTL).await.unwrap_err(),
        store.save(&key, b"{}", TTL).await.unwrap_err(),
        store
            .save_if(&key, b"{}", TTL, Expect::Absent)
            .await
            .unwrap_err(),
        store.delete(&key).await.unwrap_err(),
        store.delete_expired(10).await.unwrap_err(),
    ];
    for error in errors {
        assert_eq!(error.class(), ErrorClass::Permanent, "{error}");
        assert!(
            matches!(cause(&error), PostgresStoreError::MissingTable { .. }),
            "{error:?}"
        );
        let text = chain_text(&error);
        assert!(text.contains("PostgresStore::migrate()"), "{text}");
    }
    // Nothing was created behind the user's back.
    let client = psql(shared()).await;
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = $1",
            &[&store.table()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
}

#[test]
fn with_table_refuses_names_it_cannot_quote_safely() {
    let store = PostgresStore::new("postgres://u@127.0.0.1:1/db").unwrap();
    for bad in [
        "",
        "9lives",
        "my-sessions",
        "sessions\"; DROP TABLE users; --",
        "a.b.c",
        "a.",
        "sessions ",
        "séances",
        &"a".repeat(64),
    ] {
        let error = store.clone().with_table(bad).unwrap_err();
        assert!(
            matches!(error, PostgresStoreError::InvalidTable { .. }),
            "{bad}: {error}"
        );
        assert!(error.to_string().contains("invalid session table name"));
    }
    for good in ["sessions", "_x", "App.Sessions", &"a".repeat(63)] {
        assert_eq!(store.clone().with_table(good).unwrap().table(), good);
    }
    assert_eq!(store.table(), "sessionkit_sessions");
}

#[tokio::test]
async fn a_table_in_a_schema_of_its_own_works() {
    let server = shared();
    let schema = format!("s_{}", unique_table());
    let client = psql(server).await;
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let name = format!("{schema}.Web_Sessions");
    let store = PostgresStore::new(&server.url())
        .unwrap()
        .with_table(&name)
        .unwrap();
    store.migrate().await.unwrap();
    let addr = serve(support::app::app(store.clone())).await;
    let mut browser = Browser::new(addr);
    assert_eq!(browser.get("/incr").await.body, "1");
    let id = browser.jar["session"].clone();
    let sql = format!("SELECT value, version FROM {schema}.\"Web_Sessions\" WHERE key = $1");
    let key = format!("session:{id}");
    let row = || async {
        let row = client.query_one(&sql, &[&key]).await.unwrap();
        let value: Vec<u8> = row.get(0);
        let version: i64 = row.get(1);
        (
            serde_json::from_slice::<serde_json::Value>(&value).unwrap(),
            version,
        )
    };
    let (_, created) = row().await;
    assert_eq!(browser.get("/incr").await.body, "2");
    let (value, version) = row().await;
    assert_eq!(value["n"], 2);
    assert_eq!(version, created + 1, "created, then updated once");
}

// ---------------------------------------------------------------------------
// Restarts and outages

#[tokio::test]
async fn a_server_restart_keeps_every_session() {
    let mut server = Postgres::start_new();
    let store = PostgresStore::new(&server.url()).unwrap();
    store.migrate().await.unwrap();
    let addr = serve(support::app::app(store)).await;
    let mut browsers: Vec<Browser> = (0..4).map(|_| Browser::new(addr)).collect();
    for (i, browser) in browsers.iter_mut().enumerate() {
        for _ in 0..=i {
            assert_eq!(browser.get("/incr").await.status, 200);
        }
    }
    let cookies: Vec<String> = browsers.iter().map(|b| b.jar["session"].clone()).collect();

    server.restart();

    for (i, browser) in browsers.iter_mut().enumerate() {
        let reply = browser.get("/get").await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, (i + 1).to_string().as_str()),
            "browser {i}: {reply:?}"
        );
        assert_eq!(
            browser.jar["session"], cookies[i],
            "browser {i} kept its cookie"
        );
        assert_eq!(browser.get("/incr").await.body, (i + 2).to_string());
    }
}

#[tokio::test]
async fn a_stopped_server_gives_503_and_the_same_app_serves_again_once_it_is_back() {
    let mut server = Postgres::start_new();
    let store = PostgresStore::new(&server.url()).unwrap();
    store.migrate().await.unwrap();
    let mut browser = Browser::new(serve(support::app::app(store.clone())).await);
    assert_eq!(browser.get("/incr").await.body, "1");
    assert_eq!(browser.get("/incr").await.body, "2");

    server.stop();
    for path in ["/incr", "/get", "/clear"] {
        let started = Instant::now();
        let (reply, logs) =
            tokio::time::timeout(Duration::from_secs(30), capture_logs(browser.get(path)))
                .await
                .expect("no request hangs");
        eprintln!("{path} with the server down: {:?}", started.elapsed());
        assert_eq!(reply.status, 503, "{path}: {reply:?}");
        assert_eq!(reply.header("retry-after"), "2", "{path}");
        assert!(
            logs.contains("ERROR") && logs.contains("PostgreSQL"),
            "{logs}"
        );
    }
    let error = store.ping().await.unwrap_err();
    assert_eq!(
        error.class(),
        ErrorClass::Transient,
        "{}",
        chain_text(&error)
    );

    // Same app, same store: the session is back, as it was.
    server.start();
    store.ping().await.unwrap();
    let reply = browser.get("/incr").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "3"));
}

/// A server that stops answering (SIGSTOP: connections stay open, no
/// answer comes) gives the 503 policy when the store's timeout runs out,
/// with the timeout named in the log; once it answers again, the same app
/// serves the session as it was.
#[tokio::test]
async fn a_frozen_server_gives_503_at_the_timeout_and_the_same_app_serves_again() {
    let server = Postgres::start_new();
    let store = PostgresStore::new(&server.url())
        .unwrap()
        .with_timeout(Duration::from_millis(300));
    store.migrate().await.unwrap();
    let mut browser = Browser::new(serve(support::app::app(store.clone())).await);
    assert_eq!(browser.get("/incr").await.body, "1");

    server.pause();
    for path in ["/incr", "/get"] {
        let (reply, logs) =
            tokio::time::timeout(Duration::from_secs(30), capture_logs(browser.get(path)))
                .await
                .expect("no request hangs");
        assert_eq!(reply.status, 503, "{path}: {reply:?}");
        assert_eq!(reply.header("retry-after"), "2", "{path}");
        assert!(
            logs.contains("got no answer from PostgreSQL within 300ms"),
            "{path}: {logs}"
        );
    }
    server.resume();

    // The connections that timed out were dropped; new ones answer.
    let mut answered = false;
    for _ in 0..50 {
        let reply = browser.get("/incr").await;
        if reply.status == 200 {
            assert_eq!(reply.body, "2", "the session as it was before the freeze");
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        answered,
        "the same app serves again once the server answers"
    );
}

#[tokio::test]
async fn a_connection_the_server_ended_is_replaced() {
    let server = Postgres::start_new();
    let store = PostgresStore::new(&server.url()).unwrap().with_pool_size(1);
    store.migrate().await.unwrap();
    let mut browser = Browser::new(serve(support::app::app(store)).await);
    assert_eq!(browser.get("/incr").await.body, "1");
    let client = psql(&server).await;
    for round in 0..20 {
        // Ends every other connection: the store's pooled one. Without
        // waiting for it to go: the request below may find it open still,
        // or closing.
        let ended: i64 = client
            .query_one(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE pid <> pg_backend_pid() AND backend_type = 'client backend') AS t",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(ended, 1, "round {round}");
        let (reply, logs) = capture_logs(browser.get("/incr")).await;
        assert_eq!(
            (reply.status, reply.body),
            (200, (round + 2).to_string()),
            "round {round}: {logs}"
        );
    }
}

#[tokio::test]
async fn store_errors_are_transient_or_permanent() {
    // Nobody listens: transient, and no call hangs.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = PostgresStore::new(&format!("postgres://u@127.0.0.1:{port}/db")).unwrap();
    let key = format!("session:{}", new_id());
    let error = store.load(&key, TTL).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient, "{error:?}");
    assert!(matches!(cause(&error), PostgresStoreError::Connect { .. }));

    // Too large: permanent, before any I/O (nothing listens there).
    let small = store.clone().with_max_value_size(10);
    assert_eq!(small.max_value_size(), Some(10));
    for error in [
        small.save(&key, &[b'x'; 11], TTL).await.unwrap_err(),
        small
            .save_if(&key, &[b'x'; 11], TTL, Expect::Absent)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(error.class(), ErrorClass::Permanent);
        assert!(matches!(
            cause(&error),
            PostgresStoreError::ValueTooLarge { size: 11, max: 10 }
        ));
    }

    // A database that does not exist: the server refuses for good.
    let server = shared();
    let url = server.url().replace("/postgres", "/no_such_db");
    let error = PostgresStore::new(&url)
        .unwrap()
        .load(&key, TTL)
        .await
        .unwrap_err();
    assert_eq!(
        error.class(),
        ErrorClass::Permanent,
        "{}",
        chain_text(&error)
    );
    assert_eq!(
        PostgresStore::new("postgres://u@h:notaport/db")
            .unwrap_err()
            .to_string(),
        "invalid PostgreSQL connection string"
    );
}

// ---------------------------------------------------------------------------
// Expired rows

/// The expired rows of `table`.
async fn expired_rows(client: &tokio_postgres::Client, table: &str) -> i64 {
    client
        .query_one(
            &format!("SELECT count(*) FROM \"{table}\" WHERE expires_at <= now()"),
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn the_cleanup_removes_expired_rows_in_batches_while_requests_are_served() {
    let server = Postgres::start_new();
    let table = "sessions";
    let store = PostgresStore::new(&server.url())
        .unwrap()
        .with_table(table)
        .unwrap()
        .with_timeout(Duration::from_secs(10));
    store.migrate().await.unwrap();
    let client = psql(&server).await;
    client
        .batch_execute(&format!(
            "INSERT INTO \"{table}\" (key, value, expires_at, version) \
             SELECT 'expired:' || i, '{{\"n\":1}}'::bytea, now() - interval '1 second', 1 \
             FROM generate_series(1, 100000) AS i"
        ))
        .await
        .unwrap();
    assert_eq!(expired_rows(&client, table).await, 100_000);

    // Live sessions, over HTTP.
    let addr = serve(support::app::app(store.clone())).await;
    let mut browsers: Vec<Browser> = (0..3).map(|_| Browser::new(addr)).collect();
    for browser in &mut browsers {
        assert_eq!(browser.get("/incr").await.body, "1");
    }
    // An expired row is never returned, though it is still there.
    for i in [1, 500, 100_000] {
        let key = format!("expired:{i}");
        assert_eq!(store.load(&key, TTL).await.unwrap(), None);
        assert_eq!(store.load_versioned(&key, TTL).await.unwrap(), None);
    }
    assert_eq!(expired_rows(&client, table).await, 100_000);
    // And counts as absent: a new session may take its key.
    let outcome = store
        .save_if("expired:7", b"{\"n\":7}", TTL, Expect::Absent)
        .await
        .unwrap();
    assert!(
        matches!(outcome, SaveOutcome::Saved { version: Some(_) }),
        "{outcome:?}"
    );
    assert_eq!(
        store.load("expired:7", TTL).await.unwrap().as_deref(),
        Some(&b"{\"n\":7}"[..])
    );
    let initial = expired_rows(&client, table).await;
    assert_eq!(initial, 99_999);

    let cleanup = store.spawn_cleanup(
        Cleanup::default()
            .with_interval(Duration::from_millis(20))
            .with_batch(1000)
            .with_pause(Duration::from_millis(20)),
    );
    // Serve requests until the rows are gone; count those that ran
    // entirely while the cleanup was midway.
    let mut midway = 0;
    let mut counts = Vec::new();
    let mut served = 0u64;
    loop {
        let before = expired_rows(&client, table).await;
        let browser = &mut browsers[served as usize % 3];
        let reply = browser.get("/incr").await;
        assert_eq!(reply.status, 200, "{reply:?}");
        served += 1;
        let after = expired_rows(&client, table).await;
        if 0 < after && after <= before && before < initial {
            midway += 1;
        }
        counts.push(after);
        if after == 0 {
            break;
        }
    }
    counts.dedup();
    eprintln!(
        "{served} requests during the cleanup, {midway} of them between two batches; \
         expired rows seen: {} distinct counts",
        counts.len()
    );
    assert!(
        midway > 0,
        "no request completed while the cleanup was midway: {counts:?}"
    );
    assert!(counts.len() > 2, "removed in several batches: {counts:?}");
    assert!(cleanup.is_running());
    cleanup.stop();

    // The live sessions are untouched, and count every request.
    let mut total = 0;
    for browser in &mut browsers {
        let reply = browser.get("/get").await;
        assert_eq!(reply.status, 200);
        total += reply.body.parse::<u64>().unwrap();
    }
    assert_eq!(total, 3 + served);
    let rows: i64 = client
        .query_one(&format!("SELECT count(*) FROM \"{table}\""), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 4, "the three sessions and `expired:7`, taken again");
}

// ---------------------------------------------------------------------------
// Round trips

/// What a request is, its path, and the statements it should run.
type Step = (&'static str, &'static str, &'static [(&'static str, i64)]);

#[tokio::test]
async fn statements_per_request_kind() {
    let server = Postgres::start_new();
    let store = PostgresStore::new(&server.url()).unwrap();
    store.migrate().await.unwrap();
    let client = psql(&server).await;
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .unwrap();
    let mut browser = Browser::new(serve(support::app::app(store)).await);
    // What a request is, its path, and the statements it should run (by
    // their first word, in alphabetical order).
    let steps: [Step; 7] = [
        ("new visitor (write)", "/incr", &[("INSERT", 1)]),
        ("read-only", "/get", &[("UPDATE", 1)]),
        ("read-write", "/incr", &[("UPDATE", 2)]),
        (
            "cycle_id + write",
            "/login/ada",
            &[("DELETE", 1), ("INSERT", 1), ("UPDATE", 1)],
        ),
        ("destroy", "/clear", &[("DELETE", 1), ("UPDATE", 1)]),
        ("no session extracted", "/none", &[]),
        ("new visitor, read-only", "/get", &[]),
    ];
    let mut table = Vec::new();
    for (what, path, want) in steps {
        client
            .batch_execute("SELECT pg_stat_statements_reset()")
            .await
            .unwrap();
        let reply = browser.get(path).await;
        assert_eq!(reply.status, 200, "{what}");
        let rows = client
            .query(
                "SELECT split_part(query, ' ', 1), sum(calls)::bigint FROM pg_stat_statements \
                 WHERE query NOT LIKE '%pg_stat_statements%' GROUP BY 1 ORDER BY 1",
                &[],
            )
            .await
            .unwrap();
        let got: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let want: Vec<(String, i64)> = want.iter().map(|&(s, n)| (s.to_string(), n)).collect();
        assert_eq!(got, want, "{what} ({path})");
        let total: i64 = got.iter().map(|(_, n)| n).sum();
        table.push(format!(
            "{what:<24} {path:<11} {total} statement(s): {got:?}"
        ));
    }
    eprintln!("{}", table.join("\n"));
}

// ---------------------------------------------------------------------------
// No session id in error messages

#[tokio::test]
async fn errors_never_show_a_session_id() {
    let server = shared();
    let table = unique_table();
    // A table that refuses values over 20 bytes: PostgreSQL's error quotes
    // the whole failing row, key included.
    let client = psql(server).await;
    client
        .batch_execute(&format!(
            "CREATE TABLE \"{table}\" (key text PRIMARY KEY, value bytea NOT NULL \
             CHECK (length(value) < 20), expires_at timestamptz NOT NULL, \
             version bigint NOT NULL)"
        ))
        .await
        .unwrap();
    let store = PostgresStore::new(&server.url())
        .unwrap()
        .with_table(&table)
        .unwrap()
        .with_timeout(Duration::from_secs(10));
    let id = new_id();
    let key = format!("session:{id}");
    let big = br#"{"n":1,"padding":"xxxxxxxxxxxxxxxxxxxxxxxxx"}"#;
    let errors = [
        store.save(&key, big, TTL).await.unwrap_err(),
        store
            .save_if(&key, big, TTL, Expect::Absent)
            .await
            .unwrap_err(),
    ];
    for error in &errors {
        let text = chain_text(error);
        assert!(text.contains("23514"), "a check violation: {text}");
        assert!(text.contains("session:"), "the row is quoted: {text}");
        assert!(!text.contains(&id[..6]), "{text}");
    }

    // Nor in the layer's log line.
    let addr = serve(support::app::app(store)).await;
    let mut browser = Browser::new(addr);
    assert_eq!(browser.get("/incr").await.body, "1");
    let id = browser.jar["session"].clone();
    let cookie = [format!("session={id}")];
    let (reply, logs) =
        capture_logs(browser.get_raw("/untyped/set/padding/xxxxxxxxxxxxxxxxxxxxxxxx", &cookie))
            .await;
    assert_eq!(reply.status, 500, "{reply:?}");
    assert!(logs.contains("23514"), "{logs}");
    assert!(!logs.contains(&id[..6]), "{logs}");
}

#[tokio::test]
async fn owner_index_calls_are_refused() {
    let store = fresh().await;
    assert!(!store.owner_index());
    let error = store.index_list("session:owner:u").await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Permanent);
    assert_eq!(store.name(), "postgres");
    assert!(store.compare_and_set());
}
