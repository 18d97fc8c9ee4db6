use sessionkit::session_config;

session_config! {
    CART { samesite: lax }
}

fn main() {}
