use serde::{Deserialize, Serialize};
use sessionkit::Session;

#[derive(Session, Serialize, Deserialize, Default)]
#[session(strict)]
#[session(strict)]
struct Cart {
    items: Vec<u64>,
}

fn main() {}
