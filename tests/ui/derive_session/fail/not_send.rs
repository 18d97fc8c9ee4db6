use std::marker::PhantomData;

use serde::{Deserialize, Serialize};
use sessionkit::Session;

#[derive(Session, Serialize, Deserialize, Default)]
struct Cart {
    items: Vec<u64>,
    not_send: PhantomData<*const ()>,
}

fn main() {}
