use serde::{Deserialize, Serialize};
use sessionkit::Session;

#[derive(Session, Serialize, Deserialize, Default)]
enum Cart {
    #[default]
    Empty,
    Items(Vec<u64>),
}

fn main() {}
