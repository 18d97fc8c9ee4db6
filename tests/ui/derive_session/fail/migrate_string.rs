use serde::{Deserialize, Serialize};
use sessionkit::Session;

fn upgrade(_: &mut serde_json::Map<String, serde_json::Value>) {}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(migrate = "upgrade")]
struct Cart {
    items: Vec<u64>,
}

fn main() {}
