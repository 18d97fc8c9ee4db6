//! What can go wrong with the SQLite file.

use std::fmt;
use std::time::Duration;

use rusqlite::ErrorCode;

use crate::{ErrorClass, StoreError};

/// Why a [`SqliteStore`](super::SqliteStore) call (or its construction)
/// failed.
///
/// Store calls report it as the source of a [`StoreError`] of the same
/// [class](SqliteStoreError::class), so an error handler can look at it:
///
/// ```
/// use sessionkit::store::sqlite::SqliteStoreError;
/// use sessionkit::StoreError;
///
/// fn table_missing(error: &StoreError) -> bool {
///     std::error::Error::source(error)
///         .and_then(|e| e.downcast_ref::<SqliteStoreError>())
///         .is_some_and(|e| matches!(e, SqliteStoreError::MissingTable { .. }))
/// }
/// ```
///
/// No variant holds a session id: the store never puts a key in an error,
/// and SQLite's own messages name tables and columns, not the values bound
/// to a statement.
#[derive(Debug)]
#[non_exhaustive]
pub enum SqliteStoreError {
    /// The table name given to [`with_table`](super::SqliteStore::with_table)
    /// is not a plain SQL identifier.
    InvalidTable {
        /// The name, as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The session table does not exist in the file: it is created only by
    /// [`migrate`](super::SqliteStore::migrate).
    MissingTable {
        /// The table's name.
        table: String,
        /// What SQLite reported.
        source: rusqlite::Error,
    },
    /// The encoded session is larger than the store's
    /// [maximum](super::SqliteStore::with_max_value_size). Nothing was
    /// written, so the stored session is as it was.
    ValueTooLarge {
        /// The encoded size, in bytes.
        size: usize,
        /// The maximum, in bytes.
        max: usize,
    },
    /// No connection, or no answer, within the store's timeout: all pooled
    /// connections were busy, or another connection held the database's
    /// write lock for the whole time. A write that timed out may still have
    /// been applied.
    Timeout {
        /// What the store was doing: `load`, `save`, `save_if`, `delete`,
        /// `ping`, `migrate` or `delete_expired`.
        operation: &'static str,
        /// The store's timeout.
        timeout: Duration,
    },
    /// SQLite failed: opening or configuring a connection (`operation`
    /// `open`), or running a statement. Its class follows SQLite's error
    /// code: `SQLITE_BUSY` and `SQLITE_LOCKED` (another connection holds a
    /// lock) are transient, everything else (a corrupt or read-only file, a
    /// full disk, a file that is not a database) permanent.
    Sqlite {
        /// What the store was doing: `open`, `load`, `save`, `save_if`,
        /// `delete`, `ping`, `migrate` or `delete_expired`.
        operation: &'static str,
        /// What SQLite reported.
        source: rusqlite::Error,
    },
    /// The work on a connection could not run: it panicked, or the pool
    /// was closed.
    Pool {
        /// What the store was doing.
        operation: &'static str,
        /// What went wrong.
        detail: String,
    },
}

impl SqliteStoreError {
    /// Whether trying again later can succeed.
    ///
    /// | error | class |
    /// |---|---|
    /// | [`Timeout`](Self::Timeout) (pool wait included) | transient |
    /// | [`Sqlite`](Self::Sqlite) with `SQLITE_BUSY` or `SQLITE_LOCKED` | transient |
    /// | [`Sqlite`](Self::Sqlite) with any other code (corrupt, read-only, not a database, disk full, cannot open) | permanent |
    /// | [`MissingTable`](Self::MissingTable), [`ValueTooLarge`](Self::ValueTooLarge), [`InvalidTable`](Self::InvalidTable), [`Pool`](Self::Pool) | permanent |
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessionkit::store::sqlite::SqliteStoreError;
    /// use sessionkit::ErrorClass;
    ///
    /// let slow = SqliteStoreError::Timeout { operation: "load", timeout: Duration::from_secs(1) };
    /// assert_eq!(slow.class(), ErrorClass::Transient);
    /// let big = SqliteStoreError::ValueTooLarge { size: 70_000, max: 65_536 };
    /// assert_eq!(big.class(), ErrorClass::Permanent);
    /// ```
    pub fn class(&self) -> ErrorClass {
        match self {
            SqliteStoreError::Timeout { .. } => ErrorClass::Transient,
            SqliteStoreError::Sqlite { source, .. } if is_busy(source) => ErrorClass::Transient,
            SqliteStoreError::Sqlite { .. }
            | SqliteStoreError::MissingTable { .. }
            | SqliteStoreError::ValueTooLarge { .. }
            | SqliteStoreError::InvalidTable { .. }
            | SqliteStoreError::Pool { .. } => ErrorClass::Permanent,
        }
    }

    /// The error of `operation`, given what SQLite reported: a missing
    /// `table` gets its own variant, which says what to do.
    pub(super) fn from_sqlite(
        operation: &'static str,
        table: &str,
        source: rusqlite::Error,
    ) -> Self {
        let missing = match &source {
            rusqlite::Error::SqliteFailure(_, Some(message)) => {
                message.starts_with("no such table")
            }
            _ => false,
        };
        if missing {
            SqliteStoreError::MissingTable {
                table: table.to_owned(),
                source,
            }
        } else {
            SqliteStoreError::Sqlite { operation, source }
        }
    }
}

/// Whether SQLite refused for a lock another connection holds.
fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

impl fmt::Display for SqliteStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqliteStoreError::InvalidTable { name, reason } => {
                write!(f, "invalid table name {name:?}: {reason}")
            }
            SqliteStoreError::MissingTable { table, .. } => write!(
                f,
                "the session table `{table}` does not exist; call `SqliteStore::migrate()` once \
                 to create it (or run `SqliteStore::migration_sql()` yourself)"
            ),
            SqliteStoreError::ValueTooLarge { size, max } => write!(
                f,
                "the session is {size} bytes encoded, over the limit of {max} bytes; nothing was written"
            ),
            SqliteStoreError::Timeout { operation, timeout } => write!(
                f,
                "`{operation}` did not finish within {timeout:?} (all connections busy, or \
                 another connection holds the database's write lock)"
            ),
            SqliteStoreError::Sqlite { operation, source } if is_busy(source) => write!(
                f,
                "`{operation}` found the database locked by another connection"
            ),
            SqliteStoreError::Sqlite { operation, .. } => write!(f, "`{operation}` failed"),
            SqliteStoreError::Pool { operation, detail } => {
                write!(f, "`{operation}` could not run: {detail}")
            }
        }
    }
}

impl std::error::Error for SqliteStoreError {
    /// SQLite's error, which `Display` does not repeat.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SqliteStoreError::MissingTable { source, .. }
            | SqliteStoreError::Sqlite { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<SqliteStoreError> for StoreError {
    fn from(error: SqliteStoreError) -> Self {
        let class = error.class();
        let error = StoreError::with_source("sqlite", error);
        match class {
            ErrorClass::Transient => error,
            ErrorClass::Permanent => error.permanent(),
        }
    }
}
