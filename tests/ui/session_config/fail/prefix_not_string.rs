use sessionkit::session_config;

session_config! {
    CART { prefix: 'c' }
}

fn main() {}
