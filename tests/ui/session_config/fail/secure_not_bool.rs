use sessionkit::session_config;

session_config! {
    CART { secure: 1 }
}

fn main() {}
