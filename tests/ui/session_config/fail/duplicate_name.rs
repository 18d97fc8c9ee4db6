use sessionkit::session_config;

session_config! {
    CART { cookie_name: "cart" }
    CART { cookie_name: "basket" }
}

fn main() {}
