use sessionkit::session_config;

session_config! {
    CART { session_name: "" }
}

fn main() {}
