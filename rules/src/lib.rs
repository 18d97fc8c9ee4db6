//! The rules a sessionkit configuration must follow.
//!
//! One copy of every rule, used twice: by `session_config!` at compile time
//! (each violation becomes a compile error spanned on the offending token)
//! and by `sessionkit::SessionConfig::validate` at start-up, for a config
//! changed by its `with_*` setters (every violation, in one `ConfigError`).
//! Messages are lowercase, carry no trailing period and say what is allowed.
//!
//! The options themselves are declared here too, once: their names, types
//! and defaults make [`Settings`] and [`Field`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Length of a session id: 32 lowercase hex characters (`uuid4().hex`).
pub const ID_LEN: usize = 32;
/// Length of a hashed session id, the store key's end with `hash_ids`: 64
/// lowercase hex characters (SHA-256).
pub const HASHED_ID_LEN: usize = 64;
/// Longest store key memcached accepts, in bytes.
pub const MAX_KEY_LEN: usize = 250;
/// Longest `expiry` browsers honour: they cap `Max-Age` at 400 days.
pub const MAX_EXPIRY_SECS: u64 = 400 * 24 * 60 * 60;

mod options;
pub use options::{Field, Settings};

/// The `SameSite` cookie attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// `SameSite=Lax`
    Lax,
    /// `SameSite=Strict`
    Strict,
    /// `SameSite=None` (requires `secure`)
    None,
}

impl SameSite {
    /// Every accepted spelling in a configuration, in the order error messages list them.
    pub const ALL: [(&'static str, SameSite); 3] = [
        ("lax", SameSite::Lax),
        ("strict", SameSite::Strict),
        ("none", SameSite::None),
    ];

    /// Parses a configuration value; exactly `"lax"`, `"strict"` or `"none"`.
    pub fn parse(value: &str) -> Result<SameSite, String> {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, same_site)| *same_site)
            .ok_or_else(|| {
                let allowed: Vec<String> =
                    Self::ALL.iter().map(|(n, _)| format!("\"{n}\"")).collect();
                format!(
                    "unknown `samesite` value `{value:?}`, expected one of {}",
                    allowed.join(", ")
                )
            })
    }

    /// The attribute value as written in `Set-Cookie`: `Lax`, `Strict` or `None`.
    pub const fn as_attribute(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

/// One broken rule: which option, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The option to point at.
    pub field: Field,
    /// What is wrong and what is allowed.
    pub message: String,
}

// RFC 6265 §4.1.1: a cookie name is an RFC 2616 token.
fn is_token_char(c: char) -> bool {
    c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c)
}

/// A cookie name must be a non-empty RFC 6265 token.
pub fn check_cookie_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("`cookie_name` must not be empty".into());
    }
    match name.chars().find(|c| !is_token_char(*c)) {
        None => Ok(()),
        Some(c) => Err(format!(
            "`cookie_name` {name:?} is not a cookie token: {c:?} is not allowed; use letters, digits and !#$%&'*+-.^_`|~"
        )),
    }
}

/// A domain is a host name: dot-separated labels of letters, digits and `-`,
/// an optional leading dot, at most 253 characters.
pub fn check_domain(domain: &str) -> Result<(), String> {
    let host = domain.strip_prefix('.').unwrap_or(domain);
    let problem = if host.is_empty() {
        Some("it is empty".to_string())
    } else if host.len() > 253 {
        Some("it is longer than 253 characters".to_string())
    } else {
        host.split('.').find_map(|label| {
            if label.is_empty() {
                Some("it has an empty label".to_string())
            } else if label.len() > 63 {
                Some(format!("label `{label}` is longer than 63 characters"))
            } else if label.starts_with('-') || label.ends_with('-') {
                Some(format!("label `{label}` starts or ends with `-`"))
            } else {
                label
                    .chars()
                    .find(|c| !c.is_ascii_alphanumeric() && *c != '-')
                    .map(|c| format!("{c:?} is not allowed"))
            }
        })
    };
    match problem {
        None => Ok(()),
        Some(why) => Err(format!(
            "`domain` {domain:?} is not a valid host name ({why}); expected labels of letters, digits and `-` separated by dots, like \"example.com\""
        )),
    }
}

/// Expiry is at least one second and at most 400 days (browsers cap `Max-Age` there).
pub fn check_expiry(secs: u64) -> Result<(), String> {
    if secs == 0 {
        Err("`expiry` must be at least 1 second".into())
    } else if secs > MAX_EXPIRY_SECS {
        Err(format!(
            "`expiry` of {secs} seconds is over 400 days ({MAX_EXPIRY_SECS} seconds), the most browsers honour"
        ))
    } else {
        Ok(())
    }
}

/// A `max_lifetime` is at most 400 days (a cookie cannot outlive that), and
/// at least the `expiry` it bounds (checked with the other options by
/// [`check_combination`]).
pub fn check_max_lifetime(secs: u64) -> Result<(), String> {
    if secs > MAX_EXPIRY_SECS {
        Err(format!(
            "`max_lifetime` of {secs} seconds is over 400 days ({MAX_EXPIRY_SECS} seconds), the most browsers keep a cookie"
        ))
    } else {
        Ok(())
    }
}

/// A prefix must make a key every store accepts: visible ASCII characters
/// only (no space, control or non-ASCII character: memcached's text
/// protocol refuses them), and prefix + a 32-character id within 250 bytes.
/// With `hash_ids` the key ends in a 64-character hash instead, so the
/// prefix must be shorter still: [`check_combination`] checks that.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if let Some(c) = prefix.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "`prefix` {prefix:?} contains {c:?}; store keys may contain only visible ASCII characters (no spaces, control or non-ASCII characters)"
        ));
    }
    let max = MAX_KEY_LEN - ID_LEN;
    if prefix.len() > max {
        return Err(format!(
            "`prefix` is {} bytes; at most {max} bytes fit before a {ID_LEN}-character id in a {MAX_KEY_LEN}-byte store key",
            prefix.len()
        ));
    }
    Ok(())
}

/// A session name is non-empty and has no control characters (it appears in logs).
pub fn check_session_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("`session_name` must not be empty".into());
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(format!(
            "`session_name` {name:?} contains the control character {c:?}"
        ));
    }
    Ok(())
}

/// Rules that involve more than one option.
pub fn check_combination(s: &Settings<&str>) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut add = |field, message: &str| {
        out.push(Violation {
            field,
            message: message.to_string(),
        })
    };
    // Browsers drop `SameSite=None` cookies that are not `Secure`.
    if s.samesite == Some(SameSite::None) && !s.secure {
        add(
            Field::Samesite,
            "`samesite: \"none\"` requires `secure: true`; browsers reject SameSite=None cookies without Secure",
        );
    }
    // An absolute lifetime shorter than the idle expiry would make the
    // cookie's and the store's expiry a lie.
    if let Some(lifetime) = s.max_lifetime_secs {
        if lifetime < s.expiry_secs {
            add(
                Field::MaxLifetime,
                &format!(
                    "`max_lifetime` of {lifetime} seconds is shorter than `expiry` ({} seconds); it must be at least `expiry`",
                    s.expiry_secs
                ),
            );
        }
    }
    // Browsers drop `Partitioned` cookies that are not `Secure`.
    if s.partitioned && !s.secure {
        add(
            Field::Partitioned,
            "`partitioned: true` requires `secure: true`; browsers reject Partitioned cookies without Secure",
        );
    }
    let lower = s.cookie_name.to_ascii_lowercase();
    // `__Secure-` cookies must be `Secure`.
    if lower.starts_with("__secure-") && !s.secure {
        add(
            Field::CookieName,
            "a `cookie_name` starting with `__Secure-` requires `secure: true`",
        );
    }
    // `__Host-` cookies must be `Secure`, with no `Domain` (the path is always `/`).
    if lower.starts_with("__host-") {
        if !s.secure {
            add(
                Field::CookieName,
                "a `cookie_name` starting with `__Host-` requires `secure: true`",
            );
        }
        if s.domain.is_some() {
            add(
                Field::Domain,
                "a `cookie_name` starting with `__Host-` must not have a `domain`",
            );
        }
    }
    // A hashed id is twice as long as an id, leaving the prefix less room.
    // A prefix too long even for an id is `check_prefix`'s to report.
    let max = MAX_KEY_LEN - HASHED_ID_LEN;
    if s.hash_ids && s.prefix.len() > max && s.prefix.len() <= MAX_KEY_LEN - ID_LEN {
        out.push(Violation {
            field: Field::Prefix,
            message: format!(
                "`prefix` is {} bytes; with `hash_ids: true` at most {max} bytes fit before the {HASHED_ID_LEN}-character hashed id in a {MAX_KEY_LEN}-byte store key",
                s.prefix.len()
            ),
        });
    }
    out
}

/// Every rule, single-option and combined; empty when the settings are valid.
pub fn check_all(s: &Settings<&str>) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut single = |field, result: Result<(), String>| {
        if let Err(message) = result {
            out.push(Violation { field, message });
        }
    };
    single(Field::CookieName, check_cookie_name(s.cookie_name));
    if let Some(domain) = s.domain {
        single(Field::Domain, check_domain(domain));
    }
    single(Field::Expiry, check_expiry(s.expiry_secs));
    single(Field::Prefix, check_prefix(s.prefix));
    single(Field::SessionName, check_session_name(s.session_name));
    if let Some(lifetime) = s.max_lifetime_secs {
        single(Field::MaxLifetime, check_max_lifetime(lifetime));
    }
    out.extend(check_combination(s));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(check_all(&Settings::DEFAULT).is_empty());
    }

    #[test]
    fn samesite_values() {
        assert_eq!(SameSite::parse("lax"), Ok(SameSite::Lax));
        assert_eq!(SameSite::parse("strict"), Ok(SameSite::Strict));
        assert_eq!(SameSite::parse("none"), Ok(SameSite::None));
        let err = SameSite::parse("Lax").unwrap_err();
        assert_eq!(
            err,
            "unknown `samesite` value `\"Lax\"`, expected one of \"lax\", \"strict\", \"none\""
        );
    }

    #[test]
    fn cookie_names() {
        assert!(check_cookie_name("session").is_ok());
        assert!(check_cookie_name("__Host-id").is_ok());
        for bad in ["", "a b", "a;b", "a=b", "sé", "a\tb", "a\"b"] {
            assert!(check_cookie_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn domains() {
        for good in [
            "example.com",
            ".example.com",
            "localhost",
            "a-b.c0.io",
            "127.0.0.1",
        ] {
            assert!(check_domain(good).is_ok(), "{good:?} rejected");
        }
        for bad in [
            "",
            ".",
            "a..b",
            "-a.com",
            "a-.com",
            "exa mple.com",
            "a.com/",
            "a.com:80",
            "a.com.",
        ] {
            assert!(check_domain(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_domain(&"a".repeat(64)).is_err());
    }

    #[test]
    fn expiries() {
        assert!(check_expiry(0).is_err());
        assert!(check_expiry(1).is_ok());
        assert!(check_expiry(MAX_EXPIRY_SECS).is_ok());
        assert!(check_expiry(MAX_EXPIRY_SECS + 1).is_err());
    }

    #[test]
    fn max_lifetimes() {
        assert!(check_max_lifetime(MAX_EXPIRY_SECS).is_ok());
        assert!(check_max_lifetime(MAX_EXPIRY_SECS + 1).is_err());
        let mut s = Settings::DEFAULT;
        s.max_lifetime_secs = Some(s.expiry_secs);
        assert!(check_all(&s).is_empty());
        s.max_lifetime_secs = Some(s.expiry_secs - 1);
        let violations = check_all(&s);
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, Field::MaxLifetime);
        assert!(
            violations[0].message.contains("at least `expiry`"),
            "{}",
            violations[0].message
        );
        s.max_lifetime_secs = Some(MAX_EXPIRY_SECS + 1);
        let fields: Vec<Field> = check_all(&s).iter().map(|v| v.field).collect();
        assert_eq!(fields, [Field::MaxLifetime]);
    }

    #[test]
    fn prefixes() {
        assert!(check_prefix("").is_ok());
        assert!(check_prefix("cart:").is_ok());
        assert!(check_prefix(&"p".repeat(MAX_KEY_LEN - ID_LEN)).is_ok());
        assert!(check_prefix(&"p".repeat(MAX_KEY_LEN - ID_LEN + 1)).is_err());
        for bad in [
            "a b",
            "a\nb",
            "a\u{7f}",
            "\u{a0}",
            "café:",
            "ключ:",
            "a\u{2028}",
        ] {
            assert!(check_prefix(bad).is_err(), "{bad:?} accepted");
        }
        let every_visible_ascii: String = ('!'..='~').collect();
        assert!(check_prefix(&every_visible_ascii).is_ok());
    }

    /// With `hash_ids` the key ends in 64 characters instead of 32: the
    /// longest prefix is 186 bytes, reported once, on `prefix`.
    #[test]
    fn prefixes_with_hashed_ids() {
        assert_eq!(MAX_KEY_LEN - HASHED_ID_LEN, 186);
        let longest = "p".repeat(186);
        let over = "p".repeat(187);
        let longest_plain = "p".repeat(MAX_KEY_LEN - ID_LEN);
        let over_plain = "p".repeat(MAX_KEY_LEN - ID_LEN + 1);
        let violations = |prefix: &str, hash_ids: bool| {
            let s = Settings {
                prefix,
                hash_ids,
                ..Settings::DEFAULT
            };
            check_all(&s)
        };
        assert!(violations(&longest, true).is_empty());
        assert!(violations(&over, false).is_empty());
        assert!(violations(&longest_plain, false).is_empty());
        assert_eq!(
            violations(&over, true),
            [Violation {
                field: Field::Prefix,
                message: "`prefix` is 187 bytes; with `hash_ids: true` at most 186 bytes fit before the 64-character hashed id in a 250-byte store key".into(),
            }]
        );
        assert_eq!(violations(&longest_plain, true).len(), 1);
        // Too long for any key: `check_prefix`'s one violation, not two.
        for hash_ids in [false, true] {
            let found = violations(&over_plain, hash_ids);
            assert_eq!(found.len(), 1, "{found:?}");
            assert_eq!(found[0].field, Field::Prefix);
            assert!(found[0].message.contains("at most 218 bytes"), "{found:?}");
        }
    }

    #[test]
    fn combinations() {
        let mut s = Settings::DEFAULT;
        s.samesite = Some(SameSite::None);
        assert_eq!(check_all(&s)[0].field, Field::Samesite);
        s.secure = true;
        assert!(check_all(&s).is_empty());

        let mut s = Settings::DEFAULT;
        s.cookie_name = "__Secure-id";
        assert_eq!(check_all(&s)[0].field, Field::CookieName);
        s.secure = true;
        assert!(check_all(&s).is_empty());

        let mut s = Settings::DEFAULT;
        s.cookie_name = "__Host-id";
        s.domain = Some("example.com");
        let fields: Vec<Field> = check_all(&s).iter().map(|v| v.field).collect();
        assert_eq!(fields, [Field::CookieName, Field::Domain]);
    }

    #[test]
    fn partitioned_requires_secure() {
        let mut s = Settings::DEFAULT;
        s.partitioned = true;
        let violations = check_all(&s);
        assert_eq!(
            violations,
            [Violation {
                field: Field::Partitioned,
                message: "`partitioned: true` requires `secure: true`; browsers reject Partitioned cookies without Secure".into(),
            }]
        );
        s.secure = true;
        assert!(check_all(&s).is_empty());
    }

    /// `__Host-` and `Partitioned` are the recommended pairing: the cookie
    /// is then tied to one host within one top-level site.
    #[test]
    fn partitioned_pairs_with_a_host_prefixed_name() {
        let mut s = Settings::DEFAULT;
        s.cookie_name = "__Host-id";
        s.secure = true;
        s.partitioned = true;
        s.samesite = Some(SameSite::None);
        assert!(check_all(&s).is_empty(), "{:?}", check_all(&s));
        // Without `Secure` both rules speak.
        s.secure = false;
        let fields: Vec<Field> = check_all(&s).iter().map(|v| v.field).collect();
        assert_eq!(
            fields,
            [Field::Samesite, Field::Partitioned, Field::CookieName]
        );
    }
}
