use serde::{Deserialize, Serialize};
use sessionkit::Session;

#[derive(Session, Serialize, Deserialize, Default)]
struct Cart {
    #[session(config = CART)]
    items: Vec<u64>,
}

fn main() {}
