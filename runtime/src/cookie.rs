//! The session cookie: reading the id from `Cookie`, writing `Set-Cookie`.
//!
//! The header is built directly into one buffer (the unit tests check it
//! with the `cookie` crate's parser), and the `Expires` date is formatted at
//! most once a second per thread. Attributes follow sanic-session
//! (`Path=/`, `Max-Age`, `Expires` in UTC, `HttpOnly`, `SameSite=Lax|Strict|None`),
//! plus `Partitioned` when configured, and the delete-cookie carries the same
//! Path/Domain/Secure/SameSite/Partitioned as the set-cookie, so a browser
//! really drops it (a partitioned cookie is only dropped by a partitioned
//! delete-cookie).

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

use crate::request::Expiry;
use crate::{scratch, SessionConfig, SessionId};

/// The session id a request presents for `name`.
///
/// Every `Cookie` header is read, in order, and the **first** cookie named
/// `name` whose value is a well-formed id wins. Cookies of that name with an
/// ill-formed value (empty, quoted, too long, upper-case, non-hex, with
/// spaces) are skipped as if absent, so they never reach the store. Browsers
/// send the cookie with the longest matching path first, so "first" is the
/// most specific one.
pub(crate) fn session_id_from(headers: &HeaderMap, name: &str) -> Option<SessionId> {
    let name = name.as_bytes();
    headers
        .get_all(COOKIE)
        .iter()
        .find_map(|value| id_in(value.as_bytes(), name))
}

/// The id of the first `name=<id>` pair of one `Cookie` value whose id is
/// well formed. The candidates are the places where the name's first byte
/// appears, found with `memchr`, so a long `Cookie` header (a browser
/// sends every cookie of the site) is skimmed rather than split pair by
/// pair; a candidate counts where the whole name follows and a pair
/// starts (at the start of the value or after `;`, blanks allowed).
fn id_in(value: &[u8], name: &[u8]) -> Option<SessionId> {
    let first = *name.first()?;
    memchr::memchr_iter(first, value).find_map(|at| {
        let rest = value[at..].strip_prefix(name)?.strip_prefix(b"=")?;
        let before = value[..at].trim_ascii_end();
        if !(before.is_empty() || before.ends_with(b";")) {
            return None;
        }
        let end = memchr::memchr(b';', rest).unwrap_or(rest.len());
        SessionId::parse_bytes(rest[..end].trim_ascii())
    })
}

/// Appends the attributes every session cookie carries, set or delete.
fn push_common(out: &mut Vec<u8>, config: &SessionConfig) {
    out.extend_from_slice(b"; Path=/");
    if let Some(domain) = config.domain() {
        out.extend_from_slice(b"; Domain=");
        out.extend_from_slice(domain.as_bytes());
    }
}

fn push_flags(out: &mut Vec<u8>, config: &SessionConfig) {
    if config.httponly() {
        out.extend_from_slice(b"; HttpOnly");
    }
    if config.secure() {
        out.extend_from_slice(b"; Secure");
    }
    if let Some(same_site) = config.samesite() {
        out.extend_from_slice(b"; SameSite=");
        out.extend_from_slice(same_site.as_attribute().as_bytes());
    }
    if config.partitioned() {
        out.extend_from_slice(b"; Partitioned");
    }
}

/// The header value `build` writes, built in the thread's scratch buffer:
/// the value itself is the only allocation, at its exact size.
fn header(build: impl FnOnce(&mut Vec<u8>)) -> HeaderValue {
    scratch::with_buffer(|buf| {
        build(buf);
        HeaderValue::from_bytes(buf)
            .expect("cookie names, ids and validated attributes are visible ASCII")
    })
}

/// `Set-Cookie` giving the browser `id`; `Max-Age`/`Expires` (the
/// session's own `expiry` if it has one, else the config's) unless the
/// config's `sessioncookie` asks for a browser-session cookie and the
/// session did not set an expiry of its own.
pub(crate) fn set_cookie(
    config: &SessionConfig,
    id: &SessionId,
    expiry: Option<Expiry>,
) -> HeaderValue {
    header(|out| {
        out.extend_from_slice(config.cookie_name().as_bytes());
        out.push(b'=');
        out.extend_from_slice(id.as_bytes());
        push_common(out, config);
        match expiry {
            Some(expiry) if expiry.own || !config.sessioncookie() => {
                push_max_age_and_expires(out, expiry.secs);
            }
            _ if !config.sessioncookie() => push_max_age_and_expires(out, config.expiry_secs()),
            _ => {}
        }
        push_flags(out, config);
    })
}

/// `Set-Cookie` that makes the browser drop the session cookie.
pub(crate) fn delete_cookie(config: &SessionConfig) -> HeaderValue {
    header(|out| {
        out.extend_from_slice(config.cookie_name().as_bytes());
        out.push(b'=');
        push_common(out, config);
        out.extend_from_slice(b"; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
        push_flags(out, config);
    })
}

thread_local! {
    /// The last `; Max-Age=…; Expires=…` written on this thread:
    /// (second, expiry, text). It changes once a second, so most responses reuse it.
    static EXPIRES: RefCell<(u64, u64, String)> = const { RefCell::new((u64::MAX, 0, String::new())) };
}

/// Appends `; Max-Age=<expiry>; Expires=<now + expiry as an HTTP date, UTC>`.
fn push_max_age_and_expires(out: &mut Vec<u8>, expiry_secs: u64) {
    let second = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let text = |second: u64| {
        let at = UNIX_EPOCH + Duration::from_secs(second + expiry_secs);
        format!(
            "; Max-Age={expiry_secs}; Expires={}",
            httpdate::fmt_http_date(at)
        )
    };
    let cached = EXPIRES.try_with(|cache| {
        let mut cache = cache.try_borrow_mut().ok()?;
        if cache.0 != second || cache.1 != expiry_secs {
            *cache = (second, expiry_secs, text(second));
        }
        out.extend_from_slice(cache.2.as_bytes());
        Some(())
    });
    if cached.ok().flatten().is_none() {
        out.extend_from_slice(text(second).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SameSite;
    use cookie::time::{Duration as CookieDuration, OffsetDateTime};
    use cookie::Cookie;
    use sessionkit_rules::Settings;

    const ID: &str = "9ca69ea696434e99beff2880eb95116a";
    const ID2: &str = "0123456789abcdef0123456789abcdef";

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(COOKIE, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn reads_the_id() {
        let h = headers(&[&format!("a=1; session={ID}; b=2")]);
        assert_eq!(session_id_from(&h, "session").unwrap().as_str(), ID);
        assert_eq!(session_id_from(&h, "other"), None);
        assert_eq!(session_id_from(&headers(&[]), "session"), None);
    }

    #[test]
    fn finds_the_id_among_many_cookies() {
        // What a browser sends to a site with analytics and consent cookies.
        let mut value: String = (0..40).map(|i| format!("_c{i}=v{i}x{i}; ")).collect();
        value.push_str(&format!("xsession={ID2}; a=session={ID2};\tsession={ID};"));
        let h = headers(&[&value]);
        assert_eq!(session_id_from(&h, "session").unwrap().as_str(), ID);
        assert_eq!(session_id_from(&h, "xsession").unwrap().as_str(), ID2);
        assert_eq!(session_id_from(&h, "ession"), None);
        assert_eq!(session_id_from(&headers(&[";;; ;"]), "session"), None);
        let h = headers(&[&format!("session ={ID}; session= {ID2} ")]);
        assert_eq!(session_id_from(&h, "session").unwrap().as_str(), ID2);
    }

    #[test]
    fn first_well_formed_wins() {
        let h = headers(&[&format!("session={ID}; session={ID2}")]);
        assert_eq!(session_id_from(&h, "session").unwrap().as_str(), ID);
        let h = headers(&[&format!("session=bad; session={ID2}")]);
        assert_eq!(session_id_from(&h, "session").unwrap().as_str(), ID2);
        let h = headers(&["session=x", &format!("session={ID2}")]);
        assert_eq!(session_id_from(&h, "session").unwrap().as_str(), ID2);
    }

    #[test]
    fn default_set_cookie_matches_sanic() {
        let id = SessionId::parse(ID).unwrap();
        let v = set_cookie(&SessionConfig::DEFAULT, &id, None);
        let s = v.to_str().unwrap();
        assert!(s.starts_with(&format!("session={ID}")), "{s}");
        for part in ["; HttpOnly", "; Path=/", "; Max-Age=2592000", "; Expires="] {
            assert!(s.contains(part), "{s} lacks {part}");
        }
        assert!(
            !s.contains("Secure")
                && !s.contains("SameSite")
                && !s.contains("Domain")
                && !s.contains("Partitioned")
        );
    }

    #[test]
    fn delete_cookie_keeps_the_attributes() {
        let config = SessionConfig::__checked(Settings {
            cookie_name: "sid",
            domain: Some("example.com"),
            expiry_secs: 60,
            secure: true,
            samesite: Some(SameSite::Strict),
            prefix: "p:",
            session_name: "s",
            ..Settings::DEFAULT
        });
        let s = delete_cookie(&config);
        let s = s.to_str().unwrap();
        for part in [
            "sid=;",
            "; Path=/",
            "; Domain=example.com",
            "; Secure",
            "; SameSite=Strict",
            "; Max-Age=0",
            "; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        ] {
            assert!(s.contains(part), "{s} lacks {part}");
        }
    }

    fn full_config(sessioncookie: bool) -> SessionConfig {
        SessionConfig::__checked(Settings {
            cookie_name: "sid",
            domain: Some("example.com"),
            expiry_secs: 3600,
            httponly: true,
            secure: true,
            samesite: Some(SameSite::Lax),
            prefix: "p:",
            sessioncookie,
            max_lifetime_secs: None,
            session_name: "s",
            // Hashing is the store key's business: the cookie carries the id.
            hash_ids: true,
            partitioned: false,
        })
    }

    /// A `__Host-` cookie partitioned for cross-site embedding.
    fn partitioned_config() -> SessionConfig {
        SessionConfig::__checked(Settings {
            cookie_name: "__Host-sid",
            secure: true,
            samesite: Some(SameSite::None),
            partitioned: true,
            ..Settings::DEFAULT
        })
    }

    /// What we write parses, with the `cookie` crate, to what the config says.
    #[test]
    fn set_cookie_parses_to_the_configured_attributes() {
        let id = SessionId::parse(ID).unwrap();
        let header = set_cookie(&full_config(false), &id, None);
        let parsed = Cookie::parse(header.to_str().unwrap()).unwrap();
        assert_eq!((parsed.name(), parsed.value()), ("sid", ID));
        assert_eq!(parsed.path(), Some("/"));
        assert_eq!(parsed.domain(), Some("example.com"));
        assert_eq!(parsed.max_age(), Some(CookieDuration::seconds(3600)));
        let expires = parsed.expires_datetime().unwrap();
        let want = OffsetDateTime::now_utc() + CookieDuration::seconds(3600);
        assert!(
            (expires - want).abs() < CookieDuration::seconds(3),
            "{expires} vs {want}"
        );
        assert_eq!(parsed.http_only(), Some(true));
        assert_eq!(parsed.secure(), Some(true));
        assert_eq!(parsed.same_site(), Some(cookie::SameSite::Lax));

        assert_eq!(parsed.partitioned(), None);

        let header = set_cookie(&full_config(true), &id, None);
        let parsed = Cookie::parse(header.to_str().unwrap()).unwrap();
        assert_eq!((parsed.max_age(), parsed.expires()), (None, None));
    }

    /// A session's own expiry gives `Max-Age`, even to a browser-session
    /// cookie; a lifetime's cap gives it only where the config has one.
    #[test]
    fn a_session_expiry_sets_the_max_age() {
        let id = SessionId::parse(ID).unwrap();
        let max_age = |sessioncookie, secs, own| {
            let expiry = Some(Expiry { secs, own });
            let header = set_cookie(&full_config(sessioncookie), &id, expiry);
            Cookie::parse(header.to_str().unwrap().to_owned())
                .unwrap()
                .max_age()
                .map(|age| age.whole_seconds())
        };
        assert_eq!(max_age(false, 60, true), Some(60));
        assert_eq!(max_age(true, 60, true), Some(60));
        assert_eq!(max_age(false, 60, false), Some(60));
        assert_eq!(max_age(true, 60, false), None);
    }

    #[test]
    fn partitioned_set_cookie_parses_as_partitioned() {
        let id = SessionId::parse(ID).unwrap();
        let header = set_cookie(&partitioned_config(), &id, None);
        let parsed = Cookie::parse(header.to_str().unwrap()).unwrap();
        assert_eq!((parsed.name(), parsed.value()), ("__Host-sid", ID));
        assert_eq!(parsed.partitioned(), Some(true));
        assert_eq!(parsed.secure(), Some(true));
        assert_eq!(parsed.same_site(), Some(cookie::SameSite::None));
        assert_eq!((parsed.path(), parsed.domain()), (Some("/"), None));
        assert_eq!(parsed.max_age(), Some(CookieDuration::seconds(2_592_000)));
    }

    /// A browser drops a partitioned cookie only for a delete-cookie that
    /// is partitioned too.
    #[test]
    fn partitioned_delete_cookie_parses_as_partitioned_and_expired() {
        let header = delete_cookie(&partitioned_config());
        let parsed = Cookie::parse(header.to_str().unwrap()).unwrap();
        assert_eq!((parsed.name(), parsed.value()), ("__Host-sid", ""));
        assert_eq!(parsed.max_age(), Some(CookieDuration::ZERO));
        assert_eq!(parsed.partitioned(), Some(true));
        assert_eq!(parsed.secure(), Some(true));
        assert_eq!(parsed.same_site(), Some(cookie::SameSite::None));
        assert_eq!(parsed.path(), Some("/"));
    }

    #[test]
    fn delete_cookie_parses_as_expired() {
        let header = delete_cookie(&full_config(false));
        let parsed = Cookie::parse(header.to_str().unwrap()).unwrap();
        assert_eq!((parsed.name(), parsed.value()), ("sid", ""));
        assert_eq!(parsed.max_age(), Some(CookieDuration::ZERO));
        assert_eq!(parsed.expires_datetime(), Some(OffsetDateTime::UNIX_EPOCH));
        assert_eq!(parsed.domain(), Some("example.com"));
        assert_eq!(parsed.secure(), Some(true));
        assert_eq!(parsed.same_site(), Some(cookie::SameSite::Lax));
        assert_eq!(parsed.partitioned(), None);
    }

    /// The cached attributes follow the clock and the expiry.
    #[test]
    fn expires_cache_is_keyed_by_second_and_expiry() {
        let mut a = Vec::new();
        push_max_age_and_expires(&mut a, 60);
        let mut b = Vec::new();
        push_max_age_and_expires(&mut b, 120);
        let (a, b) = (String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
        assert!(a.starts_with("; Max-Age=60; Expires="), "{a}");
        let date = b.strip_prefix("; Max-Age=120; Expires=").unwrap();
        let parsed = httpdate::parse_http_date(date).unwrap();
        let want = SystemTime::now() + Duration::from_secs(120);
        let off = want.duration_since(parsed).unwrap_or_else(|e| e.duration());
        assert!(off < Duration::from_secs(3), "{b}");
    }
}
