use sessionkit::session_config;

session_config! {
    CART { expiry: 18446744073709551616 }
}

fn main() {}
