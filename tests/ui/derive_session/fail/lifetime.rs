use serde::{Deserialize, Serialize};
use sessionkit::Session;

#[derive(Session, Serialize, Deserialize, Default)]
struct Cart<'a> {
    user: &'a str,
}

fn main() {}
