use sessionkit::session_config;

session_config! {
    CART { cookie_name: "__Host-cart", secure: true, domain: "example.com" }
}

fn main() {}
