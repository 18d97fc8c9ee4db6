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
    }
    /// No options: sanic-session's defaults.
    pub(crate) DEFAULTS {}
    SECONDS { expiry: 604800 }
    HOURS { expiry: 1 hour, samesite: "lax" }
}

fn main() {
    // Inside a function, too.
    session_config! {
        LOCAL { cookie_name: "local" }
    }
    let _ = (CART, DEFAULTS, SECONDS, HOURS, LOCAL);
}
