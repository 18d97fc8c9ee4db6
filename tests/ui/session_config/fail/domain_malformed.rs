use sessionkit::session_config;

session_config! {
    CART { domain: "example..com" }
}

fn main() {}
