//! The validated cookie and store settings of one kind of session.
//!
//! Values are normally written once, in `session_config!`, and checked by
//! the compiler. Deployment-specific values (`domain`, `secure`) can be
//! overridden at start-up with the `with_*` methods, which apply the same
//! rules (from `sessionkit-rules`) and return a [`ConfigError`].

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use sessionkit_rules::{defaults, Settings};
pub use sessionkit_rules::{Field, SameSite};

/// A string that is either a compile-time literal or shared, so a config is
/// cheap to clone and can still be built in a `const`.
#[derive(Clone)]
pub(crate) enum Text {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Text::Static(s) => s,
            Text::Shared(s) => s,
        }
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The nine options of sanic-session, validated.
///
/// Build one with [`session_config!`](crate::session_config) (checked at
/// compile time) or start from [`SessionConfig::DEFAULT`]. Every default is
/// sanic-session's:
///
/// | option | default |
/// |---|---|
/// | `cookie_name` | `"session"` |
/// | `domain` | none |
/// | `expiry` | 2592000 seconds (30 days) |
/// | `httponly` | `true` |
/// | `secure` | `false` |
/// | `samesite` | none |
/// | `prefix` | `"session:"` |
/// | `sessioncookie` | `false` |
/// | `session_name` | `"session"` |
#[derive(Clone, Debug)]
pub struct SessionConfig {
    cookie_name: Text,
    domain: Option<Text>,
    expiry_secs: u64,
    httponly: bool,
    secure: bool,
    samesite: Option<SameSite>,
    prefix: Text,
    sessioncookie: bool,
    session_name: Text,
}

/// Whether `text` is non-empty visible ASCII without `;` or `,`, so it can
/// neither end a cookie attribute nor start another.
const fn attribute_safe(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !b.is_ascii_graphic() || b == b';' || b == b',' {
            return false;
        }
        i += 1;
    }
    true
}

/// A setting that breaks one of the configuration rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    violations: Vec<sessionkit_rules::Violation>,
}

impl ConfigError {
    /// The options at fault, with what is wrong with each.
    pub fn violations(&self) -> impl Iterator<Item = (Field, &str)> {
        self.violations
            .iter()
            .map(|v| (v.field, v.message.as_str()))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid session configuration: ")?;
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(&v.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Default for SessionConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl SessionConfig {
    /// sanic-session's defaults: cookie `session`, 30 days, `HttpOnly`, prefix `session:`.
    pub const DEFAULT: SessionConfig = SessionConfig {
        cookie_name: Text::Static(defaults::COOKIE_NAME),
        domain: None,
        expiry_secs: defaults::EXPIRY_SECS,
        httponly: defaults::HTTPONLY,
        secure: defaults::SECURE,
        samesite: None,
        prefix: Text::Static(defaults::PREFIX),
        sessioncookie: defaults::SESSIONCOOKIE,
        session_name: Text::Static(defaults::SESSION_NAME),
    };

    /// Used by `session_config!` after it has checked every rule.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    pub const fn __from_macro(
        cookie_name: &'static str,
        domain: Option<&'static str>,
        expiry_secs: u64,
        httponly: bool,
        secure: bool,
        samesite: Option<SameSite>,
        prefix: &'static str,
        sessioncookie: bool,
        session_name: &'static str,
    ) -> SessionConfig {
        // The macro has checked every rule. Called by hand, this still
        // refuses what would break the `Set-Cookie` header or a store key:
        // in a `const` (how the macro calls it) that is a compile error.
        let domain_safe = match domain {
            Some(d) => attribute_safe(d),
            None => true,
        };
        if !(attribute_safe(cookie_name) && domain_safe && attribute_safe(prefix)) {
            panic!("a session config's cookie_name, domain and prefix must be visible ASCII without `;` or `,`: build it with `session_config!`");
        }
        SessionConfig {
            cookie_name: Text::Static(cookie_name),
            domain: match domain {
                Some(d) => Some(Text::Static(d)),
                None => None,
            },
            expiry_secs,
            httponly,
            secure,
            samesite,
            prefix: Text::Static(prefix),
            sessioncookie,
            session_name: Text::Static(session_name),
        }
    }

    /// The cookie's name.
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }
    /// The cookie's `Domain` attribute, if any.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }
    /// Store TTL and cookie `Max-Age`.
    pub fn expiry(&self) -> Duration {
        Duration::from_secs(self.expiry_secs)
    }
    /// Store TTL and cookie `Max-Age`, in seconds.
    pub fn expiry_secs(&self) -> u64 {
        self.expiry_secs
    }
    /// Whether the cookie is `HttpOnly`.
    pub fn httponly(&self) -> bool {
        self.httponly
    }
    /// Whether the cookie is `Secure`.
    pub fn secure(&self) -> bool {
        self.secure
    }
    /// The cookie's `SameSite` attribute, if any.
    pub fn samesite(&self) -> Option<SameSite> {
        self.samesite
    }
    /// Store key prefix: the key is `prefix + id`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    /// Whether the cookie is a browser-session cookie (no `Max-Age`/`Expires`).
    pub fn sessioncookie(&self) -> bool {
        self.sessioncookie
    }
    /// The session's name in logs and errors.
    pub fn session_name(&self) -> &str {
        &self.session_name
    }

    fn settings(&self) -> Settings<'_> {
        Settings {
            cookie_name: &self.cookie_name,
            domain: self.domain.as_deref(),
            expiry_secs: self.expiry_secs,
            httponly: self.httponly,
            secure: self.secure,
            samesite: self.samesite,
            prefix: &self.prefix,
            sessioncookie: self.sessioncookie,
            session_name: &self.session_name,
        }
    }

    /// Checks every rule; `session_config!` has done so already at compile time.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let violations = sessionkit_rules::check_all(&self.settings());
        if violations.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { violations })
        }
    }

    fn checked(self) -> Result<Self, ConfigError> {
        self.validate().map(|()| self)
    }

    /// Overrides the cookie's `Domain` at start-up (`None` removes it).
    ///
    /// ```
    /// use sessionkit::SessionConfig;
    /// let config = SessionConfig::DEFAULT.with_domain(Some("example.com")).unwrap();
    /// assert_eq!(config.domain(), Some("example.com"));
    /// assert!(SessionConfig::DEFAULT.with_domain(Some("not a host")).is_err());
    /// ```
    pub fn with_domain(mut self, domain: Option<&str>) -> Result<Self, ConfigError> {
        self.domain = domain.map(|d| Text::Shared(Arc::from(d)));
        self.checked()
    }

    /// Overrides `Secure` at start-up, for example to turn it off on a
    /// plain-HTTP development machine.
    ///
    /// # Security
    ///
    /// Without `Secure` the cookie, and so the session, is sent over plain
    /// HTTP. `SameSite=None`, `__Secure-` and `__Host-` cookies require it,
    /// and turning it off for them is an error.
    ///
    /// ```
    /// use sessionkit::SessionConfig;
    /// let config = SessionConfig::DEFAULT.with_secure(true).unwrap();
    /// assert!(config.secure());
    /// ```
    pub fn with_secure(mut self, secure: bool) -> Result<Self, ConfigError> {
        self.secure = secure;
        self.checked()
    }

    /// The store key of a session: `prefix + id`.
    pub fn store_key(&self, id: &crate::SessionId) -> String {
        let mut key = String::with_capacity(self.prefix.len() + crate::id::ID_LEN);
        key.push_str(&self.prefix);
        key.push_str(id.as_str());
        key
    }
}

impl SessionConfig {
    /// Checks a start-up override of `compiled`, the config of the session
    /// type `type_name`: every rule, and the same cookie name, all reported
    /// at once.
    pub(crate) fn validate_override_of(
        &self,
        compiled: &SessionConfig,
        type_name: &str,
    ) -> Result<(), ConfigError> {
        let mut violations = match self.validate() {
            Ok(()) => Vec::new(),
            Err(error) => error.violations,
        };
        if self.cookie_name() != compiled.cookie_name() {
            violations.push(sessionkit_rules::Violation {
                field: Field::CookieName,
                message: format!(
                    "`cookie_name` {:?} is not the cookie of `{type_name}`, which is {:?}; an override keeps the cookie name of the session type it is for",
                    self.cookie_name(),
                    compiled.cookie_name()
                ),
            });
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { violations })
        }
    }
}

/// Names the config of a session type that is not a derived struct: an
/// [`UntypedSession`](crate::UntypedSession)'s.
///
/// ```
/// use sessionkit::config::{ConfigSource, SessionConfig};
/// use sessionkit::{session_config, UntypedSession};
///
/// session_config! { ALT { cookie_name: "alt", prefix: "alt:", session_name: "alt_session" } }
///
/// struct Alt;
/// impl ConfigSource for Alt {
///     const CONFIG: SessionConfig = ALT;
/// }
///
/// async fn handler(mut alt: UntypedSession<Alt>) {
///     alt.insert("seen", true).unwrap();
/// }
/// ```
pub trait ConfigSource: 'static {
    /// The session's config.
    const CONFIG: SessionConfig;
}

/// The default config ([`SessionConfig::DEFAULT`]), sanic-session's defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultConfig;

impl ConfigSource for DefaultConfig {
    const CONFIG: SessionConfig = SessionConfig::DEFAULT;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_sanic_compatible() {
        let c = SessionConfig::DEFAULT;
        c.validate().unwrap();
        assert_eq!(c.cookie_name(), "session");
        assert_eq!(c.expiry_secs(), 2_592_000);
        assert!(c.httponly() && !c.secure() && !c.sessioncookie());
        assert_eq!(c.prefix(), "session:");
        assert_eq!(c.samesite(), None);
    }

    #[test]
    fn overrides_apply_the_rules() {
        let host = SessionConfig::__from_macro(
            "__Host-id",
            None,
            60,
            true,
            true,
            None,
            "h:",
            false,
            "host",
        );
        host.validate().unwrap();
        let err = host.clone().with_domain(Some("example.com")).unwrap_err();
        assert_eq!(err.violations().next().unwrap().0, Field::Domain);
        let err = host.with_secure(false).unwrap_err();
        assert!(err.to_string().contains("__Host-"), "{err}");
        let err = SessionConfig::DEFAULT.with_domain(Some("a b")).unwrap_err();
        assert!(err.to_string().contains("not a valid host name"), "{err}");
    }
}
