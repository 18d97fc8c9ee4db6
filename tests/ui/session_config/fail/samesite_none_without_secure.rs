use sessionkit::session_config;

session_config! {
    CART { samesite: "none" }
}

fn main() {}
