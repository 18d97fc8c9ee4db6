use serde::{Deserialize, Serialize};
use sessionkit::Session;

// By value: `migrate` takes the object by `&mut`.
fn upgrade(object: serde_json::Map<String, serde_json::Value>) -> serde_json::Map<String, serde_json::Value> {
    object
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(migrate = upgrade)]
struct Cart {
    items: Vec<u64>,
}

fn main() {}
