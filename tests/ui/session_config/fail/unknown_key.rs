use sessionkit::session_config;

session_config! {
    CART { cookiename: "cart" }
}

fn main() {}
