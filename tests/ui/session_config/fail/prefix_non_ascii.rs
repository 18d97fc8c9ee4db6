use sessionkit::session_config;

session_config! {
    CART { prefix: "panier-é:" }
}

fn main() {}
