//! Errors: one enum for the layer, one error type every store converts into.

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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
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
}

impl Error {
    /// The `session_name` of the session the error is about.
    pub fn session_name(&self) -> &str {
        match self {
            Error::Store { session_name, .. }
            | Error::Encode { session_name, .. }
            | Error::TooLarge { session_name, .. }
            | Error::Ended { session_name }
            | Error::AlreadyExtracted { session_name } => session_name,
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
            | Error::AlreadyExtracted { .. } => ErrorClass::Permanent,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Store {
                session_name,
                source,
            } => write!(f, "session store error for `{session_name}`: {source}"),
            Error::Encode {
                session_name,
                source,
            } => write!(f, "could not encode session `{session_name}`: {source}"),
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
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Store { source, .. } => Some(source),
            Error::Encode { source, .. } => Some(source),
            Error::TooLarge { .. } | Error::Ended { .. } | Error::AlreadyExtracted { .. } => None,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
