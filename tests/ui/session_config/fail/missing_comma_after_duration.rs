use sessionkit::session_config;

session_config! {
    CART { expiry: 7 days secure: true }
}

fn main() {}
