use sessionkit::session_config;

session_config! {
    CART cookie_name: "cart"
}

fn main() {}
