//! What a response gets from the layer: the error policy's response for a
//! session error, and the headers that keep caches from mixing up
//! visitors.

use axum::response::{IntoResponse, Response};
use http::header::{Entry, CACHE_CONTROL, RETRY_AFTER, VARY};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::request::LayerState;
use crate::{Error, ErrorClass};

/// How long the default error response asks a client to wait before it
/// retries after a transient store error, in seconds.
pub const RETRY_AFTER_SECS: u32 = 2;

/// The default error policy, by the error's [`class`](Error::class):
///
/// * [transient](crate::ErrorClass::Transient) (the store could not be
///   reached, timed out, or is busy): `503 Service Unavailable` with
///   `Retry-After: 2` ([`RETRY_AFTER_SECS`]);
/// * [permanent](crate::ErrorClass::Permanent) (a session too large, data
///   that cannot be encoded, a refused command, a session extracted twice):
///   `500 Internal Server Error`.
///
/// The body is a short line of plain text that names neither the session
/// nor the cause; both are in the log line the layer writes.
pub fn default_error_response(error: &Error) -> Response {
    match error.class() {
        ErrorClass::Transient => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS))],
            "session store unavailable, please retry\n",
        )
            .into_response(),
        ErrorClass::Permanent => {
            (StatusCode::INTERNAL_SERVER_ERROR, "session error\n").into_response()
        }
    }
}

/// Logs a session error with its session name and class, and builds the
/// response.
pub(crate) fn error_response(layer: &LayerState, error: &Error) -> Response {
    let class = match error.class() {
        ErrorClass::Transient => "transient",
        ErrorClass::Permanent => "permanent",
    };
    tracing::error!(session = error.session_name(), class, error = %crate::error::Report(error), "session error");
    (layer.on_error)(error)
}

/// Adds `Cookie` to `Vary`, unless it is there already (or `*`): the
/// response of a request that used its session depends on its cookie, so a
/// cache must not answer another visitor with it.
pub(crate) fn vary_cookie(headers: &mut HeaderMap) {
    match headers.entry(VARY) {
        Entry::Vacant(vacant) => {
            vacant.insert(HeaderValue::from_static("Cookie"));
        }
        Entry::Occupied(mut occupied) => {
            let listed = occupied.iter().any(|value| {
                directives(value).any(|name| name == "*" || name.eq_ignore_ascii_case("cookie"))
            });
            if !listed {
                occupied.append(HeaderValue::from_static("Cookie"));
            }
        }
    }
}

/// Makes sure no shared cache stores a response that sets or expires a
/// session cookie: a cached `Set-Cookie` would hand one visitor's session to
/// the next. `Cache-Control: private` is added when the response says
/// neither `private` nor `no-store`, and replaces a `public` it says.
pub(crate) fn mark_private(headers: &mut HeaderMap) {
    match headers.entry(CACHE_CONTROL) {
        Entry::Vacant(vacant) => {
            vacant.insert(HeaderValue::from_static("private"));
        }
        Entry::Occupied(mut occupied) => {
            let mut kept = String::from("private");
            for value in occupied.iter() {
                for directive in value.to_str().unwrap_or("").split(',') {
                    let directive = directive.trim();
                    let name = directive.split('=').next().unwrap_or("").trim();
                    if name.eq_ignore_ascii_case("private") || name.eq_ignore_ascii_case("no-store")
                    {
                        return;
                    }
                    if !directive.is_empty() && !name.eq_ignore_ascii_case("public") {
                        kept.push_str(", ");
                        kept.push_str(directive);
                    }
                }
            }
            // Built from the old value's visible ASCII: always valid.
            if let Ok(value) = HeaderValue::from_str(&kept) {
                occupied.insert(value);
            }
        }
    }
}

/// The names of the comma-separated items of a header value.
fn directives(value: &HeaderValue) -> impl Iterator<Item = &str> {
    value
        .to_str()
        .unwrap_or("")
        .split(',')
        .map(|item| item.split('=').next().unwrap_or("").trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: http::HeaderName, values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(name.clone(), HeaderValue::from_static(v));
        }
        map
    }

    fn values(map: &HeaderMap, name: http::HeaderName) -> Vec<&str> {
        map.get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn vary_gets_cookie_once() {
        let cases: [(&[&'static str], &[&str]); 5] = [
            (&[], &["Cookie"]),
            (&["Accept-Encoding"], &["Accept-Encoding", "Cookie"]),
            (&["accept, cookie"], &["accept, cookie"]),
            (&["*"], &["*"]),
            (&["Origin", "COOKIE"], &["Origin", "COOKIE"]),
        ];
        for (before, after) in cases {
            let mut map = headers(VARY, before);
            vary_cookie(&mut map);
            assert_eq!(values(&map, VARY), after, "{before:?}");
        }
    }

    #[test]
    fn a_response_with_a_session_cookie_is_private() {
        let cases: [(&[&'static str], &[&str]); 6] = [
            (&[], &["private"]),
            (&["no-store"], &["no-store"]),
            (&["private, max-age=60"], &["private, max-age=60"]),
            (&["public, max-age=60"], &["private, max-age=60"]),
            (
                &["max-age=60", "must-revalidate"],
                &["private, max-age=60, must-revalidate"],
            ),
            (&["Public"], &["private"]),
        ];
        for (before, after) in cases {
            let mut map = headers(CACHE_CONTROL, before);
            mark_private(&mut map);
            assert_eq!(values(&map, CACHE_CONTROL), after, "{before:?}");
        }
    }

    #[test]
    fn the_default_policy_by_class() {
        let transient = Error::Store {
            session_name: "s".into(),
            source: crate::StoreError::new("down"),
        };
        let response = default_error_response(&transient);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "2");
        let permanent = Error::TooLarge {
            session_name: "s".into(),
            size: 2,
            limit: 1,
        };
        let response = default_error_response(&permanent);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get(RETRY_AFTER).is_none());
    }
}
