//! The session cookie: reading the id from `Cookie`, writing `Set-Cookie`.
//!
//! Formatting is the `cookie` crate's. Attributes follow sanic-session
//! (`Path=/`, `Max-Age`, `Expires` in UTC, `HttpOnly`, `SameSite=Lax|Strict|None`),
//! and the delete-cookie carries the same Path/Domain/Secure/SameSite as the
//! set-cookie, so a browser really drops it.

use cookie::time::{Duration as CookieDuration, OffsetDateTime};
use cookie::{Cookie, Expiration};
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

use crate::{SameSite, SessionConfig, SessionId};

/// The session id a request presents for `name`.
///
/// Every `Cookie` header is read, in order, and the **first** cookie named
/// `name` whose value is a well-formed id wins. Cookies of that name with an
/// ill-formed value (empty, quoted, too long, upper-case, non-hex, with
/// spaces) are skipped as if absent, so they never reach the store. Browsers
/// send the cookie with the longest matching path first, so "first" is the
/// most specific one.
pub(crate) fn session_id_from(headers: &HeaderMap, name: &str) -> Option<SessionId> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| {
            let (n, v) = pair.split_once('=')?;
            (n.trim() == name).then(|| SessionId::parse(v.trim()))?
        })
        .next()
}

fn base(config: &SessionConfig, value: String) -> Cookie<'static> {
    let mut cookie = Cookie::new(config.cookie_name().to_owned(), value);
    cookie.set_path("/");
    if let Some(domain) = config.domain() {
        cookie.set_domain(domain.to_owned());
    }
    cookie.set_http_only(config.httponly());
    cookie.set_secure(config.secure());
    if let Some(same_site) = config.samesite() {
        cookie.set_same_site(match same_site {
            SameSite::Lax => cookie::SameSite::Lax,
            SameSite::Strict => cookie::SameSite::Strict,
            SameSite::None => cookie::SameSite::None,
        });
    }
    cookie
}

fn header(cookie: &Cookie<'_>) -> HeaderValue {
    HeaderValue::try_from(cookie.to_string())
        .expect("cookie names, ids and validated attributes are visible ASCII")
}

/// `Set-Cookie` giving the browser `id`; `Max-Age`/`Expires` unless `sessioncookie`.
pub(crate) fn set_cookie(config: &SessionConfig, id: &SessionId) -> HeaderValue {
    let mut cookie = base(config, id.as_str().to_owned());
    if !config.sessioncookie() {
        let max_age = CookieDuration::seconds(config.expiry_secs() as i64);
        cookie.set_max_age(max_age);
        cookie.set_expires(Expiration::DateTime(OffsetDateTime::now_utc() + max_age));
    }
    header(&cookie)
}

/// `Set-Cookie` that makes the browser drop the session cookie.
pub(crate) fn delete_cookie(config: &SessionConfig) -> HeaderValue {
    let mut cookie = base(config, String::new());
    cookie.set_max_age(CookieDuration::ZERO);
    cookie.set_expires(Expiration::DateTime(OffsetDateTime::UNIX_EPOCH));
    header(&cookie)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let v = set_cookie(&SessionConfig::DEFAULT, &id);
        let s = v.to_str().unwrap();
        assert!(s.starts_with(&format!("session={ID}")), "{s}");
        for part in ["; HttpOnly", "; Path=/", "; Max-Age=2592000", "; Expires="] {
            assert!(s.contains(part), "{s} lacks {part}");
        }
        assert!(!s.contains("Secure") && !s.contains("SameSite") && !s.contains("Domain"));
    }

    #[test]
    fn delete_cookie_keeps_the_attributes() {
        let config = SessionConfig::__from_macro(
            "sid",
            Some("example.com"),
            60,
            true,
            true,
            Some(SameSite::Strict),
            "p:",
            false,
            "s",
        );
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
}
