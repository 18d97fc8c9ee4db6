use sessionkit::session_config;

session_config! {
    pub CART { samesite: "sideways" }
}

// The broken config still exists (with default values), so its uses add no
// "cannot find value" errors.
fn cookie_name() -> &'static str {
    CART.cookie_name()
}

fn main() {
    let _ = cookie_name();
}
