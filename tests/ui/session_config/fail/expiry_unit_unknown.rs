use sessionkit::session_config;

session_config! {
    CART { expiry: 2 fortnights }
}

fn main() {}
