use sessionkit::session_config;

session_config! {
    CART { expiry: 0 }
}

fn main() {}
