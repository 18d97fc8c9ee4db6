use sessionkit::session_config;

session_config! {
    CART { domain: None }
}

fn main() {}
