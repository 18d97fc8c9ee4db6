//! The options of a session config, declared once: sanic-session's nine
//! and sessionkit's own.
//!
//! The one call to `options!` at the end of this file is the list of
//! options: each option's docs, its [`Field`], its name in
//! `session_config!`, the [`Settings`] field that holds it, its type and its
//! default. [`Settings`], [`Settings::DEFAULT`], the conversions between
//! settings of different string types, [`Field`], [`Field::ALL`],
//! [`Field::name`] and [`Field::member`] are all generated from it.
//!
//! Adding an option means adding a line to that list; the compiler then
//! points at the code that must handle it (a `match` on [`Field`] or a
//! [`Settings`] literal without the new field).

use std::ops::Deref;

use crate::SameSite;

/// Generates the items of the list below.
///
/// Each entry is
///
/// ```text
/// /// What the option is, for the docs of its `Settings` field and its `Field`.
/// Variant "name" => member: [Type] = default;
/// ```
///
/// `Type` is written in brackets so that the conversions can tell its three
/// kinds apart: `S` (a string), `Option<S>` (an optional string) and any
/// other type, which must be `Copy` and is kept as it is.
macro_rules! options {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident $name:literal => $member:ident: [$($ty:tt)*] = $default:expr;
    )*) => {
        /// A value for every option, with the strings as `S`: `&'static str`
        /// in [`Settings::DEFAULT`] and in `session_config!`'s output,
        /// `&str` for the checks ([`check_all`](crate::check_all)), an owned
        /// or shared string where the settings are kept.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct Settings<S> {
            $(
                $(#[doc = $doc])*
                #[doc = ""]
                #[doc = concat!("Default: `", stringify!($default), "`.")]
                pub $member: $($ty)*,
            )*
        }

        impl Settings<&'static str> {
            /// sanic-session's defaults, kept so that a user moving from
            /// Python finds them, and sessionkit's own options off.
            pub const DEFAULT: Settings<&'static str> = Settings {
                $($member: $default,)*
            };
        }

        impl<S> Settings<S> {
            /// The same settings with every string converted by `f`, for
            /// example `Settings::DEFAULT.map(String::from)`.
            pub fn map<T>(self, mut f: impl FnMut(S) -> T) -> Settings<T> {
                Settings {
                    $($member: options!(@map [$($ty)*] self.$member, f),)*
                }
            }

            /// The same settings with every string borrowed.
            pub fn as_ref(&self) -> Settings<&S> {
                Settings {
                    $($member: options!(@ref [$($ty)*] self.$member),)*
                }
            }
        }

        /// An option, to say which one a violation is about.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Field {
            $(
                #[doc = concat!("`", $name, "`: ")]
                $(#[doc = $doc])*
                $variant,
            )*
        }

        impl Field {
            /// Every option: sanic-session's in the order of its
            /// documentation, then sessionkit's own.
            pub const ALL: [Field; <[&str]>::len(&[$($name),*])] = [$(Field::$variant),*];

            /// The option's name as written in `session_config!`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Field::$variant => $name,)*
                }
            }

            /// The name of the [`Settings`] field that holds the option
            /// (`expiry_secs` for `expiry`; the others are the option's name).
            pub const fn member(self) -> &'static str {
                match self {
                    $(Field::$variant => stringify!($member),)*
                }
            }
        }
    };

    // A string is converted, an optional one if it is there, any other
    // value kept.
    (@map [S] $value:expr, $f:ident) => { $f($value) };
    (@map [Option<S>] $value:expr, $f:ident) => { $value.map(&mut $f) };
    (@map [$($other:tt)*] $value:expr, $f:ident) => { $value };

    // A string is borrowed, an optional one if it is there, any other value
    // copied.
    (@ref [S] $value:expr) => { &$value };
    (@ref [Option<S>] $value:expr) => { $value.as_ref() };
    (@ref [$($other:tt)*] $value:expr) => { $value };
}

options! {
    /// The name of the cookie that carries the session id: a non-empty
    /// RFC 6265 token.
    CookieName "cookie_name" => cookie_name: [S] = "session";
    /// The cookie's `Domain` attribute, a host name; without one the browser
    /// sends the cookie back only to the host that set it.
    Domain "domain" => domain: [Option<S>] = None;
    /// How long a session lives, in seconds (`expiry` in `session_config!`):
    /// the store's TTL and the cookie's `Max-Age`, 1 second to 400 days.
    Expiry "expiry" => expiry_secs: [u64] = 30 * 24 * 60 * 60;
    /// Whether the cookie is `HttpOnly`, out of reach of scripts.
    Httponly "httponly" => httponly: [bool] = true;
    /// Whether the cookie is `Secure`, sent over HTTPS only.
    Secure "secure" => secure: [bool] = false;
    /// The cookie's `SameSite` attribute, if any.
    Samesite "samesite" => samesite: [Option<SameSite>] = None;
    /// The start of every store key: the key is the prefix and the id.
    Prefix "prefix" => prefix: [S] = "session:";
    /// Whether the cookie is a browser-session cookie, without `Max-Age` and
    /// `Expires`; the store still expires the session after `expiry`.
    Sessioncookie "sessioncookie" => sessioncookie: [bool] = false;
    /// The session's name in logs and errors.
    SessionName "session_name" => session_name: [S] = "session";
    /// The most a session may live, in seconds, however often it is used
    /// (`max_lifetime` in `session_config!`): counted from its creation,
    /// not reset by a new id; at least `expiry`, at most 400 days. Without
    /// one a session lives as long as it is used within `expiry`.
    MaxLifetime "max_lifetime" => max_lifetime_secs: [Option<u64>] = None;
    /// Whether the store key holds the SHA-256 of the id (64 lowercase hex
    /// characters) instead of the id, so that what can be read from the
    /// store is no cookie; off, as sanic-session looks sessions up by the
    /// raw id.
    HashIds "hash_ids" => hash_ids: [bool] = false;
    /// Whether the cookie is `Partitioned` (CHIPS): the browser keeps it
    /// apart for each top-level site, so it works in a cross-site iframe
    /// where third-party cookies are blocked. Requires `secure`.
    Partitioned "partitioned" => partitioned: [bool] = false;
}

impl<S: Deref> Settings<S> {
    /// The same settings with every string borrowed as what it derefs to:
    /// a `Settings<String>` as the `Settings<&str>` the checks take.
    pub fn as_deref(&self) -> Settings<&S::Target> {
        self.as_ref().map(S::deref)
    }
}

impl Field {
    /// Looks an option up by its name.
    pub fn from_name(name: &str) -> Option<Field> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sanic-session's defaults, written out: a changed default in the list
    /// must be a decision, not an accident.
    #[test]
    fn defaults_are_sanic_sessions() {
        assert_eq!(
            Settings::DEFAULT,
            Settings {
                cookie_name: "session",
                domain: None,
                expiry_secs: 2_592_000,
                httponly: true,
                secure: false,
                samesite: None,
                prefix: "session:",
                sessioncookie: false,
                session_name: "session",
                max_lifetime_secs: None,
                hash_ids: false,
                partitioned: false,
            }
        );
    }

    #[test]
    fn fields_are_listed_once_with_their_names() {
        let names = Field::ALL.map(Field::name);
        assert_eq!(
            names,
            [
                "cookie_name",
                "domain",
                "expiry",
                "httponly",
                "secure",
                "samesite",
                "prefix",
                "sessioncookie",
                "session_name",
                "max_lifetime",
                "hash_ids",
                "partitioned",
            ]
        );
        for field in Field::ALL {
            assert_eq!(Field::from_name(field.name()), Some(field));
        }
        assert_eq!(Field::from_name("expiry_secs"), None);
        let members = Field::ALL.map(Field::member);
        assert_eq!(members[2], "expiry_secs");
        for (name, member) in names.iter().zip(members) {
            assert!(*name == member || member == format!("{name}_secs"));
        }
    }

    #[test]
    fn map_converts_the_strings_and_keeps_the_rest() {
        let settings = Settings {
            cookie_name: "sid",
            domain: Some("example.com"),
            expiry_secs: 60,
            httponly: false,
            secure: true,
            samesite: Some(SameSite::Strict),
            prefix: "p:",
            sessioncookie: true,
            session_name: "s",
            max_lifetime_secs: Some(120),
            hash_ids: true,
            partitioned: true,
        };
        let mut seen = Vec::new();
        let upper = settings.map(|s| {
            seen.push(s);
            s.to_uppercase()
        });
        assert_eq!(seen, ["sid", "example.com", "p:", "s"]);
        assert_eq!(
            upper,
            Settings {
                cookie_name: "SID".to_string(),
                domain: Some("EXAMPLE.COM".to_string()),
                expiry_secs: 60,
                httponly: false,
                secure: true,
                samesite: Some(SameSite::Strict),
                prefix: "P:".to_string(),
                sessioncookie: true,
                session_name: "S".to_string(),
                max_lifetime_secs: Some(120),
                hash_ids: true,
                partitioned: true,
            }
        );
        assert_eq!(
            upper.as_deref().map(str::to_lowercase),
            settings.map(String::from)
        );

        let no_domain = Settings::DEFAULT.map(String::from);
        assert_eq!(no_domain.domain, None);
        assert_eq!(no_domain.as_deref(), Settings::DEFAULT);
    }
}
