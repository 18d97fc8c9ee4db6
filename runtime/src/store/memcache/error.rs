//! What can go wrong talking to memcached.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::{ErrorClass, StoreError};

/// Why a [`MemcacheStore`](super::MemcacheStore) call (or its construction)
/// failed.
///
/// Store calls report it as the source of a [`StoreError`] of the same
/// [class](MemcacheStoreError::class), so an error handler can look at it:
///
/// ```
/// use sessionkit::store::memcache::MemcacheStoreError;
/// use sessionkit::StoreError;
///
/// fn refused_by_server(error: &StoreError) -> bool {
///     std::error::Error::source(error)
///         .and_then(|e| e.downcast_ref::<MemcacheStoreError>())
///         .is_some_and(|e| matches!(e, MemcacheStoreError::Refused { .. }))
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum MemcacheStoreError {
    /// The server list given to [`MemcacheStore::new`](super::MemcacheStore::new)
    /// is empty, names a server twice, or has an entry that is not `host:port`.
    InvalidServer {
        /// The entry, as given (empty when the list was empty).
        server: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The key is not a valid memcached key (1 to 250 printable ASCII
    /// characters, no space). Nothing was sent.
    InvalidKey {
        /// The key, escaped, with every run of more than four hex digits
        /// (a session id is 32) cut to its first four, as
        /// [`redact_key`](crate::store::redact_key) shows an id, except a
        /// decimal number of up to 20 digits; then cut to 80 characters.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The encoded session is larger than the store's
    /// [maximum](super::MemcacheStore::with_max_value_size). Nothing was
    /// sent, so the stored session is as it was.
    ValueTooLarge {
        /// The encoded size, in bytes.
        size: usize,
        /// The maximum, in bytes.
        max: usize,
    },
    /// Connecting to the server failed (refused, unreachable, name not found).
    Connect {
        /// The server, `host:port`.
        server: String,
        /// What the operating system reported.
        source: io::Error,
    },
    /// The connection failed while a command was sent or its answer read.
    /// The connection was closed, never reused.
    Io {
        /// The server, `host:port`.
        server: String,
        /// The command: `gat`, `gats`, `gets`, `replace`, `add`, `cas`,
        /// `delete` or `version`.
        command: &'static str,
        /// What the operating system reported.
        source: io::Error,
    },
    /// No connection or no complete answer within the store's timeout. The
    /// connection (if any) was closed, never reused; a `replace`, `add`, `cas`
    /// or `delete` that timed out may still have been applied.
    Timeout {
        /// The server, `host:port`.
        server: String,
        /// The command: `gat`, `gats`, `gets`, `replace`, `add`, `cas`,
        /// `delete` or `version`.
        command: &'static str,
        /// The store's timeout.
        timeout: Duration,
    },
    /// The server answered with an error: `SERVER_ERROR object too large for
    /// cache` for a session over its item size limit (`-I`), `SERVER_ERROR
    /// out of memory storing object`, `CLIENT_ERROR …`, `ERROR`. A write
    /// refused for its size or for want of memory changed nothing: the store
    /// never sends `set`, the one command after whose refusal memcached
    /// drops the key's old value.
    Refused {
        /// The server, `host:port`.
        server: String,
        /// The command: `gat`, `gats`, `gets`, `replace`, `add`, `cas` or
        /// `delete`.
        command: &'static str,
        /// The server's answer line, without `\r\n`, escaped, with hex
        /// digits cut as in [`InvalidKey`](Self::InvalidKey)'s `key` (a line
        /// from a faulty server may quote a key), then cut to 120
        /// characters.
        reply: String,
    },
    /// The server's answer does not follow memcached's text protocol (an
    /// unexpected line, a line over 1024 bytes, a `VALUE` for another key or
    /// longer than the store's
    /// [maximum value size](super::MemcacheStore::with_max_value_size)), or
    /// the server is not memcached 1.5.3 or later (the first with `gat`).
    /// The connection was closed, never reused.
    Protocol {
        /// The server, `host:port`.
        server: String,
        /// The command: `gat`, `gats`, `gets`, `replace`, `add`, `cas`,
        /// `delete` or `version`.
        command: &'static str,
        /// What was wrong, with the offending answer shown as in
        /// [`Refused`](Self::Refused)'s `reply`.
        detail: String,
    },
}

impl MemcacheStoreError {
    /// Whether trying again later can succeed.
    ///
    /// | error | class |
    /// |---|---|
    /// | [`Connect`](Self::Connect), [`Io`](Self::Io) (reset, closed mid-answer), [`Timeout`](Self::Timeout) (pool wait included) | transient |
    /// | [`Refused`](Self::Refused) with `SERVER_ERROR …` (out of memory, a temporary failure, a proxy's backend down), except `SERVER_ERROR object too large for cache` | transient |
    /// | [`Refused`](Self::Refused) with `SERVER_ERROR object too large for cache`, `CLIENT_ERROR …`, `ERROR`, or a `NOT_STORED` the command does not give | permanent |
    /// | [`ValueTooLarge`](Self::ValueTooLarge), [`InvalidKey`](Self::InvalidKey), [`InvalidServer`](Self::InvalidServer) | permanent |
    /// | [`Protocol`](Self::Protocol): an answer that is not memcached's, or a server older than 1.5.3 | permanent |
    ///
    /// An answer cut short because the connection dropped is an
    /// [`Io`](Self::Io) error, so transient.
    ///
    /// ```
    /// use sessionkit::store::memcache::MemcacheStoreError;
    /// use sessionkit::ErrorClass;
    ///
    /// let refused = |reply: &str| MemcacheStoreError::Refused {
    ///     server: "127.0.0.1:11211".into(),
    ///     command: "add",
    ///     reply: reply.into(),
    /// };
    /// let oom = refused("SERVER_ERROR out of memory storing object");
    /// assert_eq!(oom.class(), ErrorClass::Transient);
    /// let too_large = refused("SERVER_ERROR object too large for cache");
    /// assert_eq!(too_large.class(), ErrorClass::Permanent);
    /// ```
    pub fn class(&self) -> ErrorClass {
        match self {
            MemcacheStoreError::Connect { .. }
            | MemcacheStoreError::Io { .. }
            | MemcacheStoreError::Timeout { .. } => ErrorClass::Transient,
            MemcacheStoreError::Refused { reply, .. }
                if reply.starts_with("SERVER_ERROR ") && !reply.contains("too large") =>
            {
                ErrorClass::Transient
            }
            MemcacheStoreError::Refused { .. }
            | MemcacheStoreError::Protocol { .. }
            | MemcacheStoreError::ValueTooLarge { .. }
            | MemcacheStoreError::InvalidKey { .. }
            | MemcacheStoreError::InvalidServer { .. } => ErrorClass::Permanent,
        }
    }
}

impl fmt::Display for MemcacheStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemcacheStoreError::InvalidServer { server, reason } => {
                write!(f, "invalid memcached server {server:?}: {reason}")
            }
            MemcacheStoreError::InvalidKey { key, reason } => {
                write!(f, "invalid memcached key {key}: {reason}; nothing was sent")
            }
            MemcacheStoreError::ValueTooLarge { size, max } => write!(
                f,
                "the session is {size} bytes encoded, over the limit of {max} bytes; nothing was sent"
            ),
            MemcacheStoreError::Connect { server, .. } => {
                write!(f, "could not connect to {server}")
            }
            MemcacheStoreError::Io {
                server, command, ..
            } => write!(f, "`{command}` on {server} failed"),
            MemcacheStoreError::Timeout {
                server,
                command,
                timeout,
            } => write!(
                f,
                "`{command}` on {server} got no answer within {timeout:?}"
            ),
            MemcacheStoreError::Refused {
                server,
                command,
                reply,
            } => write!(f, "{server} refused `{command}`: {reply}"),
            MemcacheStoreError::Protocol {
                server,
                command,
                detail,
            } => write!(f, "`{command}` on {server}: {detail}"),
        }
    }
}

impl std::error::Error for MemcacheStoreError {
    /// The [`io::Error`] of [`Connect`](Self::Connect) and [`Io`](Self::Io),
    /// which their `Display` does not repeat.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MemcacheStoreError::Connect { source, .. } | MemcacheStoreError::Io { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

impl From<MemcacheStoreError> for StoreError {
    fn from(error: MemcacheStoreError) -> Self {
        let class = error.class();
        let error = StoreError::with_source("memcached", error);
        match class {
            ErrorClass::Transient => error,
            ErrorClass::Permanent => error.permanent(),
        }
    }
}

/// `bytes` for an error message: escaped, with ids redacted (see
/// [`redacted`]), at most `max` characters.
pub(super) fn printable(bytes: &[u8], max: usize) -> String {
    let text = redacted(&bytes.escape_ascii().to_string());
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// [`printable`], in quotes.
pub(super) fn quoted(bytes: &[u8], max: usize) -> String {
    format!("\"{}\"", printable(bytes, max))
}

/// `text` with ids cut as [`redact_key`](crate::store::redact_key) cuts
/// them.
pub(super) fn redacted(text: &str) -> String {
    crate::store::redact_ids(text, |_| false)
}
