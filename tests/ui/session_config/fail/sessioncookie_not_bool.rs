use sessionkit::session_config;

session_config! {
    CART { sessioncookie: "true" }
}

fn main() {}
