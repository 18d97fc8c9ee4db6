use sessionkit::session_config;

session_config! {
    CART { expiry: 1 day, max_lifetime: 1 hour }
}

fn main() {}
