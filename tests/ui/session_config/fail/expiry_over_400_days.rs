use sessionkit::session_config;

session_config! {
    CART { expiry: 401 days }
}

fn main() {}
