//! Errors: one enum for the layer, one error type every store converts into.
//!
//! These errors, and the stores' own, follow one convention: an error's
//! `Display` says what went wrong at its own level only, and the error that
//! caused it is its [`source`](std::error::Error::source). To show a whole
//! chain, walk the sources; [`Report`] does that for this crate's log lines.

use std::borrow::Cow;
use std::fmt;

/// A boxed error that keeps its source chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Whether trying the same thing again later can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The store could not be reached or did not answer in time, a
    /// connection was reset, or the server is busy or still loading: the
    /// same request can succeed in a moment. The default response is `503
    /// Service Unavailable` with `Retry-After`.
    Transient,
    /// Retrying cannot help: the value is too large, the key is invalid, the
    /// data cannot be encoded, or the server refused the command. The
    /// default response is `500 Internal Server Error`.
    Permanent,
}

/// A store operation failed: the server is down, timed out, refused the
/// write, or the backend is full.
///
/// Backends build one with [`StoreError::new`] or
/// [`StoreError::with_source`], keeping the underlying error as the source,
/// and mark errors that retrying cannot cure with
/// [`permanent`](StoreError::permanent). A message never contains a whole
/// store key: show keys with [`redact_key`](crate::store::redact_key).
///
/// Its `Display` is the message alone; the underlying error is not repeated
/// in it, but returned by [`source`](std::error::Error::source).
///
/// ```
/// use std::error::Error as _;
/// use sessionkit::StoreError;
///
/// let cause = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
/// let error = StoreError::with_source("cache", cause);
/// assert_eq!(error.to_string(), "cache");
/// assert_eq!(error.source().unwrap().to_string(), "connection refused");
/// ```
#[derive(Debug)]
pub struct StoreError {
    message: Cow<'static, str>,
    source: Option<BoxError>,
    class: ErrorClass,
}

impl StoreError {
    /// A [transient](ErrorClass::Transient) error with a message and no
    /// underlying cause.
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        StoreError {
            message: message.into(),
            source: None,
            class: ErrorClass::Transient,
        }
    }

    /// A [transient](ErrorClass::Transient) error with a message and the
    /// error that caused it.
    pub fn with_source(message: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        StoreError {
            message: message.into(),
            source: Some(source.into()),
            class: ErrorClass::Transient,
        }
    }

    /// The same error, marked [permanent](ErrorClass::Permanent): retrying
    /// cannot cure it.
    ///
    /// ```
    /// use sessionkit::store::StoreError;
    /// use sessionkit::ErrorClass;
    ///
    /// let e = StoreError::new("value of 2000000 bytes is over the 1048576-byte limit").permanent();
    /// assert_eq!(e.class(), ErrorClass::Permanent);
    /// assert_eq!(StoreError::new("connection refused").class(), ErrorClass::Transient);
    /// ```
    pub fn permanent(mut self) -> Self {
        self.class = ErrorClass::Permanent;
        self
    }

    /// Whether retrying later can help.
    pub fn class(&self) -> ErrorClass {
        self.class
    }
}

impl fmt::Display for StoreError {
    /// The message; the source is not repeated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// What went wrong with a session while serving a request.
///
/// Its `Display` names the session and what failed; for
/// [`Store`](Error::Store) and [`Encode`](Error::Encode), what the store or
/// serde_json reported is the [`source`](std::error::Error::source), not
/// repeated in the text.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The store failed to load, save or delete the session.
    Store {
        /// The `session_name` of the session's config.
        session_name: String,
        /// What the store reported.
        source: StoreError,
    },
    /// The session's data could not be encoded as a JSON object.
    Encode {
        /// The `session_name` of the session's config.
        session_name: String,
        /// What serde_json reported.
        source: serde_json::Error,
    },
    /// The encoded session is larger than the layer's
    /// [`max_size`](crate::SessionLayer::with_max_size) or the store's own
    /// limit; nothing was written.
    TooLarge {
        /// The `session_name` of the session's config.
        session_name: String,
        /// The encoded size, in bytes.
        size: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// An early [`save`](crate::Session::save) found the session ended by
    /// another request (a logout) since it was loaded; nothing was saved.
    Ended {
        /// The `session_name` of the session's config.
        session_name: String,
    },
    /// The same session was extracted a second time while the first
    /// extraction is still alive (or two session types share one cookie
    /// name and disagree on its shape).
    AlreadyExtracted {
        /// The `session_name` of the session's config.
        session_name: String,
    },
    /// An owner could not be given to a session, or an owner index asked
    /// of a layer that keeps none: the layer was not built with
    /// [`with_owners`](crate::SessionLayer::with_owners), or the owner is
    /// not 1 to 128 visible ASCII characters.
    Owner {
        /// The `session_name` of the session's config.
        session_name: String,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// The `session_name` of the session the error is about.
    pub fn session_name(&self) -> &str {
        match self {
            Error::Store { session_name, .. }
            | Error::Encode { session_name, .. }
            | Error::TooLarge { session_name, .. }
            | Error::Ended { session_name }
            | Error::AlreadyExtracted { session_name }
            | Error::Owner { session_name, .. } => session_name,
        }
    }
}

impl Error {
    /// Whether the same request can succeed if tried again later: only a
    /// [transient](ErrorClass::Transient) store error can.
    ///
    /// ```
    /// use sessionkit::{Error, ErrorClass};
    ///
    /// fn status(error: &Error) -> u16 {
    ///     match error.class() {
    ///         ErrorClass::Transient => 503,
    ///         ErrorClass::Permanent => 500,
    ///     }
    /// }
    /// ```
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Store { source, .. } => source.class(),
            Error::Encode { .. }
            | Error::TooLarge { .. }
            | Error::Ended { .. }
            | Error::AlreadyExtracted { .. }
            | Error::Owner { .. } => ErrorClass::Permanent,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Store { session_name, .. } => {
                write!(f, "session store error for `{session_name}`")
            }
            Error::Encode { session_name, .. } => {
                write!(f, "could not encode session `{session_name}`")
            }
            Error::TooLarge {
                session_name,
                size,
                limit,
            } => write!(
                f,
                "session `{session_name}` encodes to {size} bytes, over the limit of {limit}; nothing was saved"
            ),
            Error::Ended { session_name } => write!(
                f,
                "session `{session_name}` was ended by another request while this one ran; nothing was saved"
            ),
            Error::AlreadyExtracted { session_name } => write!(
                f,
                "session `{session_name}` is extracted twice in one request; extract it once and pass it along"
            ),
            Error::Owner {
                session_name,
                message,
            } => write!(f, "session `{session_name}`: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Store { source, .. } => Some(source),
            Error::Encode { source, .. } => Some(source),
            Error::TooLarge { .. }
            | Error::Ended { .. }
            | Error::AlreadyExtracted { .. }
            | Error::Owner { .. } => None,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its sources, for a log line that loses no cause: each
/// error's `Display`, joined by `": "`.
///
/// A source whose text the error before it already ends with is left out:
/// some libraries' errors (the `redis` crate's, serde_json's I/O errors)
/// show their source in their own text as well.
#[cfg(any(feature = "axum", feature = "postgres", feature = "sqlite", test))]
pub(crate) struct Report<'a>(pub(crate) &'a dyn std::error::Error);

#[cfg(any(feature = "axum", feature = "postgres", feature = "sqlite", test))]
impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            let text = error.to_string();
            if !shown.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            shown = text;
            source = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::io;

    use super::*;

    fn chain(error: &dyn std::error::Error) -> String {
        Report(error).to_string()
    }

    /// A cause with a text found nowhere else.
    fn cause() -> io::Error {
        io::Error::other("the cause")
    }

    #[test]
    fn a_store_error_shows_its_message_and_returns_its_source() {
        let error = StoreError::with_source("memcached", cause());
        assert_eq!(error.to_string(), "memcached");
        assert_eq!(error.source().unwrap().to_string(), "the cause");
        assert_eq!(chain(&error), "memcached: the cause");

        let alone = StoreError::new("no cause").permanent();
        assert!(alone.source().is_none());
        assert_eq!(chain(&alone), "no cause");
    }

    #[test]
    fn a_store_failure_names_the_session_and_returns_the_store_error() {
        let error = Error::Store {
            session_name: "cart".into(),
            source: StoreError::with_source("memcached", cause()),
        };
        assert_eq!(error.to_string(), "session store error for `cart`");
        assert!(error.source().unwrap().is::<StoreError>());
        assert_eq!(
            chain(&error),
            "session store error for `cart`: memcached: the cause"
        );
    }

    #[test]
    fn an_encode_failure_returns_serde_json_error() {
        let not_a_key = std::collections::BTreeMap::from([((1, 2), 3)]);
        let json = serde_json::to_vec(&not_a_key).unwrap_err();
        let text = json.to_string();
        let error = Error::Encode {
            session_name: "cart".into(),
            source: json,
        };
        assert_eq!(error.to_string(), "could not encode session `cart`");
        assert!(!error.to_string().contains(&text));
        assert_eq!(
            chain(&error),
            format!("could not encode session `cart`: {text}")
        );
    }

    #[test]
    fn errors_without_a_cause_are_their_message() {
        for error in [
            Error::TooLarge {
                session_name: "cart".into(),
                size: 70_000,
                limit: 65_536,
            },
            Error::Ended {
                session_name: "cart".into(),
            },
            Error::AlreadyExtracted {
                session_name: "cart".into(),
            },
        ] {
            assert!(error.source().is_none(), "{error}");
            assert_eq!(chain(&error), error.to_string());
        }
    }

    /// An error that shows its source in its own text too, as some
    /// libraries' errors do.
    #[derive(Debug)]
    struct Repeats(io::Error);

    impl fmt::Display for Repeats {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "failed: {}", self.0)
        }
    }

    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_report_shows_a_cause_once_when_an_error_repeats_it() {
        let error = StoreError::with_source("Redis", Repeats(cause()));
        assert_eq!(chain(&error), "Redis: failed: the cause");
    }
}
