use sessionkit::session_config;

session_config! {
    CART { httponly: "yes" }
}

fn main() {}
