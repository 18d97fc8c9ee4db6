use sessionkit::session_config;

session_config! {
    CART { max_lifetime: 1 day }
}

fn main() {}
