use sessionkit::session_config;

session_config! {
    CART { prefix: "my cart:" }
}

fn main() {}
