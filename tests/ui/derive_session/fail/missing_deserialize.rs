use serde::Serialize;
use sessionkit::Session;

#[derive(Session, Serialize, Default)]
struct Cart {
    items: Vec<u64>,
}

fn main() {}
