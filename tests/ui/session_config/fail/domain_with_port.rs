use sessionkit::session_config;

session_config! {
    CART { domain: "example.com:8080" }
}

fn main() {}
