//! What can go wrong talking to PostgreSQL.

use std::fmt;
use std::time::Duration;

use crate::{ErrorClass, StoreError};

/// Why a [`PostgresStore`](super::PostgresStore) call (or its
/// construction) failed.
///
/// Store calls report it as the source of a [`StoreError`] of the same
/// [class](PostgresStoreError::class), so an error handler can look at it:
///
/// ```
/// use sessionkit::store::postgres::PostgresStoreError;
/// use sessionkit::StoreError;
///
/// fn table_missing(error: &StoreError) -> bool {
///     std::error::Error::source(error)
///         .and_then(|e| e.downcast_ref::<PostgresStoreError>())
///         .is_some_and(|e| matches!(e, PostgresStoreError::MissingTable { .. }))
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum PostgresStoreError {
    /// The connection string given to
    /// [`PostgresStore::new`](super::PostgresStore::new) does not parse.
    InvalidUrl {
        /// What tokio-postgres reported.
        source: tokio_postgres::Error,
    },
    /// The name given to
    /// [`with_table`](super::PostgresStore::with_table) is not `table` or
    /// `schema.table`, each part an ASCII letter or `_` followed by ASCII
    /// letters, digits and `_`, at most 63 bytes.
    InvalidTable {
        /// The name, escaped, cut to 80 characters.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The encoded session is larger than the store's
    /// [maximum](super::PostgresStore::with_max_value_size). Nothing was
    /// sent, so the stored session is as it was.
    ValueTooLarge {
        /// The encoded size, in bytes.
        size: usize,
        /// The maximum, in bytes.
        max: usize,
    },
    /// Opening a connection failed: refused, unreachable, authentication
    /// refused, no such database, the server starting up or out of
    /// connections.
    Connect {
        /// What tokio-postgres reported (for a refusal by the server, its
        /// source is the server's error).
        source: tokio_postgres::Error,
    },
    /// The connection pool refused to hand out a connection (it was
    /// closed, or a hook of a pool given to
    /// [`from_pool`](super::PostgresStore::from_pool) failed).
    Pool {
        /// What deadpool reported.
        detail: String,
    },
    /// No connection, or no answer to the statement, within the store's
    /// timeout. The connection (if any) was closed, never reused; a write
    /// that timed out may still have been applied.
    Timeout {
        /// The call: `load`, `save`, `save_if`, `delete`, `ping`, `migrate`
        /// or `delete_expired`.
        statement: &'static str,
        /// The store's timeout.
        timeout: Duration,
    },
    /// The connection failed while the statement was sent or its answer
    /// read (reset, closed by the server), or tokio-postgres could not read
    /// the answer. The connection was closed, never reused.
    Client {
        /// The call, as in [`Timeout`](Self::Timeout).
        statement: &'static str,
        /// What tokio-postgres reported.
        source: tokio_postgres::Error,
    },
    /// The server answered the statement with an error.
    Server {
        /// The call, as in [`Timeout`](Self::Timeout).
        statement: &'static str,
        /// The SQLSTATE code, e.g. `57P01` (the server is shutting down).
        code: String,
        /// The server's message and detail, with every run of more than
        /// four hex digits (a session id is 32) cut to its first four, as
        /// [`redact_key`](crate::store::redact_key) shows an id.
        message: String,
    },
    /// The session table does not exist (SQLSTATE `42P01`): the store
    /// never creates it by itself. Call
    /// [`migrate`](super::PostgresStore::migrate) once at startup, or run
    /// the SQL of [`migration_sql`](super::PostgresStore::migration_sql).
    MissingTable {
        /// The table's name, as configured.
        table: String,
    },
}

impl PostgresStoreError {
    /// Whether trying again later can succeed.
    ///
    /// | error | class |
    /// |---|---|
    /// | [`Timeout`](Self::Timeout) (pool wait included), [`Client`](Self::Client) when the connection was lost | transient |
    /// | [`Connect`](Self::Connect), unless the server refused it for good (authentication, no such database) | transient |
    /// | [`Server`](Self::Server) with SQLSTATE class `08` (connection), `53` (out of resources, too many connections), `57P01`–`57P03` (shutting down, starting up), `57014` (statement timeout), `40001`/`40P01` (serialization failure, deadlock) | transient |
    /// | every other [`Server`](Self::Server) or [`Client`](Self::Client) error, [`MissingTable`](Self::MissingTable), [`ValueTooLarge`](Self::ValueTooLarge), [`Pool`](Self::Pool), [`InvalidTable`](Self::InvalidTable), [`InvalidUrl`](Self::InvalidUrl) | permanent |
    ///
    /// ```
    /// use sessionkit::store::postgres::PostgresStoreError;
    /// use sessionkit::ErrorClass;
    ///
    /// let server = |code: &str| PostgresStoreError::Server {
    ///     statement: "save",
    ///     code: code.into(),
    ///     message: String::new(),
    /// };
    /// assert_eq!(server("57P01").class(), ErrorClass::Transient);
    /// assert_eq!(server("53300").class(), ErrorClass::Transient);
    /// assert_eq!(server("22001").class(), ErrorClass::Permanent);
    /// ```
    pub fn class(&self) -> ErrorClass {
        let transient = match self {
            PostgresStoreError::Timeout { .. } => true,
            PostgresStoreError::Client { source, .. } => lost(source),
            PostgresStoreError::Connect { source } => match source.code() {
                Some(code) => transient_code(code.code()),
                None => true,
            },
            PostgresStoreError::Server { code, .. } => transient_code(code),
            PostgresStoreError::MissingTable { .. }
            | PostgresStoreError::ValueTooLarge { .. }
            | PostgresStoreError::Pool { .. }
            | PostgresStoreError::InvalidTable { .. }
            | PostgresStoreError::InvalidUrl { .. } => false,
        };
        if transient {
            ErrorClass::Transient
        } else {
            ErrorClass::Permanent
        }
    }
}

/// Whether tokio-postgres's `error` (not one from the server) means the
/// connection is gone: closed, or an I/O error.
fn lost(error: &tokio_postgres::Error) -> bool {
    error.is_closed() || std::error::Error::source(error).is_some_and(|s| s.is::<std::io::Error>())
}

/// Whether a statement failing with SQLSTATE `code` can succeed later.
fn transient_code(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "57014" | "40001" | "40P01"
        )
}

impl fmt::Display for PostgresStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostgresStoreError::InvalidUrl { .. } => {
                f.write_str("invalid PostgreSQL connection string")
            }
            PostgresStoreError::InvalidTable { name, reason } => {
                write!(f, "invalid session table name \"{name}\": {reason}")
            }
            PostgresStoreError::ValueTooLarge { size, max } => write!(
                f,
                "the session is {size} bytes encoded, over the limit of {max} bytes; nothing was sent"
            ),
            PostgresStoreError::Connect { .. } => f.write_str("could not connect to PostgreSQL"),
            PostgresStoreError::Pool { detail } => {
                write!(f, "no PostgreSQL connection from the pool: {detail}")
            }
            PostgresStoreError::Timeout { statement, timeout } => write!(
                f,
                "`{statement}` got no answer from PostgreSQL within {timeout:?}"
            ),
            PostgresStoreError::Client { statement, .. } => {
                write!(f, "`{statement}` on PostgreSQL failed")
            }
            PostgresStoreError::Server {
                statement,
                code,
                message,
            } => write!(f, "PostgreSQL refused `{statement}` ({code}): {message}"),
            PostgresStoreError::MissingTable { table } => write!(
                f,
                "the session table \"{table}\" does not exist; call `PostgresStore::migrate()` \
                 once at startup (or run the SQL of `PostgresStore::migration_sql()`) to create it"
            ),
        }
    }
}

impl std::error::Error for PostgresStoreError {
    /// The tokio-postgres error of [`InvalidUrl`](Self::InvalidUrl),
    /// [`Connect`](Self::Connect) and [`Client`](Self::Client), which their
    /// `Display` does not repeat.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PostgresStoreError::InvalidUrl { source }
            | PostgresStoreError::Connect { source }
            | PostgresStoreError::Client { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<PostgresStoreError> for StoreError {
    fn from(error: PostgresStoreError) -> Self {
        let class = error.class();
        let error = StoreError::with_source("PostgreSQL", error);
        match class {
            ErrorClass::Transient => error,
            ErrorClass::Permanent => error.permanent(),
        }
    }
}

/// The error of `statement` that failed with tokio-postgres's `error`:
/// the server's answer (its text redacted), a missing table, or the
/// client's failure.
pub(super) fn from_statement(
    statement: &'static str,
    table: &str,
    error: tokio_postgres::Error,
) -> PostgresStoreError {
    let Some(db) = error.as_db_error() else {
        return PostgresStoreError::Client {
            statement,
            source: error,
        };
    };
    let code = db.code().code();
    if code == "42P01" {
        return PostgresStoreError::MissingTable {
            table: table.to_string(),
        };
    }
    let mut message = db.message().to_string();
    if let Some(detail) = db.detail() {
        message.push_str(" (");
        message.push_str(detail);
        message.push(')');
    }
    PostgresStoreError::Server {
        statement,
        code: code.to_string(),
        message: crate::store::redact_ids(&message, |_| false),
    }
}
