use sessionkit::session_config;

session_config! {
    CART { samesite: "none", secure: false }
}

fn main() {}
