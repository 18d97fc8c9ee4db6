use serde::Deserialize;
use sessionkit::Session;

#[derive(Session, Deserialize, Default)]
struct Cart {
    items: Vec<u64>,
}

fn main() {}
