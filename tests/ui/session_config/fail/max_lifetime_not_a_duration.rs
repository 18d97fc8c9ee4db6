use sessionkit::session_config;

session_config! {
    CART { max_lifetime: "12 hours" }
}

fn main() {}
