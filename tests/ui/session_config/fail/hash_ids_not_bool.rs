use sessionkit::session_config;

session_config! {
    CART { hash_ids: "yes" }
}

fn main() {}
