use sessionkit::session_config;

session_config! {
    CART { expiry: 40000000000000 weeks }
}

fn main() {}
