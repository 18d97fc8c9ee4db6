//! The session table's name, and every statement the store sends, built
//! once from it.

use super::PostgresStoreError;

/// The longest identifier PostgreSQL keeps (`NAMEDATALEN - 1`); a longer
/// one it cuts silently, so two long names could meet.
const IDENTIFIER_MAX: usize = 63;

/// What the index name adds to the table's.
const INDEX_SUFFIX: &str = "_expires_at_idx";

/// The key of the advisory lock `migrate` holds while it creates the table,
/// so that two processes migrating at once do not race: "sessionk" in
/// ASCII.
pub(super) const MIGRATE_LOCK: i64 = 0x7365_7373_696f_6e6b;

/// The table's name and the SQL of every statement, quoted.
#[derive(Debug)]
pub(super) struct Table {
    /// The name as given, `table` or `schema.table`.
    pub(super) name: String,
    pub(super) load: String,
    pub(super) save: String,
    pub(super) create: String,
    pub(super) update_version: String,
    pub(super) update_value: String,
    pub(super) current: String,
    pub(super) delete: String,
    pub(super) delete_expired: String,
    pub(super) migration: String,
}

impl Table {
    /// The statements for the table `name` (`table` or `schema.table`, each
    /// part `[A-Za-z_][A-Za-z0-9_]*` of at most 63 bytes).
    pub(super) fn new(name: &str) -> Result<Table, PostgresStoreError> {
        let invalid = |reason| PostgresStoreError::InvalidTable {
            name: shown(name),
            reason,
        };
        let parts: Vec<&str> = name.split('.').collect();
        if parts.len() > 2 {
            return Err(invalid("at most one `.`, between a schema and a table"));
        }
        for part in &parts {
            check_identifier(part).map_err(invalid)?;
        }
        let table = parts[parts.len() - 1];
        let quoted = parts
            .iter()
            .map(|part| format!("\"{part}\""))
            .collect::<Vec<_>>()
            .join(".");
        // The index lives in the table's schema; its name is the table's,
        // cut so that the suffix fits.
        let index_base = &table[..table.len().min(IDENTIFIER_MAX - INDEX_SUFFIX.len())];
        let index = format!("\"{index_base}{INDEX_SUFFIX}\"");
        let t = &quoted;
        let expiry = "now() + $2::bigint * interval '1 millisecond'";
        let write_expiry = "now() + $3::bigint * interval '1 millisecond'";
        // A new row's version starts at a random 48-bit number, so that a
        // session deleted and written again under the same key does not
        // come back with the version a request loaded before the delete.
        let first_version = "floor(random() * 281474976710656)::bigint";
        Ok(Table {
            name: name.to_string(),
            load: format!(
                "UPDATE {t} SET expires_at = {expiry} \
                 WHERE key = $1 AND expires_at > now() RETURNING value, version"
            ),
            save: format!(
                "INSERT INTO {t} AS t (key, value, expires_at, version) \
                 VALUES ($1, $2, {write_expiry}, {first_version}) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
                 expires_at = EXCLUDED.expires_at, version = t.version + 1"
            ),
            create: format!(
                "INSERT INTO {t} AS t (key, value, expires_at, version) \
                 VALUES ($1, $2, {write_expiry}, {first_version}) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
                 expires_at = EXCLUDED.expires_at, version = t.version + 1 \
                 WHERE t.expires_at <= now() RETURNING version"
            ),
            update_version: format!(
                "UPDATE {t} SET value = $2, expires_at = {write_expiry}, version = version + 1 \
                 WHERE key = $1 AND version = $4 AND expires_at > now() RETURNING version"
            ),
            update_value: format!(
                "UPDATE {t} SET value = $2, expires_at = {write_expiry}, version = version + 1 \
                 WHERE key = $1 AND value = $4 AND expires_at > now() RETURNING version"
            ),
            current: format!(
                "SELECT value, version FROM {t} WHERE key = $1 AND expires_at > now()"
            ),
            delete: format!("DELETE FROM {t} WHERE key = $1"),
            delete_expired: format!(
                "DELETE FROM {t} WHERE key IN \
                 (SELECT key FROM {t} WHERE expires_at <= now() LIMIT $1 FOR UPDATE SKIP LOCKED)"
            ),
            migration: format!(
                "CREATE TABLE IF NOT EXISTS {t} (\n    \
                 key text PRIMARY KEY,\n    \
                 value bytea NOT NULL,\n    \
                 expires_at timestamptz NOT NULL,\n    \
                 version bigint NOT NULL\n);\n\
                 CREATE INDEX IF NOT EXISTS {index} ON {t} (expires_at);\n"
            ),
        })
    }
}

/// Why `part` is not an identifier the store accepts, if it is not.
fn check_identifier(part: &str) -> Result<(), &'static str> {
    let mut bytes = part.bytes();
    match bytes.next() {
        None => return Err("empty name"),
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        Some(_) => return Err("a name starts with an ASCII letter or `_`"),
    }
    if !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("only ASCII letters, digits and `_` are allowed");
    }
    if part.len() > IDENTIFIER_MAX {
        return Err("longer than PostgreSQL's 63 bytes");
    }
    Ok(())
}

/// A name as given, for an error message: escaped, at most 80 characters.
fn shown(name: &str) -> String {
    let escaped = name.escape_debug().to_string();
    match escaped.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &escaped[..cut]),
        None => escaped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_quoted() {
        for good in ["sessions", "_s1", "app.sessions", &"a".repeat(63)] {
            assert!(Table::new(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1abc",
            "a-b",
            "a b",
            "a.b.c",
            ".a",
            "a.",
            "\"x\"",
            "s; DROP TABLE x",
            "é",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(
                    Table::new(bad),
                    Err(PostgresStoreError::InvalidTable { .. })
                ),
                "{bad}"
            );
        }
        let table = Table::new("app.Sessions").unwrap();
        assert!(table
            .delete
            .starts_with("DELETE FROM \"app\".\"Sessions\" "));
        assert!(table
            .migration
            .contains("INDEX IF NOT EXISTS \"Sessions_expires_at_idx\" ON \"app\".\"Sessions\""));
    }

    #[test]
    fn a_long_table_name_leaves_room_for_the_index_suffix() {
        let table = Table::new(&"t".repeat(63)).unwrap();
        let index = format!("\"{}{INDEX_SUFFIX}\"", "t".repeat(48));
        assert!(table.migration.contains(&index), "{}", table.migration);
        assert_eq!(index.len() - 2, IDENTIFIER_MAX);
    }
}
