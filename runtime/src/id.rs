//! Session ids: 32 lowercase hex characters, as sanic-session's `uuid4().hex`.

use std::fmt;

/// Length of a session id in characters.
pub const ID_LEN: usize = sessionkit_rules::ID_LEN;

/// A well-formed session id: exactly 32 lowercase hex characters.
///
/// New ids come from [`SessionId::generate`] (a random UUID v4, 122 random
/// bits). Ids from a cookie go through [`SessionId::parse`], which accepts
/// nothing else, so an id that reaches a store key is always safe there.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId([u8; ID_LEN]);

impl SessionId {
    /// A new random id.
    pub fn generate() -> SessionId {
        let mut buf = [0u8; ID_LEN];
        uuid::Uuid::new_v4().simple().encode_lower(&mut buf);
        SessionId(buf)
    }

    /// Accepts exactly 32 lowercase hex characters; anything else is `None`.
    ///
    /// ```
    /// use sessionkit::SessionId;
    /// assert!(SessionId::parse("9ca69ea696434e99beff2880eb95116a").is_some());
    /// assert!(SessionId::parse("9CA69EA696434E99BEFF2880EB95116A").is_none());
    /// assert!(SessionId::parse("../../x").is_none());
    /// ```
    pub fn parse(value: &str) -> Option<SessionId> {
        Self::parse_bytes(value.as_bytes())
    }

    /// [`parse`](Self::parse) on raw bytes, as they come in a header.
    pub(crate) fn parse_bytes(value: &[u8]) -> Option<SessionId> {
        let bytes: [u8; ID_LEN] = value.try_into().ok()?;
        // No early exit, so the compiler checks all 32 bytes at once (SIMD).
        let bad = bytes.iter().fold(false, |bad, &b| {
            bad | !((b.wrapping_sub(b'0') < 10) | (b.wrapping_sub(b'a') < 6))
        });
        (!bad).then_some(SessionId(bytes))
    }

    /// The id's 32 ASCII bytes.
    #[cfg(feature = "axum")]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(&self.0).expect("session ids are ASCII")
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_differ() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_ne!(a, b);
        assert_eq!(SessionId::parse(a.as_str()), Some(a));
    }

    #[test]
    fn rejects_everything_else() {
        let long = "a".repeat(4096);
        for bad in [
            "",
            "abc",
            long.as_str(),
            "9ca69ea696434e99beff2880eb95116g",
            "9CA69EA696434E99BEFF2880EB95116A",
            "\"9ca69ea696434e99beff2880eb9511\"",
            "../../x",
            "9ca69ea696434e99 eff2880eb95116a",
            "9ca69ea696434e99beff2880eb95116a0",
            "é9ca69ea696434e99beff2880eb9511",
        ] {
            assert_eq!(SessionId::parse(bad), None, "{bad:?}");
        }
    }
}
