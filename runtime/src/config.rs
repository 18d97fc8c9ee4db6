//! The cookie and store settings of one kind of session, and their checks.
//!
//! Values are normally written once, in `session_config!`, and checked by
//! the compiler. Deployment-specific values (`domain`, `secure`, `expiry`,
//! `partitioned`) can be set at start-up with the `with_*` setters;
//! [`SessionConfig::validate`] then applies the same rules (from
//! `sessionkit-rules`) and reports every violation at once in a
//! [`ConfigError`].

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use sessionkit_rules::Settings;
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

/// The cookie and store settings of one kind of session: sanic-session's
/// nine options, `max_lifetime`, `hash_ids` and `partitioned`.
///
/// Build one with [`session_config!`](crate::session_config) (checked at
/// compile time) or start from [`SessionConfig::DEFAULT`]. The `with_*`
/// setters change a config without checking it:
/// [`validate`](SessionConfig::validate) does, and
/// [`SessionLayer::with_config`](crate::SessionLayer::with_config) refuses
/// a config that breaks a rule. Every default is sanic-session's, and
/// sessionkit's own options are off:
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
/// | `max_lifetime` | none |
/// | `hash_ids` | `false` |
/// | `partitioned` | `false` |
#[derive(Clone, Debug)]
pub struct SessionConfig {
    settings: Settings<Text>,
}

/// Whether `text` is visible ASCII without `;` or `,`, so it can
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

/// `duration` in whole seconds, a fraction rounded up.
pub(crate) fn whole_secs(duration: Duration) -> u64 {
    let whole = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        whole.saturating_add(1)
    } else {
        whole
    }
}

/// A setting that breaks one of the configuration rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    violations: Vec<sessionkit_rules::Violation>,
}

impl ConfigError {
    /// The error of one violation.
    #[cfg(feature = "axum")]
    pub(crate) fn one(field: Field, message: String) -> ConfigError {
        ConfigError {
            violations: vec![sessionkit_rules::Violation { field, message }],
        }
    }

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

/// A `SessionConfig` from a `Settings<&'static str>`: `Settings::map`
/// written out, as a `const` cannot call closures.
///
/// A macro rather than a `const fn` so that [`SessionConfig::DEFAULT`] is
/// a value without a call in it: only such a constant is promoted, so that
/// `SessionConfig::DEFAULT.cookie_name()` (and the same on the stand-in
/// `session_config!` emits for a config with errors) is a `&'static str`.
macro_rules! from_static {
    ($settings:expr) => {
        SessionConfig {
            settings: Settings {
                cookie_name: Text::Static($settings.cookie_name),
                domain: match $settings.domain {
                    Some(d) => Some(Text::Static(d)),
                    None => None,
                },
                expiry_secs: $settings.expiry_secs,
                httponly: $settings.httponly,
                secure: $settings.secure,
                samesite: $settings.samesite,
                prefix: Text::Static($settings.prefix),
                sessioncookie: $settings.sessioncookie,
                session_name: Text::Static($settings.session_name),
                max_lifetime_secs: $settings.max_lifetime_secs,
                hash_ids: $settings.hash_ids,
                partitioned: $settings.partitioned,
            },
        }
    };
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl SessionConfig {
    /// sanic-session's defaults: cookie `session`, 30 days, `HttpOnly`, prefix `session:`.
    pub const DEFAULT: SessionConfig = from_static!(Settings::DEFAULT);

    /// Used by `session_config!` after it has checked every rule.
    ///
    /// Called by hand, this still refuses what would break the `Set-Cookie`
    /// header or a store key: a `cookie_name`, `domain` or `prefix` that is
    /// not visible ASCII without `;` and `,` panics, which in a `const` (how
    /// the macro calls it) is a compile error.
    ///
    /// ```
    /// use sessionkit::__private::Settings;
    /// use sessionkit::SessionConfig;
    ///
    /// const CART: SessionConfig = SessionConfig::__checked(Settings {
    ///     prefix: "cart:",
    ///     ..Settings::DEFAULT
    /// });
    /// ```
    ///
    /// ```compile_fail
    /// use sessionkit::__private::Settings;
    /// use sessionkit::SessionConfig;
    ///
    /// const CART: SessionConfig = SessionConfig::__checked(Settings {
    ///     prefix: "cart;",
    ///     ..Settings::DEFAULT
    /// });
    /// ```
    #[doc(hidden)]
    pub const fn __checked(settings: Settings<&'static str>) -> SessionConfig {
        let domain_safe = match settings.domain {
            Some(d) => attribute_safe(d),
            None => true,
        };
        if !(attribute_safe(settings.cookie_name) && domain_safe && attribute_safe(settings.prefix))
        {
            panic!("a session config's cookie_name, domain and prefix must be visible ASCII without `;` or `,`: build it with `session_config!`");
        }
        from_static!(settings)
    }

    /// The cookie's name.
    pub fn cookie_name(&self) -> &str {
        &self.settings.cookie_name
    }
    /// The cookie's `Domain` attribute, if any.
    pub fn domain(&self) -> Option<&str> {
        self.settings.domain.as_deref()
    }
    /// Store TTL and cookie `Max-Age`.
    pub fn expiry(&self) -> Duration {
        Duration::from_secs(self.settings.expiry_secs)
    }
    /// Store TTL and cookie `Max-Age`, in seconds.
    pub fn expiry_secs(&self) -> u64 {
        self.settings.expiry_secs
    }
    /// Whether the cookie is `HttpOnly`.
    pub fn httponly(&self) -> bool {
        self.settings.httponly
    }
    /// Whether the cookie is `Secure`.
    pub fn secure(&self) -> bool {
        self.settings.secure
    }
    /// The cookie's `SameSite` attribute, if any.
    pub fn samesite(&self) -> Option<SameSite> {
        self.settings.samesite
    }
    /// Store key prefix: the key is `prefix + id`, or with
    /// [`hash_ids`](Self::hash_ids) `prefix + hex(SHA-256(id))`.
    pub fn prefix(&self) -> &str {
        &self.settings.prefix
    }
    /// Whether the cookie is a browser-session cookie (no `Max-Age`/`Expires`).
    pub fn sessioncookie(&self) -> bool {
        self.settings.sessioncookie
    }
    /// The session's name in logs and errors.
    pub fn session_name(&self) -> &str {
        &self.settings.session_name
    }
    /// Whether the cookie is `Partitioned` (CHIPS): kept by the browser
    /// apart for each top-level site it is used under.
    pub fn partitioned(&self) -> bool {
        self.settings.partitioned
    }

    /// The most a session may live however often it is used, if set:
    /// counted from its creation, not reset by a new id.
    pub fn max_lifetime(&self) -> Option<Duration> {
        self.settings.max_lifetime_secs.map(Duration::from_secs)
    }

    /// `max_lifetime` in seconds, if set.
    #[cfg(feature = "axum")]
    pub(crate) fn max_lifetime_secs(&self) -> Option<u64> {
        self.settings.max_lifetime_secs
    }

    /// Whether store keys hold the SHA-256 of the session id (64 lowercase
    /// hex characters) instead of the id: see [`store_key`](Self::store_key).
    pub fn hash_ids(&self) -> bool {
        self.settings.hash_ids
    }

    /// The session's name as a metrics label, without copying it.
    #[cfg(all(feature = "metrics", feature = "axum"))]
    pub(crate) fn session_label(&self) -> metrics::SharedString {
        match &self.settings.session_name {
            Text::Static(name) => metrics::SharedString::const_str(name),
            Text::Shared(name) => metrics::SharedString::from(Arc::clone(name)),
        }
    }

    /// Checks every rule and reports every violation, of every option, at
    /// once. `session_config!` has done so already at compile time; this is
    /// for a config changed by the `with_*` setters, and
    /// [`SessionLayer::with_config`](crate::SessionLayer::with_config) runs
    /// it on the config it is given.
    ///
    /// ```
    /// use sessionkit::config::Field;
    /// use sessionkit::session_config;
    ///
    /// session_config! { HOST { cookie_name: "__Host-id", secure: true } }
    ///
    /// // An invalid domain, a domain on a `__Host-` cookie, and a `__Host-`
    /// // cookie without `Secure`.
    /// let config = HOST.with_domain(Some("not a host")).with_secure(false);
    /// let error = config.validate().unwrap_err();
    /// let fields: Vec<Field> = error.violations().map(|(field, _)| field).collect();
    /// assert_eq!(fields, [Field::Domain, Field::CookieName, Field::Domain]);
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let violations = sessionkit_rules::check_all(&self.settings.as_deref());
        if violations.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { violations })
        }
    }

    /// Sets the cookie's `Domain` (`None` removes it), for example to a
    /// value read at start-up.
    ///
    /// Nothing is checked here, so a chain of setters goes through and
    /// [`validate`](Self::validate) then reports everything wrong at once;
    /// [`SessionLayer::with_config`](crate::SessionLayer::with_config) runs
    /// it and refuses a config that breaks a rule.
    ///
    /// ```
    /// use sessionkit::SessionConfig;
    /// let config = SessionConfig::DEFAULT.with_domain(Some("example.com"));
    /// assert_eq!(config.domain(), Some("example.com"));
    /// assert!(config.validate().is_ok());
    /// let config = SessionConfig::DEFAULT.with_domain(Some("not a host"));
    /// assert!(config.validate().is_err());
    /// ```
    #[must_use = "the setter returns the changed config"]
    pub fn with_domain(mut self, domain: Option<&str>) -> Self {
        self.settings.domain = domain.map(|d| Text::Shared(Arc::from(d)));
        self
    }

    /// Sets `Secure`, for example to turn it off on a plain-HTTP
    /// development machine.
    ///
    /// Nothing is checked here; [`validate`](Self::validate) is where the
    /// rules apply, and
    /// [`SessionLayer::with_config`](crate::SessionLayer::with_config) runs
    /// it.
    ///
    /// # Security
    ///
    /// Without `Secure` the cookie, and so the session, is sent over plain
    /// HTTP. `SameSite=None`, `Partitioned`, `__Secure-` and `__Host-`
    /// cookies require it, and turning it off for them is a violation.
    ///
    /// ```
    /// use sessionkit::SessionConfig;
    /// let config = SessionConfig::DEFAULT.with_secure(true);
    /// assert!(config.secure());
    /// ```
    #[must_use = "the setter returns the changed config"]
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.settings.secure = secure;
        self
    }

    /// Sets `Partitioned` (CHIPS), for example to turn it on where the
    /// application is deployed to be embedded in other sites' pages.
    ///
    /// Nothing is checked here; [`validate`](Self::validate) applies the
    /// rule (a partitioned cookie must be `Secure`), and
    /// [`SessionLayer::with_config`](crate::SessionLayer::with_config) runs
    /// it.
    ///
    /// ```
    /// use sessionkit::config::Field;
    /// use sessionkit::SessionConfig;
    ///
    /// let config = SessionConfig::DEFAULT.with_partitioned(true);
    /// assert!(config.partitioned());
    /// let error = config.validate().unwrap_err();
    /// assert_eq!(error.violations().next().unwrap().0, Field::Partitioned);
    /// assert!(config.with_secure(true).validate().is_ok());
    /// ```
    #[must_use = "the setter returns the changed config"]
    pub fn with_partitioned(mut self, partitioned: bool) -> Self {
        self.settings.partitioned = partitioned;
        self
    }

    /// Sets `expiry`: the store's time to live and the cookie's `Max-Age`,
    /// for example from a value read at start-up. The config's expiry is in
    /// whole seconds, so a fraction of a second is rounded up.
    ///
    /// Nothing is checked here; [`validate`](Self::validate) applies the
    /// rule (1 second to 400 days), and
    /// [`SessionLayer::with_config`](crate::SessionLayer::with_config) runs
    /// it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessionkit::SessionConfig;
    ///
    /// let config = SessionConfig::DEFAULT.with_expiry(Duration::from_secs(8 * 3600));
    /// assert_eq!(config.expiry_secs(), 28_800);
    /// assert!(config.validate().is_ok());
    /// assert_eq!(SessionConfig::DEFAULT.with_expiry(Duration::from_millis(1500)).expiry_secs(), 2);
    /// assert!(SessionConfig::DEFAULT.with_expiry(Duration::ZERO).validate().is_err());
    /// assert!(SessionConfig::DEFAULT.with_expiry(Duration::from_secs(401 * 86_400)).validate().is_err());
    /// ```
    #[must_use = "the setter returns the changed config"]
    pub fn with_expiry(mut self, expiry: Duration) -> Self {
        self.settings.expiry_secs = whole_secs(expiry);
        self
    }

    /// Sets `max_lifetime`, the most a session may live however often it
    /// is used (`None`: no limit), rounded up to whole seconds like
    /// [`with_expiry`](Self::with_expiry).
    ///
    /// Nothing is checked here; [`validate`](Self::validate) applies the
    /// rules (at least `expiry`, at most 400 days), and
    /// [`SessionLayer::with_config`](crate::SessionLayer::with_config) runs
    /// it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessionkit::SessionConfig;
    ///
    /// let day = Duration::from_secs(86_400);
    /// let config = SessionConfig::DEFAULT
    ///     .with_expiry(day)
    ///     .with_max_lifetime(Some(7 * day));
    /// assert_eq!(config.max_lifetime(), Some(7 * day));
    /// assert!(config.validate().is_ok());
    /// // Shorter than the idle expiry.
    /// assert!(config.with_max_lifetime(Some(day / 2)).validate().is_err());
    /// ```
    #[must_use = "the setter returns the changed config"]
    pub fn with_max_lifetime(mut self, max_lifetime: Option<Duration>) -> Self {
        self.settings.max_lifetime_secs = max_lifetime.map(whole_secs);
        self
    }

    /// The store key of a session: `prefix + id`, or with `hash_ids`
    /// `prefix + hex(SHA-256(id))`, 64 lowercase hex characters, so that
    /// a key read from the store is not a cookie value.
    ///
    /// ```
    /// use sessionkit::{session_config, SessionId};
    ///
    /// session_config! {
    ///     PLAIN { prefix: "cart:" }
    ///     HASHED { prefix: "cart:", hash_ids: true }
    /// }
    ///
    /// let id = SessionId::parse("0123456789abcdef0123456789abcdef").unwrap();
    /// assert_eq!(PLAIN.store_key(&id), "cart:0123456789abcdef0123456789abcdef");
    /// assert_eq!(
    ///     HASHED.store_key(&id),
    ///     "cart:3eb1bd439947eb762998e566ccc2e099c791118b2f40579cc4f7da2b5061b7f9"
    /// );
    /// ```
    pub fn store_key(&self, id: &crate::SessionId) -> String {
        if self.settings.hash_ids {
            return hashed_key(&self.settings.prefix, id);
        }
        let mut key = String::with_capacity(self.settings.prefix.len() + crate::id::ID_LEN);
        key.push_str(&self.settings.prefix);
        key.push_str(id.as_str());
        key
    }
}

/// `prefix + hex(SHA-256(id))`, in one allocation of the key's length.
///
/// Out of line, so that `store_key` without `hash_ids` stays the copy it
/// was, with one test of a flag before it.
#[inline(never)]
fn hashed_key(prefix: &str, id: &crate::SessionId) -> String {
    use sha2::{Digest, Sha256};

    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(id.as_str().as_bytes());
    let mut key = String::with_capacity(prefix.len() + sessionkit_rules::HASHED_ID_LEN);
    key.push_str(prefix);
    for byte in digest {
        key.push(char::from(HEX[usize::from(byte >> 4)]));
        key.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    key
}

#[cfg(feature = "axum")]
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
        assert!(c.httponly() && !c.secure() && !c.sessioncookie() && !c.partitioned());
        assert_eq!(c.prefix(), "session:");
        assert_eq!(c.samesite(), None);
        assert!(!c.hash_ids());
    }

    /// The key is `prefix + id`, or with `hash_ids` the prefix and the
    /// SHA-256 of the id as lowercase hex: checked against digests from
    /// outside this code (`printf %s ID | sha256sum`).
    #[test]
    fn store_keys_with_and_without_hashed_ids() {
        let id = crate::SessionId::parse("0123456789abcdef0123456789abcdef").unwrap();
        let plain = SessionConfig::__checked(Settings {
            prefix: "cart:",
            ..Settings::DEFAULT
        });
        assert_eq!(
            plain.store_key(&id),
            "cart:0123456789abcdef0123456789abcdef"
        );
        let hashed = SessionConfig::__checked(Settings {
            prefix: "cart:",
            hash_ids: true,
            ..Settings::DEFAULT
        });
        assert!(hashed.hash_ids());
        let key = hashed.store_key(&id);
        assert_eq!(
            key,
            "cart:3eb1bd439947eb762998e566ccc2e099c791118b2f40579cc4f7da2b5061b7f9"
        );
        assert_eq!(key.len(), 5 + sessionkit_rules::HASHED_ID_LEN);
        assert_eq!(key.capacity(), key.len());
        // A second vector, and an empty prefix.
        let id = crate::SessionId::parse("9ca69ea696434e99beff2880eb95116a").unwrap();
        let bare = SessionConfig::__checked(Settings {
            prefix: "",
            hash_ids: true,
            ..Settings::DEFAULT
        });
        assert_eq!(
            bare.store_key(&id),
            "bab00258cb04cb765742f3c993e1117b0e0d9708a5ba5c2ff0bd13502bfb7b80"
        );
    }

    /// The table of defaults in `SessionConfig`'s docs has a row for every
    /// option, in order, with `Settings::DEFAULT`'s value.
    #[test]
    fn the_documented_defaults_are_the_defaults() {
        let rows: Vec<(&str, &str)> = include_str!("config.rs")
            .lines()
            .filter_map(|line| line.strip_prefix("/// | `")?.strip_suffix(" |"))
            .filter_map(|row| row.split_once("` | "))
            .collect();
        // `Settings { cookie_name: "session", domain: None, ... }`
        let defaults = format!("{:?}", Settings::DEFAULT);
        let defaults: Vec<(&str, &str)> = defaults
            .strip_prefix("Settings { ")
            .and_then(|d| d.strip_suffix(" }"))
            .expect("the derived Debug")
            .split(", ")
            .filter_map(|member| member.split_once(": "))
            .collect();
        let expected: Vec<(&str, String)> = Field::ALL
            .into_iter()
            .zip(defaults)
            .map(|(field, (member, value))| {
                assert_eq!(member, field.member());
                let shown = match (value, value.parse::<u64>()) {
                    ("None", _) => "none".to_string(),
                    (_, Ok(secs)) => format!("{secs} seconds ({} days)", secs / 86_400),
                    _ => format!("`{value}`"),
                };
                (field.name(), shown)
            })
            .collect();
        let rows: Vec<(&str, String)> = rows.into_iter().map(|(n, v)| (n, v.to_string())).collect();
        assert_eq!(rows, expected);
    }

    /// A use of `SessionConfig::DEFAULT` is promoted to a `'static` value,
    /// as the stand-in for a `session_config!` config with errors must be
    /// usable wherever the config was.
    #[test]
    fn the_default_is_a_promotable_constant() {
        fn cookie_name() -> &'static str {
            SessionConfig::DEFAULT.cookie_name()
        }
        assert_eq!(cookie_name(), "session");
    }

    #[test]
    fn setters_set_without_checking() {
        let config = SessionConfig::DEFAULT
            .with_domain(Some("a b"))
            .with_secure(true)
            .with_partitioned(true);
        assert_eq!(config.domain(), Some("a b"));
        assert!(config.secure() && config.partitioned());
        let config = config
            .with_domain(None)
            .with_secure(false)
            .with_partitioned(false);
        assert_eq!(config.domain(), None);
        assert!(!config.secure() && !config.partitioned());
    }

    #[test]
    fn validate_reports_every_violation_of_every_option_at_once() {
        let host = SessionConfig::__checked(Settings {
            cookie_name: "__Host-id",
            secure: true,
            ..Settings::DEFAULT
        });
        host.validate().unwrap();
        let broken = host.with_domain(Some("a b")).with_secure(false);
        let error = broken.validate().unwrap_err();
        let violations: Vec<(Field, &str)> = error.violations().collect();
        assert_eq!(
            violations,
            [
                (
                    Field::Domain,
                    "`domain` \"a b\" is not a valid host name (' ' is not allowed); expected labels of letters, digits and `-` separated by dots, like \"example.com\""
                ),
                (
                    Field::CookieName,
                    "a `cookie_name` starting with `__Host-` requires `secure: true`"
                ),
                (
                    Field::Domain,
                    "a `cookie_name` starting with `__Host-` must not have a `domain`"
                ),
            ]
        );
        let text = error.to_string();
        for (_, message) in violations {
            assert!(text.contains(message), "{text}");
        }
    }

    #[test]
    #[should_panic(expected = "must be visible ASCII without `;` or `,`")]
    fn the_hidden_constructor_refuses_a_semicolon_in_the_prefix() {
        let _ = SessionConfig::__checked(Settings {
            prefix: "a;b",
            ..Settings::DEFAULT
        });
    }
}
