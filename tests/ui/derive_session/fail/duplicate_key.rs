use serde::{Deserialize, Serialize};
use sessionkit::Session;
use sessionkit::session_config;

session_config! {
    CART { cookie_name: "cart" }
    BASKET { cookie_name: "basket" }
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(config = CART, config = BASKET)]
struct Cart {
    items: Vec<u64>,
}

fn main() {}
