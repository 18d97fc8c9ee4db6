use sessionkit::session_config;

session_config! {
    /// Every option, a doc comment and a visibility.
    pub CART {
        cookie_name: "cart",
        domain: "example.com",
        expiry: 7 days,
        httponly: true,
        secure: true,
        samesite: "none",
        prefix: "cart:",
        sessioncookie: false,
        session_name: "cart",
        hash_ids: true,
        partitioned: true,
    }
    /// No options: sanic-session's defaults.
    pub(crate) DEFAULTS {}
    SECONDS { expiry: 604800 }
    HOURS { expiry: 1 hour, samesite: "lax" }
    /// A partitioned `__Host-` cookie, for a cross-site iframe.
    EMBED { cookie_name: "__Host-embed", secure: true, samesite: "none", partitioned: true }
}

fn main() {
    // Inside a function, too.
    session_config! {
        LOCAL { cookie_name: "local" }
    }
    let _ = (CART, DEFAULTS, SECONDS, HOURS, EMBED, LOCAL);
}
