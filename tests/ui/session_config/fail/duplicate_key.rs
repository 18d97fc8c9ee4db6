use sessionkit::session_config;

session_config! {
    CART { secure: true, samesite: "lax", secure: false }
}

fn main() {}
