//! The SQL of the store: its statements, how a connection is set up, and
//! the steps of one call on a connection (run off the async threads).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, TransactionBehavior};

use super::SqliteStoreError;
use crate::store::{SaveOutcome, Stored};

/// The statements of one table, built once.
pub(super) struct Sql {
    pub(super) table: String,
    pub(super) migration: String,
    pub(super) load: String,
    pub(super) save: String,
    pub(super) create: String,
    pub(super) update_version: String,
    pub(super) update_value: String,
    pub(super) current: String,
    pub(super) delete: String,
    pub(super) ping: String,
    pub(super) delete_expired: String,
}

impl Sql {
    pub(super) fn new(table: &str) -> Self {
        // `table` is a checked identifier; quoted, it cannot be a keyword.
        let t = format!("\"{table}\"");
        // A new row's version: a random 48-bit start (see the module docs),
        // far enough below 2^63 that `version + 1` never overflows.
        let new_version = "(random() & 281474976710655)";
        Sql {
            table: table.to_owned(),
            migration: format!(
                "CREATE TABLE IF NOT EXISTS {t} (\n    \
                 key TEXT PRIMARY KEY NOT NULL,\n    \
                 value BLOB NOT NULL,\n    \
                 expires_at INTEGER NOT NULL,\n    \
                 version INTEGER NOT NULL\n\
                 );\n\
                 CREATE INDEX IF NOT EXISTS \"{table}_expires_at\" ON {t} (expires_at);\n"
            ),
            load: format!(
                "UPDATE {t} SET expires_at = ?2 WHERE key = ?1 AND expires_at > ?3 \
                 RETURNING value, version"
            ),
            save: format!(
                "INSERT INTO {t} (key, value, expires_at, version) VALUES (?1, ?2, ?3, {new_version}) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, \
                 expires_at = excluded.expires_at, version = version + 1"
            ),
            create: format!(
                "INSERT INTO {t} (key, value, expires_at, version) VALUES (?1, ?2, ?3, {new_version}) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, \
                 expires_at = excluded.expires_at, version = version + 1 \
                 WHERE expires_at <= ?4 RETURNING version"
            ),
            update_version: format!(
                "UPDATE {t} SET value = ?2, expires_at = ?3, version = version + 1 \
                 WHERE key = ?1 AND version = ?4 AND expires_at > ?5 RETURNING version"
            ),
            update_value: format!(
                "UPDATE {t} SET value = ?2, expires_at = ?3, version = version + 1 \
                 WHERE key = ?1 AND value = ?4 AND expires_at > ?5 RETURNING version"
            ),
            current: format!("SELECT value, version FROM {t} WHERE key = ?1 AND expires_at > ?2"),
            delete: format!("DELETE FROM {t} WHERE key = ?1"),
            ping: format!("SELECT 1 FROM {t} LIMIT 0"),
            delete_expired: format!(
                "DELETE FROM {t} WHERE key IN \
                 (SELECT key FROM {t} WHERE expires_at <= ?1 LIMIT ?2)"
            ),
        }
    }
}

/// What every connection sets before its first statement.
pub(super) fn configure(connection: &rusqlite::Connection, busy: Duration) -> rusqlite::Result<()> {
    connection.busy_timeout(busy)?;
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!(
                "the database stays in `{mode}` journal mode; the store needs WAL \
                 (a file on a local disk, not `:memory:`)"
            )),
        ));
    }
    connection.pragma_update(None, "synchronous", "NORMAL")
}

/// Refuses a table name that is not a plain identifier.
pub(super) fn check_table(name: &str) -> Result<(), SqliteStoreError> {
    let invalid = |reason| {
        Err(SqliteStoreError::InvalidTable {
            name: name.to_owned(),
            reason,
        })
    };
    let mut bytes = name.bytes();
    match bytes.next() {
        None => return invalid("it is empty"),
        Some(first) if !(first.is_ascii_alphabetic() || first == b'_') => {
            return invalid("it must start with an ASCII letter or `_`")
        }
        Some(_) => {}
    }
    if !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return invalid("only ASCII letters, digits and `_` are allowed");
    }
    if name.len() > 64 {
        return invalid("it is longer than 64 characters");
    }
    if name.len() >= 7 && name[..7].eq_ignore_ascii_case("sqlite_") {
        return invalid("names starting with `sqlite_` are SQLite's own");
    }
    Ok(())
}

/// Milliseconds since the Unix epoch, by this process's clock.
pub(super) fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// When a row written now with time to live `ttl` expires.
pub(super) fn expiry(now: i64, ttl: Duration) -> i64 {
    now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
}

/// A stored version, as the trait carries it.
pub(super) fn version(stored: i64) -> u64 {
    stored as u64
}

/// The first row `statement` gives, if any, through `f`; the statement is
/// then stepped to its end. A `RETURNING` statement commits when it is
/// reset either way, but SQLite runs its WAL hook, and with it the
/// automatic checkpoint, only for a statement stepped until it reports it
/// is done: reset after its row, as `query_row` does, every load would
/// leave its pages in the WAL, which would grow without bound.
pub(super) fn returning<T>(
    statement: &mut rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    let mut rows = statement.query(params)?;
    let first = rows.next()?.map(f).transpose()?;
    while rows.next()?.is_some() {}
    Ok(first)
}

/// A stored value and its version, from a row of `value, version`.
pub(super) fn stored(row: &rusqlite::Row<'_>) -> rusqlite::Result<Stored> {
    Ok(Stored {
        value: row.get(0)?,
        version: Some(version(row.get(1)?)),
    })
}

/// What a conditional save of a loaded session compares.
pub(super) enum Loaded {
    Version(i64),
    Value(Vec<u8>),
}

/// The write of a loaded session, and when it did not match, what the key
/// holds now, in one `BEGIN IMMEDIATE` transaction (so nothing can change
/// between the two); dropped on an error, it rolls back.
pub(super) fn write_if_loaded(
    c: &mut rusqlite::Connection,
    sql: &Sql,
    key: &str,
    value: &[u8],
    ttl: Duration,
    loaded: Loaded,
) -> rusqlite::Result<SaveOutcome> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = now_ms();
    let expires = expiry(now, ttl);
    let saved: Option<i64> = match &loaded {
        Loaded::Version(v) => returning(
            &mut tx.prepare_cached(&sql.update_version)?,
            params![key, value, expires, v, now],
            |row| row.get(0),
        )?,
        Loaded::Value(bytes) => returning(
            &mut tx.prepare_cached(&sql.update_value)?,
            params![key, value, expires, bytes, now],
            |row| row.get(0),
        )?,
    };
    let outcome = match saved {
        Some(saved) => SaveOutcome::Saved {
            version: Some(version(saved)),
        },
        None => {
            let current = returning(
                &mut tx.prepare_cached(&sql.current)?,
                params![key, now],
                stored,
            )?;
            current.map_or(SaveOutcome::Gone, SaveOutcome::Changed)
        }
    };
    tx.commit()?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain_identifiers() {
        for good in ["sessions", "_s", "S2_x", &"a".repeat(64)] {
            assert!(check_table(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1abc",
            "a-b",
            "a b",
            "t\"; DROP TABLE x; --",
            "é",
            "sqlite_master",
            "SQLITE_x",
            &"a".repeat(65),
        ] {
            assert!(check_table(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expiry_saturates() {
        assert_eq!(expiry(1_000, Duration::from_millis(1500)), 2_500);
        assert_eq!(expiry(i64::MAX - 1, Duration::from_secs(10)), i64::MAX);
        assert_eq!(expiry(0, Duration::MAX), i64::MAX);
    }
}
