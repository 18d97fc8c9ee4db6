//! What can go wrong talking to memcached.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::StoreError;

/// Why a [`MemcacheStore`](super::MemcacheStore) call (or its construction)
/// failed.
///
/// Store calls report it as the source of a [`StoreError`], so an error
/// handler can look at it:
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
        /// The key, escaped and cut to 80 characters.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
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
        /// The command: `gat`, `gats`, `gets`, `set`, `add`, `cas`, `delete`
        /// or `version`.
        command: &'static str,
        /// What the operating system reported.
        source: io::Error,
    },
    /// No connection or no complete answer within the store's timeout. The
    /// connection (if any) was closed, never reused; a `set`, `add`, `cas`
    /// or `delete` that timed out may still have been applied.
    Timeout {
        /// The server, `host:port`.
        server: String,
        /// The command: `gat`, `gats`, `gets`, `set`, `add`, `cas` or
        /// `delete`.
        command: &'static str,
        /// The store's timeout.
        timeout: Duration,
    },
    /// The server answered with an error: `SERVER_ERROR object too large for
    /// cache` for a session over its item size limit (`-I`), `SERVER_ERROR
    /// out of memory storing object`, `CLIENT_ERROR …`, `NOT_STORED` where
    /// the command does not expect it.
    Refused {
        /// The server, `host:port`.
        server: String,
        /// The command: `gat`, `gats`, `gets`, `set`, `add`, `cas` or
        /// `delete`.
        command: &'static str,
        /// The server's answer line, without `\r\n`.
        reply: String,
    },
    /// The server's answer does not follow memcached's text protocol, or
    /// the server is not memcached 1.5.3 or later (the first with `gat`).
    Protocol {
        /// The server, `host:port`.
        server: String,
        /// The command: `gat`, `gats`, `gets`, `set`, `add`, `cas`, `delete`
        /// or `version`.
        command: &'static str,
        /// What was wrong, with the offending answer.
        detail: String,
    },
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
            MemcacheStoreError::Connect { server, source } => {
                write!(f, "could not connect to {server}: {source}")
            }
            MemcacheStoreError::Io {
                server,
                command,
                source,
            } => write!(f, "`{command}` on {server} failed: {source}"),
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
        StoreError::with_source("memcached", error)
    }
}

/// `bytes` for an error message: escaped, at most `max` characters.
pub(super) fn escaped(bytes: &[u8], max: usize) -> String {
    let text: String = bytes.escape_ascii().to_string();
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("\"{}…\"", &text[..cut]),
        None => format!("\"{text}\""),
    }
}
