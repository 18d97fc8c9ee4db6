use serde::{Deserialize, Serialize};
use sessionkit::Session;

const CART: &str = "cart";

#[derive(Session, Serialize, Deserialize, Default)]
#[session(config = CART)]
struct Cart {
    items: Vec<u64>,
}

fn main() {}
