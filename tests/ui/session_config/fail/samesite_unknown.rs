use sessionkit::session_config;

session_config! {
    CART { samesite: "Lax" }
}

fn main() {}
