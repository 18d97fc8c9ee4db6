//! `session_config!` tested by using the constants it generates.

use std::time::Duration;

use sessionkit::{session_config, SameSite, SessionConfig};

const DAY: u64 = 24 * 60 * 60;

session_config! {
    /// Every option written.
    pub EVERYTHING {
        cookie_name: "cart",
        domain: "example.com",
        expiry: 604800,
        httponly: false,
        secure: true,
        samesite: "none",
        prefix: "cart:",
        sessioncookie: true,
        session_name: "cart_session",
        hash_ids: true,
        partitioned: true,
        max_lifetime: 14 days,
    }
}

session_config! {
    NOTHING {}
}

#[test]
fn every_option_lands_in_the_const() {
    let c = EVERYTHING;
    assert_eq!(c.cookie_name(), "cart");
    assert_eq!(c.domain(), Some("example.com"));
    assert_eq!(c.expiry_secs(), 604_800);
    assert!(!c.httponly());
    assert!(c.secure());
    assert_eq!(c.samesite(), Some(SameSite::None));
    assert_eq!(c.prefix(), "cart:");
    assert!(c.sessioncookie());
    assert_eq!(c.session_name(), "cart_session");
    assert!(c.hash_ids());
    assert!(c.partitioned());
    assert_eq!(c.max_lifetime(), Some(Duration::from_secs(1_209_600)));
    c.validate().unwrap();
}

#[test]
fn omitted_options_take_sanic_session_defaults() {
    let c = NOTHING;
    assert_eq!(c.cookie_name(), "session");
    assert_eq!(c.domain(), None);
    assert_eq!(c.expiry_secs(), 2_592_000);
    assert!(c.httponly());
    assert!(!c.secure());
    assert_eq!(c.samesite(), None);
    assert_eq!(c.prefix(), "session:");
    assert!(!c.sessioncookie());
    assert_eq!(c.session_name(), "session");
    assert!(!c.hash_ids());
    assert!(!c.partitioned());
    assert_eq!(c.max_lifetime(), None);
    let d = SessionConfig::DEFAULT;
    assert_eq!(
        (
            c.cookie_name(),
            c.expiry_secs(),
            c.prefix(),
            c.session_name()
        ),
        (
            d.cookie_name(),
            d.expiry_secs(),
            d.prefix(),
            d.session_name()
        )
    );
}

#[test]
fn samesite_values() {
    session_config! {
        LAX { samesite: "lax" }
        STRICT { samesite: "strict", }
        NONE { samesite: "none", secure: true }
    }
    assert_eq!(LAX.samesite(), Some(SameSite::Lax));
    assert_eq!(STRICT.samesite(), Some(SameSite::Strict));
    assert_eq!(NONE.samesite(), Some(SameSite::None));
}

#[test]
fn expiry_units() {
    session_config! {
        SECONDS { expiry: 90 seconds }
        ONE_SECOND { expiry: 1 second }
        MINUTES { expiry: 30 minutes }
        ONE_MINUTE { expiry: 1 minute }
        HOURS { expiry: 12 hours }
        ONE_HOUR { expiry: 1 hour }
        DAYS { expiry: 7 days }
        ONE_DAY { expiry: 1 day }
        WEEKS { expiry: 2 weeks }
        ONE_WEEK { expiry: 1 week }
        MOST { expiry: 400 days }
    }
    assert_eq!(SECONDS.expiry_secs(), 90);
    assert_eq!(ONE_SECOND.expiry_secs(), 1);
    assert_eq!(MINUTES.expiry_secs(), 30 * 60);
    assert_eq!(ONE_MINUTE.expiry_secs(), 60);
    assert_eq!(HOURS.expiry_secs(), 12 * 60 * 60);
    assert_eq!(ONE_HOUR.expiry_secs(), 60 * 60);
    assert_eq!(DAYS.expiry_secs(), 7 * DAY);
    assert_eq!(ONE_DAY.expiry_secs(), DAY);
    assert_eq!(WEEKS.expiry_secs(), 14 * DAY);
    assert_eq!(ONE_WEEK.expiry_secs(), 7 * DAY);
    assert_eq!(MOST.expiry_secs(), 400 * DAY);
    assert_eq!(MOST.expiry(), std::time::Duration::from_secs(400 * DAY));
}

#[test]
fn several_configs_in_one_call_with_attributes_and_visibility() {
    mod configs {
        sessionkit::session_config! {
            /// The cart.
            #[allow(dead_code)]
            pub CART { cookie_name: "cart", prefix: "cart:" }
            pub(crate) ADMIN { cookie_name: "__Host-admin", secure: true, samesite: "strict" }
            PRIVATE { cookie_name: "private" }
        }
        pub fn private() -> String {
            PRIVATE.cookie_name().to_owned()
        }
    }
    assert_eq!(configs::CART.cookie_name(), "cart");
    assert_eq!(configs::CART.prefix(), "cart:");
    assert_eq!(configs::ADMIN.cookie_name(), "__Host-admin");
    assert_eq!(configs::ADMIN.samesite(), Some(SameSite::Strict));
    assert_eq!(configs::private(), "private");
}

#[test]
fn consts_are_usable_in_const_context() {
    const COPY: SessionConfig = EVERYTHING;
    static IN_STATIC: SessionConfig = NOTHING;
    assert_eq!(COPY.cookie_name(), "cart");
    assert_eq!(IN_STATIC.cookie_name(), "session");
}

#[test]
fn edge_values_allowed_by_the_rules() {
    session_config! {
        SECURE_PREFIXED { cookie_name: "__Secure-id", secure: true }
        DOT_DOMAIN { domain: ".example.com" }
        EMPTY_PREFIX { prefix: "" }
        LONGEST_PREFIX { prefix: "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp" }
        LONGEST_HASHED_PREFIX { prefix: "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp", hash_ids: true }
        TOKEN_CHARS { cookie_name: "a!#$%&'*+-.^_`|~9" }
        RAW_STRING { cookie_name: r"raw" }
        HOST_PARTITIONED { cookie_name: "__Host-embed", secure: true, partitioned: true }
        NOT_PARTITIONED { partitioned: false }
    }
    assert_eq!(SECURE_PREFIXED.cookie_name(), "__Secure-id");
    assert_eq!(DOT_DOMAIN.domain(), Some(".example.com"));
    assert_eq!(EMPTY_PREFIX.prefix(), "");
    assert_eq!(LONGEST_PREFIX.prefix().len(), 250 - 32);
    assert_eq!(LONGEST_HASHED_PREFIX.prefix().len(), 250 - 64);
    assert!(LONGEST_HASHED_PREFIX.hash_ids());
    assert_eq!(TOKEN_CHARS.cookie_name(), "a!#$%&'*+-.^_`|~9");
    assert_eq!(RAW_STRING.cookie_name(), "raw");
    assert_eq!(HOST_PARTITIONED.cookie_name(), "__Host-embed");
    assert!(HOST_PARTITIONED.partitioned() && HOST_PARTITIONED.secure());
    HOST_PARTITIONED.validate().unwrap();
    assert!(!NOT_PARTITIONED.partitioned() && !NOT_PARTITIONED.secure());
}
