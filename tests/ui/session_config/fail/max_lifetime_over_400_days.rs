use sessionkit::session_config;

session_config! {
    CART { max_lifetime: 401 days }
}

fn main() {}
