use sessionkit::session_config;

session_config! {
    CART { prefix: "cart\u{7}:" }
}

fn main() {}
