use sessionkit::session_config;

session_config! {
    CART { expiry: 60 * 60 }
}

fn main() {}
