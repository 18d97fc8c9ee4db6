use sessionkit::session_config;

session_config! {
    CART { expiry: 7days }
}

fn main() {}
