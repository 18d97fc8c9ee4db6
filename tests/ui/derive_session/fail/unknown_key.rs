use serde::{Deserialize, Serialize};
use sessionkit::Session;

#[derive(Session, Serialize, Deserialize, Default)]
#[session(cnofig = sessionkit::SessionConfig::DEFAULT)]
struct Cart {
    items: Vec<u64>,
}

fn main() {}
